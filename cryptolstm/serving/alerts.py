"""Daily alerts: live accuracy of the champion's matured forecasts, stale or missing champion.

Each day every alert kind gets a state ('ok' | 'firing') recorded in `alerts` (kind, as_of). An email
goes out only when the state differs from the previous recorded day's (no previous row = 'ok'), once:
the row's `emailed` flag is set after a successful send, so a rerun of the day does not mail again,
and a failed send is retried by the task's retry. The mail is sent by a function passed in
(`send(subject, html)`); the Airflow DAG passes one built on the smtp connection, tests a fake.

Kinds:
* live_accuracy  — DA of the forecasts whose target day is in the last `window_days` days, firing
  below the threshold: `min_da`, or the champion's validation DA minus `below_validation_pp` points
  when that is configured. Fewer than `min_cells` scored cells: the previous state is kept.
* stale_champion — the champion of the day was trained on data older than `stale_after_days`.
* no_champion    — no model may forecast the day (none promoted yet, or none trained before it).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import date
from typing import Callable

from cryptolstm.serving import registry

from cryptolstm import storage

KINDS = ("live_accuracy", "stale_champion", "no_champion")
SendFn = Callable[[str, str], None]  # send(subject, html_body)


@dataclass(frozen=True)
class AlertConfig:
    window_days: int = 30  # rolling window of matured forecasts (by target day) for live DA
    min_da: float = 0.50  # fire when live DA is below this ...
    below_validation_pp: float | None = None  # ... or, if set, below the champion's validation DA minus this many points
    min_cells: int = 45  # fewer scored cells in the window: not enough evidence, keep the previous state
    stale_after_days: int = 21  # champion trained on data older than this (days since its training cutoff)
    recipients: tuple[str, ...] = ("cryptolstm-ops@localhost",)  # who gets the alert emails

    @classmethod
    def from_env(cls, env: dict[str, str]) -> "AlertConfig":
        """Overrides: CRYPTOLSTM_ALERT_WINDOW_DAYS, _MIN_DA, _BELOW_VALIDATION_PP, _MIN_CELLS, _STALE_DAYS, _TO."""
        p = "CRYPTOLSTM_ALERT_"
        return cls(
            window_days=int(env.get(p + "WINDOW_DAYS", cls.window_days)),
            min_da=float(env.get(p + "MIN_DA", cls.min_da)),
            below_validation_pp=float(env[p + "BELOW_VALIDATION_PP"]) if env.get(p + "BELOW_VALIDATION_PP") else None,
            min_cells=int(env.get(p + "MIN_CELLS", cls.min_cells)),
            stale_after_days=int(env.get(p + "STALE_DAYS", cls.stale_after_days)),
            recipients=tuple(a.strip() for a in env[p + "TO"].split(",") if a.strip())
            if env.get(p + "TO") else cls.recipients,
        )


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
    # live accuracy
    cur.execute(storage.query("live_accuracy_window"), {"as_of": as_of, "window": config.window_days})
    n, n_dir, da, mae, rw_mae = cur.fetchone()
    limit, how = threshold(config, champ)
    details = {"n_cells": n, "n_direction_cells": n_dir, "da": da, "mae": mae, "rw_mae": rw_mae,
               "threshold": limit, "threshold_rule": how, "window_days": config.window_days,
               "min_cells": config.min_cells}
    if n_dir < config.min_cells or da is None:
        state = previous.get("live_accuracy", "ok")
        msg = (f"only {n_dir} scored cells in the {config.window_days} days to {as_of} (< {config.min_cells}): "
               f"state stays {state}")
    else:
        state = "firing" if da < limit else "ok"
        msg = (f"live DA {da:.1%} over {n_dir} cells (target days {config.window_days} d to {as_of}) "
               f"{'<' if state == 'firing' else '>='} threshold {limit:.1%} ({how}); "
               f"MAE {mae:.4f} vs random walk {rw_mae:.4f}")
    out.append(AlertState("live_accuracy", state, msg, details))
    return out


def _email(as_of: date, a: AlertState, before: str) -> tuple[str, str]:
    subject = f"[cryptolstm] {a.kind} {a.state.upper()} on {as_of}"
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in a.details.items())
    body = (f"<p><b>{html.escape(a.kind)}</b> changed from <b>{before}</b> to <b>{a.state}</b> "
            f"on as-of day {as_of}.</p><p>{html.escape(a.message)}</p>"
            f"<table border='1' cellpadding='3'>{rows}</table>")
    return subject, body


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def check_alerts(dsn: str, as_of: date, send: SendFn, config: AlertConfig = AlertConfig()) -> dict:
    """Evaluate, record and (on a change of state) email every alert kind for `as_of`."""
    with storage.transaction(dsn) as cur:
        previous = {}
        for kind in KINDS:
            cur.execute(storage.query("alert_previous_state"), {"kind": kind, "as_of": as_of})
            row = cur.fetchone()
            previous[kind] = row[0] if row else "ok"
        states = evaluate(cur, as_of, config, previous)
        emailed_before = {}
        for a in states:
            cur.execute(storage.query("alert_upsert"), {"kind": a.kind, "as_of": as_of, "state": a.state,
                                                        "message": a.message,
                                                        "details": json.dumps(a.details, default=str)})
            emailed_before[a.kind] = cur.fetchone()[0]
    report = {"as_of": as_of.isoformat(), "states": {a.kind: a.state for a in states}, "emailed": [],
              "messages": {a.kind: a.message for a in states}}
    for a in states:
        if a.state == previous[a.kind] or emailed_before[a.kind]:
            continue
        subject, body = _email(as_of, a, previous[a.kind])
        send(subject, body)  # an exception leaves emailed = false: the task's retry mails again
        with storage.transaction(dsn) as cur:
            cur.execute("UPDATE alerts SET emailed = true WHERE kind = %s AND as_of = %s", (a.kind, as_of))
        report["emailed"].append(a.kind)
    return report
