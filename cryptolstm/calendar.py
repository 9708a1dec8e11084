"""Day and week boundaries of the schedule: which days a daily run, a weekly run and a decision cover.

Pure date arithmetic, no I/O. A daily run's data interval [start, end) is one UTC day; its as-of day
is start. A weekly run's interval is [end - 7 d, end) with end a Sunday 00:00 UTC; its training
cutoff is end - 1 day and its champion serves from end on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from cryptolstm.config import HORIZONS, PipelineConfig


def as_date(value: date | datetime) -> date:
    """A data-interval bound (datetime, aware or not) or a date, as a date."""
    return value.date() if isinstance(value, datetime) else value


def utc_midnight(day: date | datetime) -> datetime:
    """00:00 UTC of `day`: the logical date / interval bound Airflow keys runs by."""
    day = as_date(day)
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def weekly_boundary(as_of: date | datetime) -> date:
    """The last weekly decision day on or before `as_of` (a Sunday: the weekly DAG's interval end)."""
    as_of = as_date(as_of)
    return as_of - timedelta(days=(as_of.weekday() + 1) % 7)


def training_cutoff(week_end: date | datetime) -> date:
    """The last day a weekly run's challenger may learn from."""
    return as_date(week_end) - timedelta(days=1)


def evaluation_window(week_end: date | datetime, config: PipelineConfig) -> tuple[date, date]:
    """As-of days the weekly walk-forward scores: the last `wf_days` days whose H targets are known
    at the training cutoff (week_end - 1)."""
    last = as_date(week_end) - timedelta(days=1 + HORIZONS)
    return last - timedelta(days=config.wf_days - 1), last


def comparison_days(end: date | datetime, config: PipelineConfig) -> list[date]:
    """As-of days whose champion forecasts the weekly decision of the interval ending `end` compares
    (the daily runs of these days must be finished before the decision)."""
    _, last = evaluation_window(end, config)
    return [last - timedelta(days=k) for k in range(7 * config.promotion.weeks - 1, -1, -1)]


def weekly_logical_date(week_end: date | datetime) -> datetime:
    """The logical date (interval start, 00:00 UTC) of the weekly run whose interval ends at `week_end`."""
    return utc_midnight(week_end) - timedelta(days=7)


@dataclass(frozen=True)
class WeeklyWait:
    """What a daily run does about the weekly decision that fixes its champion."""

    ready: bool  # True: forecast now; False: wait and ask again
    failed: bool  # True: the weekly run failed; the day must not be forecast until it is rerun
    reason: str


def weekly_wait(decided: bool, runs: int, failed: int, succeeded: int) -> WeeklyWait:
    """Decide from the weekly run's state: its decision recorded, or no such run (live before the first
    week, or a daily-only backfill), or finished without deciding -> forecast; failed -> fail; else wait.

    `runs`, `failed` and `succeeded` count the weekly DAG runs of that week (0 or 1 each in practice).
    """
    if decided:
        return WeeklyWait(True, False, "decided")
    if runs == 0:
        return WeeklyWait(True, False, "no run for that week")
    if failed:
        return WeeklyWait(False, True, "failed")
    if succeeded:
        return WeeklyWait(True, False, "finished without a decision")
    return WeeklyWait(False, False, "running")
