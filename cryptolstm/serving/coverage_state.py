"""The online coverage correction in production (issue 26): the state of each (coin, horizon, level) for an as-of
day, from the misses of the ranges served before it, and its audit row in `range_corrections`.

The state of day t is `evaluation.coverage.state_from_misses` over the served ranges whose target day is before t
(`forecast_scores_select_range_misses`: one served row per cell, the current realised return), in target-day
order. Nothing else goes in: no clock, no model id (the state is carried across model changes), so a rerun of a
day gives the same state and the same ranges. Before the first live miss the state is the nominal level. A
corrected candle is rescored by `serving.scoring`; ranges already stored stay as served, but every later state
reads the corrected miss (a deliberate rerun of an earlier day recomputes that day from the corrected misses, as
any rerun reads the database as it is).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from cryptolstm import storage
from cryptolstm.evaluation import coverage

MISS_COLUMNS = ["coin", "horizon", "as_of", "target_day", "miss_80", "miss_95"]


def read_misses(cur, as_of: date, coins: list[str]) -> pd.DataFrame:
    """[coin, horizon, as_of, target_day, miss_80, miss_95] of the served ranges matured before `as_of`, in
    target-day order per (coin, horizon)."""
    cur.execute(storage.query("forecast_scores_select_range_misses"), {"as_of": as_of, "coins": list(coins)})
    return pd.DataFrame(cur.fetchall(), columns=MISS_COLUMNS)


def states(misses: pd.DataFrame, cells: list[tuple[str, int]], corrections: dict[float, coverage.Correction]) -> dict:
    """{(coin, horizon, level): {state, n_misses_used, n_missed, last_target_day}} for every cell and level: the
    fold of the correction over that series' misses (already restricted to target day < t and in target-day
    order, as `read_misses` returns them). Pure."""
    groups = {(c, int(h)): g for (c, h), g in misses.groupby(["coin", "horizon"], sort=False)} if len(misses) else {}
    out = {}
    for coin, h in cells:
        g = groups.get((coin, int(h)))
        for L, corr in corrections.items():
            m = [] if g is None else [bool(x) for x in g[f"miss_{round(L * 100)}"]]
            out[(coin, int(h), L)] = {"state": coverage.state_from_misses(m, L, corr), "n_misses_used": len(m),
                                      "n_missed": sum(m),
                                      "last_target_day": None if g is None or g.empty else g["target_day"].iloc[-1]}
    return out


def record(cur, as_of: date, model_id: str, used: dict, corrections: dict[float, coverage.Correction]) -> None:
    """Upsert the audit rows of the states `used` ({(coin, horizon, level): states() entry}) for day `as_of`."""
    rows = [{"coin": coin, "as_of": as_of, "horizon": h, "level": round(L * 100), "method": corrections[L].name,
             "alpha": coverage.alpha_of(s["state"], L, corrections[L]),
             "log_factor": coverage.log_factor_of(s["state"], corrections[L]), "n_misses_used": s["n_misses_used"],
             "n_missed": s["n_missed"], "last_target_day": s["last_target_day"], "model_id": model_id}
            for (coin, h, L), s in sorted(used.items())]
    if rows:
        storage.execute_batch(cur, "range_corrections_upsert", rows)
