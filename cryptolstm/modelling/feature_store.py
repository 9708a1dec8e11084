"""The `features` table: the model inputs a daily run computed, kept for users in SQL.

The daily run builds the features once (`serving.forecast`), forecasts from them and stores the rows
of the as-of day and the late-revision overlap here, keyed by (coin, day, feature_version): a rerun
rewrites the same rows.
"""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from cryptolstm import storage
from cryptolstm.market.panel import to_day
from cryptolstm.modelling.features import FEATURE_VERSION, FEATURES


def upsert(cur, feats: pd.DataFrame, first: date, last: date) -> dict:
    """Store the rows of `feats` ([coin, day, *FEATURES]) with first <= day <= last; say what was stored."""
    f = feats[(feats["day"] >= to_day(first)) & (feats["day"] <= to_day(last))]
    storage.execute_batch(cur, "features_upsert", [{
        "coin": r["coin"], "day": r["day"].date(), "feature_version": FEATURE_VERSION,
        "values": json.dumps({k: float(r[k]) for k in FEATURES}, sort_keys=True)} for r in f.to_dict("records")])
    today = f[f["day"] == to_day(last)]
    return {"rows": int(len(f)), "coins": sorted(today["coin"].unique().tolist()), "feature_version": FEATURE_VERSION}
