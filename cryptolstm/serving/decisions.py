"""Promotion decisions: compare a registered challenger with the point-in-time champion, record the
verdict in `promotion_decisions`, email it, and the operator's manual promotion.

The statistics of the gate live in `serving.promotion` (pure arrays); this module gathers the cells
from SQL, applies the gate once and records the outcome. A decision already recorded for an
interval is returned as it was, so reruns never decide twice.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from datetime import date, datetime, timedelta

from cryptolstm import storage
from cryptolstm.calendar import as_date, evaluation_window, utc_midnight
from cryptolstm.config import PipelineConfig
from cryptolstm.serving import promotion, registry
from cryptolstm.serving.alerts import SendFn

_DECISION_KEYS = ("decided_for", "challenger_id", "champion_id", "promoted", "challenger_da", "champion_da",
                  "n_cells", "p_value", "reason")


def decision_recorded(dsn: str, week_end: date) -> bool:
    """Has the weekly run whose interval ends at `week_end` 00:00 UTC recorded its decision?"""
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("promotion_decisions_exists"), {"week_end": as_date(week_end)})
        return cur.fetchone() is not None


def decide(dsn: str, end: datetime, model_id: str, config: PipelineConfig) -> dict:
    """Compare the challenger with the point-in-time champion on the same cells, promote or reject,
    and record the decision. A decision already recorded for this interval is returned as it was."""
    import numpy as np

    week_end = as_date(end)
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("promotion_decisions_select_one"), {"decided_for": end, "challenger_id": model_id})
        row = cur.fetchone()
        if row is not None:
            return _decision_dict(row, reused=True)
        cur.execute(storage.query("promotion_decisions_select_latest"))
        latest = cur.fetchone()[0]
        if latest is not None and latest > end:
            raise RuntimeError(f"a later weekly decision ({latest}) exists: weekly runs must be decided in order")
        challenger = registry.get(cur, model_id)
        if challenger is None:
            raise KeyError(f"challenger {model_id} is not registered")
        champion = registry.champion_as_of(cur, week_end)
        if champion is None:  # the previous champion's range is open-ended; it serves week_end too
            champion = registry.current_champion(cur)
    # The artifact must load before it can replace anything.
    try:
        registry.load_model(dsn, model_id)
        artifact_error = None
    except registry.ArtifactError as exc:
        artifact_error = str(exc)

    eval_start, eval_end = evaluation_window(week_end, config)
    with storage.transaction(dsn) as cur:
        if champion is not None:
            cmp_start = eval_end - timedelta(days=7 * config.promotion.weeks - 1)
            cur.execute(storage.query("forecasts_select_promotion_cells"), {"challenger_id": model_id, "champion_id": champion.model_id,
                                                          "first": cmp_start, "last": eval_end})
            cells = cur.fetchall()  # (coin, as_of, horizon, challenger_pred, champion_pred, realised, has_challenger)
            usable = [c for c in cells if c[6]]
            extra = {"comparison_window": [str(cmp_start), str(eval_end)], "champion_cells": len(cells),
                     "champion_cells_without_challenger": len(cells) - len(usable)}
        else:
            cur.execute(storage.query("validation_predictions_select_cells"), {"model_id": model_id})
            usable = cur.fetchall()  # (coin, as_of, horizon, pred, always_up, realised)
            extra = {"validation_window": [str(eval_start), str(eval_end)]}

    if artifact_error is not None:
        decision = promotion.Decision(False, f"challenger artifact unusable: {artifact_error}",
                                      details={"artifact_error": artifact_error})
    elif champion is not None:
        arr = np.array([c[3:6] for c in usable], dtype=np.float64).reshape(-1, 3)
        decision = promotion.should_promote(arr[:, 0], arr[:, 1], arr[:, 2], config=config.promotion)
    else:
        arr = np.array([c[3:6] for c in usable], dtype=np.float64).reshape(-1, 3)
        if len(arr) == 0:
            decision = promotion.Decision(False, "first model: no validation predictions stored")
        else:
            decision = promotion.should_promote(arr[:, 0], None, arr[:, 2], baselines={"always_up": arr[:, 1]},
                                                config=config.promotion)
    details = {**decision.details, **extra, "champion_training_cutoff": champion and str(champion.training_cutoff),
               "promotion_config": asdict(config.promotion)}
    with storage.transaction(dsn) as cur:
        if decision.promoted:
            t = registry.promote(cur, model_id, week_end)
            details["retired"] = t.retired
        else:
            registry.reject(cur, model_id)
        cur.execute(storage.query("promotion_decisions_insert"), {
            "decided_for": end, "challenger_id": model_id, "champion_id": champion and champion.model_id,
            "promoted": decision.promoted, "challenger_da": decision.challenger_da,
            "champion_da": decision.champion_da, "n_cells": decision.n_cells, "p_value": decision.p_value,
            "reason": decision.reason, "details": registry.to_json(details)})
        cur.execute(storage.query("promotion_decisions_select_one"), {"decided_for": end, "challenger_id": model_id})
        return _decision_dict(cur.fetchone(), reused=False)


def _decision_dict(row, reused: bool) -> dict:
    d = dict(zip(_DECISION_KEYS, row))
    d["decided_for"] = d["decided_for"].isoformat()
    d["reused"] = reused
    return d


def decision_email(d: dict, week_end: date) -> tuple[str, str]:
    """(subject, HTML body) of one recorded decision."""
    verdict = "PROMOTED" if d["promoted"] else "REJECTED"
    subject = f"[cryptolstm] weekly {verdict}: {d['challenger_id']} ({week_end})"
    fmt = lambda v: "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else html.escape(str(v)))  # noqa: E731
    body = ("<p>Weekly promotion decision for the week ending " f"{week_end}: <b>{verdict}</b></p>"
            f"<p>{html.escape(d['reason'])}</p><table border='1' cellpadding='3'>"
            + "".join(f"<tr><td>{k}</td><td>{fmt(d[k])}</td></tr>"
                      for k in ("challenger_id", "champion_id", "challenger_da", "champion_da", "n_cells", "p_value"))
            + "</table>")
    return subject, body


def notify_decision(dsn: str, end: datetime, send: SendFn) -> dict:
    """Email the interval's promotion decision(s) with the numbers."""
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("promotion_decisions_select_interval"), {"decided_for": end})
        rows = cur.fetchall()
    if not rows:
        raise RuntimeError(f"no promotion decision recorded for the week ending {end}")
    sent = []
    for row in rows:
        d = _decision_dict(row, reused=False)
        send(*decision_email(d, as_date(end)))
        sent.append(d["challenger_id"])
    return {"emailed": sent}


def promote_manually(dsn: str, model_id: str, effective: date, reason: str) -> dict:
    """An operator makes `model_id` champion from `effective` (e.g. the very first model); recorded as a
    decision for `effective` 00:00 UTC like a weekly one, with the reason given."""
    if not reason.strip():
        raise ValueError("a manual promotion needs a reason")
    with storage.transaction(dsn) as cur:
        champion = registry.current_champion(cur)
        m = registry.get(cur, model_id)
        if m is None:
            raise KeyError(f"no model {model_id!r}")
    registry.load_model(dsn, model_id)  # refuse an artifact that does not load
    with storage.transaction(dsn) as cur:
        t = registry.promote(cur, model_id, effective)
        cur.execute(storage.query("promotion_decisions_insert"), {
            "decided_for": utc_midnight(effective), "challenger_id": model_id,
            "champion_id": champion and champion.model_id,
            "promoted": True, "challenger_da": (m.metrics or {}).get("da"), "champion_da": None, "n_cells": 0,
            "p_value": None, "reason": f"manual: {reason}",
            "details": json.dumps({"manual": True, "retired": t.retired})})
    return {"model_id": model_id, "champion_from": str(effective), "retired": t.retired}
