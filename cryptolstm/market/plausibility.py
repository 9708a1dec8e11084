"""Plausibility of daily closes: a close-to-close move beyond `MarketConfig.max_close_jump` is quarantined;
quarantined closes that hold one new level for `MarketConfig.level_shift_days` are a level shift, and a
break an operator accepted (`candle_level_shifts`) starts a level checked against itself.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class LevelShift:
    """Quarantined closes that have held a new level for `days` consecutive days since `day`."""

    day: date  # the first day on the new level (the break)
    ratio: float  # its close / the last trusted close before it
    days: int  # consecutive days on the new level so far

    def advice(self, coin: str) -> str:
        """What the quarantine says about it, with the command that accepts it for `coin`."""
        return (f"the close has held a new level (x{self.ratio:.4g}) for {self.days} consecutive days since "
                f"{self.day}: a level shift (a redenomination, a relisting)? If it is real, accept it for {coin}: "
                f"cryptolstm accept-level-shift {coin} {self.day} --reason '...'")


def implausible(closes: list[tuple[date, float]], reference: dict[date, float], max_jump: float,
                shift_days: int | None = None, breaks: tuple[date, ...] = (),
                coin: str = "COIN") -> tuple[list[str | None], LevelShift | None]:
    """For each (day, close) of a batch (sorted by day), why its close-to-close move is implausible, or None;
    and the level shift the quarantined closes show, if any.

    The previous close is the latest earlier day's among the accepted candles of the batch and the
    stored `reference` closes (the batch's value wins for a day in both, unless it was rejected), but never
    one before an accepted break (`breaks`, days an operator accepted a level shift on) at or before the
    candle: the first candle of a new level is compared with nothing. A level shift: `shift_days` or more
    consecutive implausible closes, each plausible against the one before (a x1000 spike of one day is not);
    the reasons of its days from the `shift_days`-th on say so, and how to accept it for `coin`.
    """
    if not max_jump >= 1:  # (1 quarantines every change of close; config accepts >= 1)
        raise ValueError(f"max_jump must be >= 1, got {max_jump}")
    known = dict(reference)  # day -> trusted close
    days = sorted(known)
    out: list[str | None] = []
    run: list[tuple[date, float]] = []  # the latest consecutive implausible closes, each plausible against the last
    run_ratio = 1.0  # the first of them / the trusted close before it
    shift: LevelShift | None = None
    for day, close in closes:
        prev = _previous_trusted(days, day, breaks)
        problem = None
        if prev is not None:
            ratio = close / known[prev]
            if not 1 / max_jump <= ratio <= max_jump:
                problem = (f"implausible close: x{ratio:.4g} the close of {prev} ({known[prev]:g}), beyond the "
                           f"plausibility limit x{max_jump:g} or 1/{max_jump:g} (MarketConfig.max_close_jump)")
        out.append(problem)
        if problem is None:
            run = []
            if day not in known:
                bisect.insort(days, day)
            known[day] = close
            continue
        follows = (run and day == run[-1][0] + timedelta(days=1)
                   and 1 / max_jump <= close / run[-1][1] <= max_jump)
        run, run_ratio = (run + [(day, close)], run_ratio) if follows else ([(day, close)], ratio)
        if shift_days is not None and len(run) >= shift_days:
            shift = LevelShift(run[0][0], run_ratio, len(run))
            out[-1] += "; " + shift.advice(coin)
    return out, shift


def _previous_trusted(days: list[date], day: date, breaks: tuple[date, ...]) -> date | None:
    """The latest trusted day before `day` (from sorted `days`) not before the last accepted break <= day."""
    i = bisect.bisect_left(days, day)
    if i == 0:
        return None
    floor = max((b for b in breaks if b <= day), default=None)
    return days[i - 1] if floor is None or days[i - 1] >= floor else None
