"""Score matured forecasts: once the target day of a forecast has closed, store its realised log
return, direction hit and absolute error in `forecast_scores` (one UPSERT, see
sql/queries/forecast_scores_upsert_matured.sql). Point in time: scoring day t reads candles of days <= t
only. A score follows its candles: a revision of its base or target candle rescores it on the next run.
"""

from __future__ import annotations

from datetime import date

from cryptolstm import storage
from cryptolstm.config import OVERLAP_DAYS

LOOKBACK_DAYS = OVERLAP_DAYS  # rewrite scores whose target day is this recent: the ingestion's re-fetched days


def score_matured(dsn: str, as_of: date, lookback_days: int = LOOKBACK_DAYS) -> dict:
    """Score every forecast whose target day is <= as_of; return counts and what is still unscorable."""
    if lookback_days < 0:
        raise ValueError("lookback_days must be >= 0")
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("forecast_scores_upsert_matured"), {"as_of": as_of, "lookback": lookback_days})
        flags = [r[0] for r in cur.fetchall()]
        cur.execute(storage.query("forecasts_select_unscorable"), {"as_of": as_of})
        missing = cur.fetchall()
    return {"as_of": as_of.isoformat(), "scored_new": sum(flags), "rescored": len(flags) - sum(flags),
            "unscorable": len(missing),
            "unscorable_examples": [f"{c} {a} h{h}" for c, a, h, _ in missing[:5]]}
