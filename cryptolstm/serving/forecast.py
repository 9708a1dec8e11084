"""`forecast_as_of(dsn, as_of, run_id)`: the 5-day forecast of day `as_of` for every coin, by the
point-in-time champion, written to `forecasts`.

Point in time: the model is `registry.champion_as_of(as_of)` (champion on that day AND trained before
it) and the candles are those with day <= as_of, so the rows are the same whether a live run, a rerun
or a backfill writes them, and whatever the database holds after `as_of`.

No champion on `as_of` (before the first promotion): with `provisional=True` (the default) the newest
model trained before the day forecasts it and the result's status is 'provisional' (the rows carry
that model's id; `v_latest_forecasts.served_as` says 'provisional'; the no_champion alert keeps
firing). A first model the gate rejected thus still produces forecasts, scored live like any other.
With `provisional=False`, or no model at all, nothing is written and the status is 'no_champion' (the
DAG turns that into a skip). An artifact that fails its sha256 or cannot be loaded raises
`registry.ArtifactError`: no forecast from a model we cannot trust.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from cryptolstm.serving import registry

from cryptolstm import storage

STALE_AFTER_DAYS = 21  # a champion whose training cutoff is older than this still forecasts, flagged stale


def forecast_as_of(dsn: str, as_of: date, run_id: str, stale_after_days: int = STALE_AFTER_DAYS,
                   provisional: bool = True) -> dict:
    """Forecast `as_of` for h = 1..5; return {status: 'ok' | 'provisional' | 'no_champion', model_id, coins,
    rows, stale, ...}."""
    status = "ok"
    with storage.transaction(dsn) as cur:
        champ = registry.champion_as_of(cur, as_of)
        if champ is None and provisional:
            champ, status = registry.provisional_as_of(cur, as_of), "provisional"
    if champ is None:
        return {"status": "no_champion", "as_of": as_of.isoformat(), "rows": 0,
                "message": f"no model was champion on {as_of} with a training cutoff before it"
                           + ("" if provisional else " (provisional forecasts are off)") + ": no forecast"}
    model = registry.load_model(dsn, champ.model_id)  # ArtifactError on a bad hash or bundle

    from cryptolstm.market import panel as panel_mod

    panel = panel_mod.read_candles(dsn, until=as_of)  # [coin, day, o, h, l, c, v], day <= as_of
    preds = model.predict(panel, as_of)  # [coin, as_of, horizon, pred_log_return], coins with a full window
    at = panel[panel["day"] == panel_mod.to_day(as_of)].set_index("coin")["close"]
    rows = []
    for r in preds.itertuples(index=False):
        base = float(at[r.coin])
        pred = float(r.pred_log_return)
        if not math.isfinite(pred):
            raise ValueError(f"model {champ.model_id} predicted a non-finite return for {r.coin} h{r.horizon}")
        rows.append({"coin": r.coin, "as_of": as_of, "horizon": int(r.horizon), "model_id": champ.model_id,
                     "target_day": as_of + timedelta(days=int(r.horizon)), "base_close": base,
                     "pred_log_return": pred, "pred_close": base * math.exp(pred), "run_id": run_id})
    coins = sorted({r["coin"] for r in rows})
    with storage.transaction(dsn) as cur:
        for row in rows:
            cur.execute(storage.query("forecast_upsert"), row)
        # the day's rows from this model for coins it could not forecast this time (e.g. a rerun after a gap)
        cur.execute("DELETE FROM forecasts WHERE as_of = %s AND model_id = %s AND NOT (coin = ANY(%s))",
                    (as_of, champ.model_id, coins))
    age = champ.age_days(as_of)
    return {"status": status, "as_of": as_of.isoformat(), "model_id": champ.model_id, "rows": len(rows),
            "coins": coins, "missing_coins": sorted(set(model.coins) - set(coins)),
            "champion_age_days": age, "stale": age > stale_after_days}
