"""`forecast_as_of(dsn, as_of, run_id)`: the 5-day forecast of day `as_of` for every coin, by the
point-in-time champion, written to `forecasts`.

One pass over the data: the candle history up to `as_of` is read once and the features are built
once, from that frame, by the model that forecasts.

Point in time: the model is `registry.champion_as_of(as_of)` (champion on that day AND trained before
it) and the candles are those with day <= as_of, so the rows are the same whether a live run, a rerun
or a backfill writes them, and whatever the database holds after `as_of`.

No champion on `as_of` (before the first promotion): with `provisional=True` (the default) the newest
model trained before the day forecasts it and the result's status is 'provisional' (the rows carry
that model's id; `v_latest_forecasts.served_as` says 'provisional'; the no_champion alert keeps
firing). A first model the gate rejected thus still produces forecasts, scored live like any other.
With `provisional=False`, or no model at all, nothing is written and the status is 'no_champion' (the
DAG turns that into a skip). An artifact that fails its sha256 or cannot be loaded raises
`registry.ArtifactError`: no forecast from a model we cannot trust. A model but no coin with a
complete input window ending on `as_of` (the day's candles are missing) raises `MissingDataError`:
never an "ok" with 0 rows.

Expiry: a model whose training cutoff is more than `stale_after_days` before the day still forecasts,
flagged `stale`; past `expire_after_days` it no longer does: nothing is written and the status is
'expired' (the DAG skips, the `expired` alert fires), like FreqAI's `expiration_hours`.

Ranges: every row carries the 80 % and 95 % ranges of its log return and price, split-conformal on
the serving model's own walk-forward residuals matured before the day (`ranges_for`,
cryptolstm/evaluation/intervals.py), corrected online by the served ranges' misses matured before the day
(issue 26: cryptolstm/evaluation/coverage.py, serving/coverage_state.py; the uncorrected ranges are stored
beside them); a model without stored walk-forward residuals gets NULL ranges.

Input drift: every row carries how far its coin's input window lies from the model's training windows and
whether that is beyond the model's threshold (`drift_for`, cryptolstm/modelling/drift.py); a window with a
NaN or infinite feature is flagged. The forecast values do not depend on it. A model registered without a
description of its training inputs still forecasts, with NULL drift columns and one log line saying why.

Confidence (issue 26): every row carries `confidence` (the percentile of |ensemble mean| among the model's
walk-forward cells of its horizon), `members_agree` (the share of the K members with the mean's sign) and `tier`
(high / medium / low of the model's score against its walk-forward reference), from the day's predictions and feature
rows only (`serving.confidence`). A model registered without a reference gets NULL confidence and tier. A
non-finite mean or member raises ValueError: never a tier from a broken forecast.
"""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta

import numpy as np
import pandas as pd

from cryptolstm import storage
from cryptolstm.config import DEFAULT_COINS, EXPIRE_AFTER_DAYS, HORIZONS, STALE_AFTER_DAYS
from cryptolstm.errors import Permanent
from cryptolstm.evaluation import coverage, intervals
from cryptolstm.serving import confidence, coverage_state, registry

log = logging.getLogger(__name__)
NO_DRIFT = dict.fromkeys(("input_distance", "input_drift_threshold", "input_drifted", "input_drift_cause"))


