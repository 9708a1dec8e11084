"""Daily alerts: live accuracy of the champion's matured forecasts, stale or missing champion.

Each day every alert kind gets a state ('ok' | 'firing') recorded in `alerts` (kind, as_of). An email
goes out only when the state differs from the previous recorded day's (no previous row = 'ok'), once:
the row's `emailed` flag is set after a successful send, so a rerun of the day does not mail again,
and a failed send is retried by the task's retry. The mail (`serving.mail.Mail`: text and HTML) is
delivered by a function passed in (`send(mail)`); the Airflow DAG passes one built on the smtp
connection, tests a fake.

Kinds (the rules are pure functions in `serving.alert_rules`):
* live_accuracy     — on the forecasts whose target day is in the last `window_days` days: fires when the
  95 % day-block interval of live DA lies below the threshold (`min_da`, or the champion's validation
  DA minus `below_validation_pp` points), or below the serving model's own walk-forward DA; clears
  when live DA is back at the line. Fewer than `min_cells` scored cells: the previous state is kept.
* high_tier_accuracy — on the same window's high-tier cells (issue 26): fires when the 95 % day-block interval of
  their live DA lies below the lower end of the serving model's walk-forward high-tier interval; clears when live
  DA is back at it. Fewer than `high_tier_min_cells`: the previous state is kept.
* interval_coverage — the 80 % ranges held the realised return on a share of cells outside
  [coverage_low, coverage_high] over the last `coverage_window_days` fully matured as-of days, or their
  h = 1 misses cluster (Christoffersen); the message says too many, too few, too clustered, or several.
* input_drift       — most of the day's coins have an input window unlike the serving model's training windows.
* stale_champion    — the champion of the day was trained on data older than `stale_after_days`.
* expired           — the model that would serve the day is older than `expire_after_days`: no forecast.
* no_champion       — no model may forecast the day (none promoted yet, or none trained before it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np

from cryptolstm import storage
from cryptolstm.config import AlertConfig
from cryptolstm.evaluation import backtests
from cryptolstm.serving import alert_rules, mail, registry

KINDS = ("live_accuracy", "stale_champion", "no_champion", "interval_coverage", "expired", "input_drift",
         "high_tier_accuracy")


@dataclass(frozen=True)
class AlertState:
    kind: str
    state: str  # 'ok' | 'firing'
    message: str
    details: dict


def threshold(config: AlertConfig, champion: registry.ModelRecord | None) -> tuple[float, str]:
    """(DA threshold, how it was chosen)."""
    if config.below_validation_pp is not None and champion is not None:
        val = (champion.metrics or {}).get("da")
        if isinstance(val, (int, float)):
            return float(val) - config.below_validation_pp / 100, (
                f"champion validation DA {val:.4f} - {config.below_validation_pp:g} pp")
    return config.min_da, f"fixed {config.min_da:.4f}"


def evaluate(cur, as_of: date, config: AlertConfig, previous: dict[str, str]) -> list[AlertState]:
    """The state of every alert kind on `as_of` (pure reads; `previous` = last state per kind)."""
    champ = registry.champion_as_of(cur, as_of)
    out = []
    # no champion
    if champ is None:
        out.append(AlertState("no_champion", "firing",
                              f"no champion may forecast {as_of}: no model promoted before it (forecasts, if any, "
                              "are provisional: the newest model trained before the day)", {}))
    else:
        out.append(AlertState("no_champion", "ok", f"champion {champ.model_id} forecasts {as_of}",
                              {"model_id": champ.model_id}))
    # stale champion
    if champ is not None:
        age = champ.age_days(as_of)
        stale = age > config.stale_after_days
        out.append(AlertState(
            "stale_champion", "firing" if stale else "ok",
            f"champion {champ.model_id} trained on data up to {champ.training_cutoff}: {age} days old "
            f"({'>' if stale else '<='} {config.stale_after_days})",
            {"model_id": champ.model_id, "age_days": age, "training_cutoff": str(champ.training_cutoff),
             "stale_after_days": config.stale_after_days}))
    else:
        out.append(AlertState("stale_champion", "ok", "no champion", {}))
    # expiry: the model that would serve the day (champion, else the provisional one)
    serving = champ or registry.provisional_as_of(cur, as_of)
    out.append(AlertState("expired", *alert_rules.expired(serving and serving.model_id,
                                                          serving and serving.age_days(as_of),
                                                          config.expire_after_days)))
    # live accuracy, on evidence
    cur.execute(storage.query("forecast_scores_select_live_cells"), {"as_of": as_of, "window": config.window_days})
    cells = cur.fetchall()  # (as_of, pred, realised)
    arr = np.array([(c[1], c[2]) for c in cells], dtype=np.float64).reshape(-1, 2)
    day = np.array([c[0].toordinal() for c in cells], dtype=np.int64)
    limit, how = threshold(config, champ)
    wf = (serving.metrics or {}).get("da") if serving is not None else None
    state, msg, details = alert_rules.live_accuracy(
        arr[:, 1], arr[:, 0], day, previous.get("live_accuracy", "ok"), threshold=limit,
        walk_forward_da=float(wf) if isinstance(wf, (int, float)) else None, min_cells=config.min_cells,
        block_days=config.block_days)
    details.update({"threshold_rule": how, "window_days": config.window_days, "n_cells": len(cells),
                    "model_id": serving and serving.model_id})
    out.append(AlertState("live_accuracy", state, f"{msg} (target days {config.window_days} d to {as_of})", details))
    # the high confidence tier against its walk-forward promise (issue 26)
    cur.execute(storage.query("forecast_scores_select_live_cells_high_tier"),
                {"as_of": as_of, "window": config.window_days})
    high = cur.fetchall()  # (as_of, pred, realised)
    arr = np.array([(c[1], c[2]) for c in high], dtype=np.float64).reshape(-1, 2)
    wf_high = ((serving.metrics or {}).get("tiers") or {}).get("high") if serving is not None else None
    state, msg, details = alert_rules.high_tier_accuracy(
        arr[:, 1], arr[:, 0], np.array([c[0].toordinal() for c in high], dtype=np.int64),
        previous.get("high_tier_accuracy", "ok"), walk_forward=wf_high if isinstance(wf_high, dict) else None,
        min_cells=config.high_tier_min_cells, block_days=config.block_days)
    details.update({"window_days": config.window_days, "model_id": serving and serving.model_id})
    out.append(AlertState("high_tier_accuracy", state, f"{msg} (target days {config.window_days} d to {as_of})",
                          details))
    # calibration of the stored 80 % ranges
    cur.execute(storage.query("forecast_scores_select_interval_coverage"), {"as_of": as_of, "window": config.coverage_window_days})
    n, covered = cur.fetchone()
    cur.execute(storage.query("forecast_scores_select_interval_misses_h1"),
                {"as_of": as_of, "window": config.coverage_window_days})
    h1 = cur.fetchall()  # (series, as-of day, miss)
    test = None if not h1 else backtests.christoffersen(
        np.array([r[2] for r in h1]), 0.8, np.array([r[1].toordinal() for r in h1]), np.array([r[0] for r in h1]))
    out.append(AlertState("interval_coverage", *alert_rules.interval_coverage(
        n, covered, previous.get("interval_coverage", "ok"), low=config.coverage_low, high=config.coverage_high,
        min_cells=config.coverage_min_cells, window_days=config.coverage_window_days, backtest=test,
        alpha=config.coverage_alpha)))
    # input drift of the day's forecasts
    cur.execute(storage.query("forecasts_select_day_drift"), {"as_of": as_of})
    day = cur.fetchall()  # (coin, drifted, cause)
    out.append(AlertState("input_drift", *alert_rules.input_drift(
        {c: d for c, d, _ in day}, {c: why for c, _, why in day}, previous.get("input_drift", "ok"),
        majority=config.drift_majority)))
    return out


def alert_mail(as_of: date, a: AlertState, before: str) -> mail.Mail:
    """The mail of one change of state: what changed, the message and every figure behind it."""
    subject = f"[cryptolstm] {a.kind} {a.state.upper()} on {as_of}"
    if a.kind == "expired" and a.state == "firing":
        subject = f"[cryptolstm] !!! EXPIRED model: NO FORECAST from {as_of} !!!"
    return mail.report(subject, [f"{a.kind} changed from {before} to {a.state} on as-of day {as_of}.", a.message],
                       a.details.items())


def check_alerts(dsn: str, as_of: date, send: mail.SendFn, config: AlertConfig = AlertConfig()) -> dict:
    """Evaluate, record and (on a change of state) email every alert kind for `as_of`."""
    with storage.transaction(dsn) as cur:
        previous = {}
        for kind in KINDS:
            cur.execute(storage.query("alerts_select_previous_state"), {"kind": kind, "as_of": as_of})
            row = cur.fetchone()
            previous[kind] = row[0] if row else "ok"
        states = evaluate(cur, as_of, config, previous)
        emailed_before = {}
        for a in states:
            cur.execute(storage.query("alerts_upsert"), {"kind": a.kind, "as_of": as_of, "state": a.state,
                                                        "message": a.message,
                                                        "details": json.dumps(a.details, default=str)})
            emailed_before[a.kind] = cur.fetchone()[0]
    report = {"as_of": as_of.isoformat(), "states": {a.kind: a.state for a in states}, "emailed": [],
              "messages": {a.kind: a.message for a in states}}
    for a in states:
        if a.state == previous[a.kind] or emailed_before[a.kind]:
            continue
        send(alert_mail(as_of, a, previous[a.kind]))  # an exception leaves emailed = false: the task's retry mails again
        with storage.transaction(dsn) as cur:
            cur.execute(storage.query("alerts_update_emailed"), {"kind": a.kind, "as_of": as_of})
        report["emailed"].append(a.kind)
    return report
