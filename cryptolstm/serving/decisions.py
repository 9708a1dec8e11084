"""Promotion decisions: compare a registered challenger with the point-in-time champion, record the
verdict in `promotion_decisions`, email it, and the operator's manual promotion.

The statistics of the gate live in `serving.promotion` (pure arrays); this module gathers the cells
from SQL, applies the gate once and records the outcome. A decision already recorded for an
interval is returned as it was, so reruns never decide twice.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, replace
from datetime import date, datetime

from cryptolstm import storage
from cryptolstm.calendar import as_date, utc_midnight
from cryptolstm.config import PipelineConfig
from cryptolstm.serving import promotion, registry
from cryptolstm.serving.alerts import SendFn

_DECISION_KEYS = ("decided_for", "challenger_id", "champion_id", "promoted", "challenger_da", "champion_da",
                  "n_cells", "p_value", "reason", "challenger_da_ci_low", "challenger_da_ci_high", "da_diff_ci_low",
                  "da_diff_ci_high", "details")


def decision_recorded(dsn: str, week_end: date) -> bool:
    """Has the weekly run whose interval ends at `week_end` 00:00 UTC recorded its decision?"""
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("promotion_decisions_exists"), {"week_end": as_date(week_end)})
        return cur.fetchone() is not None


def final_model_constant_sign(model, panel, last_day: date, days: int = 120) -> list[str]:
    """Horizons at which the model's prediction has one sign for every coin and every one of the last
    `days` as-of days up to `last_day` (its sign does not depend on its input), e.g. ['final model h3']."""
    import numpy as np

    from cryptolstm.market import panel as panel_mod
    from cryptolstm.modelling import windows

    cube = model.cube(panel_mod.until(panel, last_day))
    e = cube.last_index_on_or_before(panel_mod.to_day(last_day))
    plan = windows.index_plan(~np.isnan(cube.x).any(axis=2), ~np.isnan(cube.log_close), model.config.window,
                              model.config.horizons, first=max(0, e - days + 1), last=e)
    if len(plan.t) < 2:
        return []
    sign = np.sign(model.predict_cells(cube, plan.coin, plan.t))  # [N, H]
    return [f"final model h{h + 1}" for h in range(sign.shape[1]) if (sign[:, h] == sign[0, h]).all()]


def decide(dsn: str, end: datetime, model_id: str, config: PipelineConfig) -> dict:
    """Judge the challenger, promote or reject, and record the decision with every figure.

    No champion: the first-model rule on the challenger's walk-forward (figures computed by the weekly
    training task on exactly its cells, `challenger.first_model_gate`). A champion: the paired day-block
    bootstrap on the largest common set of out-of-sample cells (`validation_predictions_select_common_cells`). Either way a
    challenger whose sign does not depend on its input (a walk-forward (fold, horizon), or the final
    model on its last 120 as-of days) or whose artifact does not load is rejected, with the reason. A
    decision already recorded for this interval is returned as it was."""
    import numpy as np

    from cryptolstm.market import panel as panel_mod

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
    # The artifact must load before it can replace anything; the loaded model's sign must move.
    try:
        model = registry.load_model(dsn, model_id)
        artifact_error = None
        flat = final_model_constant_sign(model, panel_mod.read_candles(dsn, until=challenger.training_cutoff),
                                         challenger.training_cutoff)
    except registry.ArtifactError as exc:
        artifact_error, flat = str(exc), []
    metrics = challenger.metrics or {}
    extra = {"champion_training_cutoff": champion and str(champion.training_cutoff),
             "promotion_config": asdict(config.promotion), "final_model_constant_sign": flat}

    if artifact_error is not None:
        decision = promotion.Decision(False, f"challenger artifact unusable: {artifact_error}",
                                      details={"artifact_error": artifact_error})
    elif champion is None:
        gate = metrics.get("first_model_gate")
        if gate is None:
            decision = promotion.Decision(False, "first model: no walk-forward gate figures recorded with it")
        else:
            decision = promotion.Decision(**{**gate, "challenger_da_ci": _pair(gate.get("challenger_da_ci")),
                                             "da_diff_ci": None})
            if flat:
                decision = replace(decision, promoted=False, reason=(
                    decision.reason.replace(": promoted:", ": not promoted:", 1)
                    + f"; constant-sign: its sign does not depend on its input in {', '.join(flat)}"),
                    details={**decision.details, "constant_sign": decision.details.get("constant_sign", []) + flat})
        extra["walk_forward"] = {k: metrics.get(k) for k in ("eval_start", "eval_end", "n_cells", "baseline_da")}
    else:
        with storage.transaction(dsn) as cur:
            cur.execute(storage.query("validation_predictions_select_common_cells"), {
                "challenger_id": model_id, "champion_id": champion.model_id,
                "cutoff": challenger.training_cutoff})
            cells = cur.fetchall()  # (coin, as_of, horizon, challenger_pred, champion_pred, realised, live)
        arr = np.array([c[3:6] for c in cells], dtype=np.float64).reshape(-1, 3)
        day = np.array([c[1].toordinal() for c in cells], dtype=np.int64)
        n_live = sum(bool(c[6]) for c in cells)
        sources = {"cells_champion_live": n_live, "cells_both_walk_forward": len(cells) - n_live,
                   "first_as_of": str(cells[0][1]) if cells else None, "last_as_of": str(cells[-1][1]) if cells else None}
        constant = [f"fold {f} h{h}" for f, h in metrics.get("constant_sign", [])] + flat
        decision = promotion.challenger_vs_champion(arr[:, 2], arr[:, 0], arr[:, 1], day, config.promotion,
                                                    constant_sign=constant, sources=sources)
    details = {**decision.details, **extra}
    ci, dci = decision.challenger_da_ci or (None, None), decision.da_diff_ci or (None, None)
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
            "reason": decision.reason, "details": registry.to_json(details),
            "challenger_da_ci_low": ci[0], "challenger_da_ci_high": ci[1],
            "da_diff_ci_low": dci[0], "da_diff_ci_high": dci[1]})
        cur.execute(storage.query("promotion_decisions_select_one"), {"decided_for": end, "challenger_id": model_id})
        return _decision_dict(cur.fetchone(), reused=False)


def _pair(v):
    return tuple(v) if v is not None else None


def _decision_dict(row, reused: bool) -> dict:
    d = dict(zip(_DECISION_KEYS, row))
    d["decided_for"] = d["decided_for"].isoformat()
    d["reused"] = reused
    return d


def decision_email(d: dict, week_end: date) -> tuple[str, str]:
    """(subject, HTML body) of one recorded decision: the verdict, the reason and every figure."""
    verdict = "PROMOTED" if d["promoted"] else "REJECTED"
    subject = f"[cryptolstm] weekly {verdict}: {d['challenger_id']} ({week_end})"
    fmt = lambda v: "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else html.escape(str(v)))  # noqa: E731
    rows = [(k, d[k]) for k in ("challenger_id", "champion_id", "challenger_da", "challenger_da_ci_low",
                                "challenger_da_ci_high", "champion_da", "da_diff_ci_low", "da_diff_ci_high",
                                "n_cells", "p_value")]
    det = d.get("details") or {}
    rows += [(f"baseline DA: {k}", v) for k, v in sorted((det.get("baseline_da") or {}).items())]
    rows += [(k, det[k]) for k in ("n_days", "constant_sign", "final_model_constant_sign", "cells_champion_live",
                                   "cells_both_walk_forward", "margin", "alpha", "block_days", "n_boot") if k in det]
    body = ("<p>Weekly promotion decision for the week ending " f"{week_end}: <b>{verdict}</b></p>"
            f"<p>{html.escape(d['reason'])}</p><table border='1' cellpadding='3'>"
            + "".join(f"<tr><td>{html.escape(k)}</td><td>{fmt(v)}</td></tr>" for k, v in rows)
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
            "details": json.dumps({"manual": True, "retired": t.retired}), "challenger_da_ci_low": None,
            "challenger_da_ci_high": None, "da_diff_ci_low": None, "da_diff_ci_high": None})
    return {"model_id": model_id, "champion_from": str(effective), "retired": t.retired}