def ranges_for(cur, model_id: str, as_of: date, preds: pd.DataFrame, panel: pd.DataFrame,
               config: intervals.IntervalConfig = intervals.IntervalConfig()) -> dict:
    """{(coin, horizon): {lo80_log_return, ..., interval_method, lo80_log_return_uncorrected, ...}} for every row of
    the day's predictions: the split-conformal ranges calibrated on the model's walk-forward residuals with target
    day < as_of (the *_uncorrected columns), and the served ranges, corrected online per level
    (`config.corrections`, evaluation/coverage.py) by the states of the served ranges' misses matured before
    as_of (serving/coverage_state.py), which are recorded in `range_corrections`. A row without a finite range
    gets NULLs (none at all when the model has no stored residuals)."""
    unc = {f"{b}{round(L * 100)}_log_return_uncorrected": None for L in config.levels for b in ("lo", "hi")}
    out = {(r.coin, int(r.horizon)): dict(unc) for r in preds.itertuples(index=False)}
    cur.execute(storage.query("validation_predictions_select_residuals"), {"model_id": model_id, "as_of": as_of,
                                                        "calib_days": config.calib_days})
    res = pd.DataFrame(cur.fetchall(), columns=["coin", "as_of", "horizon", "pred", "realised"])
    if res.empty:
        return out
    scaled = config.vol_power > 0
    if scaled:  # s = vol_t ** power, vol_t from closes <= t (the panel ends at as_of)
        vol = intervals.point_in_time_vol(panel, config.vol_days).rename(columns={"day": "as_of"})
        vol["scale"] = vol["vol"] ** config.vol_power
        res = res.merge(vol, on=["coin", "as_of"], how="inner").dropna(subset=["scale"])
        today = vol[vol["as_of"] == as_of].set_index("coin")["scale"]
    res["score"] = (res["realised"] - res["pred"]).abs() / (res["scale"] if scaled else 1.0)
    q = intervals.calibrate(res[["coin", "horizon", "score"]], config)
    corrections = {L: coverage.by_name(n) for L, n in zip(config.levels, config.corrections, strict=True)}
    state = coverage_state.states(coverage_state.read_misses(cur, as_of, sorted(set(preds["coin"]))),
                                  sorted(out), corrections)
    named = "; ".join(f"online correction {round(L * 100)} % {c.name}" for L, c in corrections.items()
                      if c.kind != "none")
    used = {}
    for r in preds.itertuples(index=False):
        cal = q.get((r.coin, int(r.horizon))) or q.get(("*", int(r.horizon)))
        scale = float(today.get(r.coin, np.nan)) if scaled else 1.0
        if cal is None or not np.isfinite(scale) or not all(np.isfinite(v) for v in cal["q"].values()):
            continue
        row = {}
        for L, corr in corrections.items():
            k, st = round(L * 100), state[(r.coin, int(r.horizon), L)]
            w0 = cal["q"][L] * scale
            w = coverage.corrected_quantile(cal["scores"], L, st["state"], corr, cal["q"][L]) * scale
            row[f"lo{k}_log_return"], row[f"hi{k}_log_return"] = r.pred_log_return - w, r.pred_log_return + w
            row[f"lo{k}_log_return_uncorrected"] = r.pred_log_return - w0
            row[f"hi{k}_log_return_uncorrected"] = r.pred_log_return + w0
            used[(r.coin, int(r.horizon), L)] = st
        row["interval_method"] = (intervals.method_name(config) + (" (coins pooled)" if cal["pooled"] else "")
                                  + (f"; {named}" if named else ""))
        out[(r.coin, int(r.horizon))] = row
    coverage_state.record(cur, as_of, model_id, used, corrections)
    return out


def drift_for(model, model_id: str, panel: pd.DataFrame, as_of: date, coins: list[str],
              features: pd.DataFrame | None, log_fn=log.warning) -> dict[str, dict]:
    """{coin: the `forecasts` drift columns} of the coins' input windows ending at `as_of`
    (`TrainedModel.input_drift`); {} for a model without a training description (its rows keep NULL drift
    columns), said in one log line. Every flagged window is logged with its cause."""
    if model.input_description is None:
        log_fn("%s has no description of its training inputs (registered before input drift was recorded): "
               "its forecasts of %s carry no drift flag", model_id, as_of)
        return {}
    out = {}
    for r in model.input_drift(panel, as_of, coins, features).itertuples(index=False):
        out[r.coin] = {"input_distance": float(r.input_distance) if math.isfinite(r.input_distance) else None,
                       "input_drift_threshold": float(r.input_drift_threshold),
                       "input_drifted": bool(r.input_drifted), "input_drift_cause": r.input_drift_cause}
        if r.input_drifted:
            log_fn("input drift: %s on %s (model %s): %s", r.coin, as_of, model_id, r.input_drift_cause)
    return out


class MissingDataError(Permanent, RuntimeError):
    """A model exists but no coin can be forecast on the day: its candles (or earlier ones) are missing."""


def day_coverage(dsn: str, as_of: date, coins: list[str], horizons: int = HORIZONS,
                 warmup_days: int | None = None) -> dict:
    """Does every served coin still trading on `as_of` have its `horizons` forecasts for the day?
    {as_of, expected: [coin], missing: [coin], warming_up: [coin], complete: bool, message}.

    A coin whose accepted level shift lies within the last `warmup_days` days (default: the feature warm-up
    plus the default input window) has no full input window yet: it is named in `warming_up`, not `missing`."""
    from cryptolstm.config import TrainConfig
    from cryptolstm.modelling.features import WARMUP_DAYS

    warmup = WARMUP_DAYS + TrainConfig().window if warmup_days is None else warmup_days
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("forecasts_select_day_coverage"),
                    {"as_of": as_of, "coins": list(coins), "warmup_days": warmup})
        rows = cur.fetchall()  # (coin, horizons, warming_up)
    short = sorted(c for c, n, _ in rows if n < horizons)
    warming = sorted(c for c, n, w in rows if n < horizons and w)
    missing = [c for c in short if c not in warming]
    message = (f"the forecast of {as_of} is incomplete: no {horizons}-day forecast for {', '.join(missing)} "
               "(see their ingest task, rejected_candles and the forecast task's missing_coins)" if missing
               else f"the forecast of {as_of} is complete: {len(rows) - len(warming)} coins x {horizons} horizons")
    if warming:
        message += (f"; {', '.join(warming)} still warming up after an accepted level shift "
                    f"(no full input window since the break)")
    return {"as_of": as_of.isoformat(), "expected": sorted(c for c, _, _ in rows), "missing": missing,
            "warming_up": warming, "complete": not missing, "message": message}


def forecast_as_of(dsn: str, as_of: date, run_id: str, stale_after_days: int = STALE_AFTER_DAYS,
                   provisional: bool = True, expire_after_days: int = EXPIRE_AFTER_DAYS,
                   interval_config: intervals.IntervalConfig = intervals.IntervalConfig(),
                   served: tuple[str, ...] = DEFAULT_COINS) -> dict:
    """Forecast `as_of` for h = 1..H for the `served` coins (a model trained on auxiliary coins too forecasts
    only these; their features do not depend on the others); return {status: 'ok' | 'provisional' |
    'no_champion' | 'expired', model_id, coins, rows, stale, ...}."""
    from cryptolstm.market import panel as panel_mod
    from cryptolstm.modelling import features

    status = "ok"
    with storage.transaction(dsn) as cur:
        champ = registry.champion_as_of(cur, as_of)
        if champ is None and provisional:
            champ, status = registry.provisional_as_of(cur, as_of), "provisional"
    if champ is None:
        return {"status": "no_champion", "as_of": as_of.isoformat(), "rows": 0,
                "message": f"no model was champion on {as_of} with a training cutoff before it"
                           + ("" if provisional else " (provisional forecasts are off)") + ": no forecast"}
    age = champ.age_days(as_of)
    if age > expire_after_days:
        return {"status": "expired", "as_of": as_of.isoformat(), "rows": 0, "model_id": champ.model_id,
                "champion_age_days": age,
                "message": f"{champ.model_id} was trained on data up to {champ.training_cutoff}, {age} days before "
                           f"{as_of} (> {expire_after_days}): expired, no forecast until a newer model is trained"}
    model = registry.load_model(dsn, champ.model_id)  # ArtifactError on a bad hash, bundle or vocabulary

    # The day's one read of the candle history and one feature build, [coin, day, *FEATURES]; a served
    # coin's features do not depend on the other coins in the panel (features.MARKET_COINS).
    everything = panel_mod.read_candles(dsn, until=as_of)  # [coin, day, o, h, l, c, v], day <= as_of
    panel = everything[everything["coin"].isin(served)].reset_index(drop=True)
    feats = features.build_features(everything) if len(everything) else None
    served_feats = None if feats is None else feats[feats["coin"].isin(served)]
    # coins with a full window, and each member's forecast of them (one pass of every network)
    preds, members = model.predict_with_members(panel, as_of, features=served_feats)  # [rows], [K, rows]
    bare = preds  # the ensemble mean, what the confidence ranks (issue 26)
    day_rows = None if served_feats is None else served_feats[served_feats["day"] == panel_mod.to_day(as_of)]
    if model.combination is not None and len(preds):  # issue 28: the served forecast is the combination
        from cryptolstm.evaluation.combination import ServedCombination
        from cryptolstm.serving import combined

        preds = combined.combine_day(ServedCombination.from_json(model.combination), preds, day_rows)
    # issue 26: each cell's confidence, members' agreement and tier, from the day's predictions and features
    conf = confidence.day_confidence(model, champ.model_id, bare, members, preds, day_rows) if len(bare) else {}
    with storage.transaction(dsn) as cur:
        ranges = ranges_for(cur, champ.model_id, as_of, preds, panel, interval_config)
    rows = _forecast_rows(preds, panel, ranges, champ.model_id, as_of, run_id, interval_config)
    drift = drift_for(model, champ.model_id, panel, as_of, sorted(set(preds["coin"])), served_feats) if rows else {}
    for row in rows:
        row.update(drift.get(row["coin"], NO_DRIFT))
        row.update(conf.get((row["coin"], row["horizon"]), confidence.NONE))
    if not rows:
        latest = panel["day"].max().date() if len(panel) else None
        raise MissingDataError(
            f"no forecast for {as_of}: no coin has a candle on that day with a complete input window "
            f"(latest candle stored up to that day: {latest or 'none'}); ingest {as_of} first, then rerun")
    coins = sorted({r["coin"] for r in rows})
    with storage.transaction(dsn) as cur:
        storage.execute_batch(cur, "forecasts_upsert", rows)
        cur.execute(storage.query("forecasts_delete_other_coins"),
                    {"as_of": as_of, "model_id": champ.model_id, "coins": coins})
    return {"status": status, "as_of": as_of.isoformat(), "model_id": champ.model_id, "rows": len(rows),
            "coins": coins, "missing_coins": sorted(set(model.coins) - set(coins)),
            "champion_age_days": age, "stale": age > stale_after_days,
            "with_ranges": sum(r["lo80_log_return"] is not None for r in rows),
            "drift_assessed": bool(drift), "drifted_coins": sorted(c for c, d in drift.items() if d["input_drifted"]),
            "tiers": {t: sum(r["tier"] == t for r in rows) for t in ("high", "medium", "low")},
            "with_tier": sum(r["tier"] is not None for r in rows)}


def _forecast_rows(preds: pd.DataFrame, panel: pd.DataFrame, ranges: dict, model_id: str, as_of: date,
                   run_id: str, interval_config: intervals.IntervalConfig) -> list[dict]:
    """`forecasts` rows of the day's predictions: price path close[as_of]·exp(r̂) and ranges in both units."""
    from cryptolstm.market import panel as panel_mod

    at = panel[panel["day"] == panel_mod.to_day(as_of)].set_index("coin")["close"]
    empty = {f"{b}{round(L * 100)}_log_return": None for L in interval_config.levels for b in ("lo", "hi")}
    rows = []
    for r in preds.itertuples(index=False):
        base = float(at[r.coin])
        pred = float(r.pred_log_return)
        if not math.isfinite(pred):
            raise ValueError(f"model {model_id} predicted a non-finite return for {r.coin} h{r.horizon}")
        row = {"coin": r.coin, "as_of": as_of, "horizon": int(r.horizon), "model_id": model_id,
               "target_day": as_of + timedelta(days=int(r.horizon)), "base_close": base,
               "pred_log_return": pred, "pred_close": base * math.exp(pred), "run_id": run_id,
               "interval_method": None, **empty, **ranges.get((r.coin, int(r.horizon)), {})}
        for k in [k for k in row if k.endswith("_log_return") and k[:2] in ("lo", "hi")]:
            row[k.replace("_log_return", "_close")] = None if row[k] is None else base * math.exp(row[k])
        rows.append(row)
    return rows
