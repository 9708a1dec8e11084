"""Promotion decisions: compare a registered challenger with the point-in-time champion, record the
verdict in `promotion_decisions`, email it, and the operator's manual promotion.

The statistics of the gate live in `serving.promotion` (pure arrays). The first-model rule was judged
where its evidence is complete, by the weekly training (`promotion.GateEvidence` in the challenger's
registry metrics); a challenger facing a champion is judged here on the cells both have. `judge` is a
pure function of that evidence; `decide` gathers it, records the outcome and returns it. A decision
already recorded for an interval is returned as it was, so reruns never decide twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import NamedTuple

import numpy as np

from cryptolstm import storage
from cryptolstm.calendar import as_date, utc_midnight
from cryptolstm.config import PipelineConfig, PromotionConfig
from cryptolstm.errors import Permanent
from cryptolstm.serving import mail, promotion, registry


@dataclass(frozen=True)
class DecisionRecord:
    """One `promotion_decisions` row (the columns of `promotion_decisions_select_*`, in order)."""

    decided_for: datetime
    challenger_id: str
    champion_id: str | None
    promoted: bool
    challenger_da: float | None
    champion_da: float | None
    n_cells: int
    p_value: float | None
    reason: str
    challenger_da_ci_low: float | None = None
    challenger_da_ci_high: float | None = None
    da_diff_ci_low: float | None = None
    da_diff_ci_high: float | None = None
    details: dict = field(default_factory=dict)

    @classmethod
    def of(cls, decided_for: datetime, challenger_id: str, champion_id: str | None, d: promotion.Decision,
           details: dict) -> DecisionRecord:
        ci, dci = d.challenger_da_ci or (None, None), d.da_diff_ci or (None, None)
        return cls(decided_for, challenger_id, champion_id, d.promoted, d.challenger_da, d.champion_da, d.n_cells,
                   d.p_value, d.reason, ci[0], ci[1], dci[0], dci[1], details)

    def as_dict(self, reused: bool) -> dict:
        """JSON-able, as the weekly task returns it."""
        return {**asdict(self), "decided_for": self.decided_for.isoformat(), "reused": reused}


class CommonCell(NamedTuple):
    """One row of `validation_predictions_select_common_cells`."""

    coin: str
    as_of: date
    horizon: int
    challenger_pred: float
    champion_pred: float
    realised: float
    live: bool  # the champion's prediction is a matured live forecast (else its walk-forward)


def decision_recorded(dsn: str, week_end: date) -> bool:
    """Has the weekly run whose interval ends at `week_end` 00:00 UTC recorded its decision?"""
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("promotion_decisions_exists"), {"week_end": as_date(week_end)})
        return cur.fetchone() is not None


class OutOfOrderWeek(Permanent, RuntimeError):
    """A weekly run for a week ending before the latest recorded decision: weeks are decided in calendar
    order, so its challenger could never be decided, and no retry can change that."""


BACKFILL_ORDER = ("the documented backfill order (README, 'Backfill'; docs/sql.md, 'Backfill: what the system would "
                  "have done'): the weekly DAG from the first week to redo on, then the daily DAG, into a database "
                  "where no later week is decided yet")


def require_in_order(dsn: str, end: datetime, model_id: str) -> dict:
    """Before any training: raise OutOfOrderWeek when the challenger `model_id` of the weekly run ending `end`
    could never be decided, i.e. a later decision is recorded and this week's is not (a rerun of a decided
    week returns its recorded decision, so it passes)."""
    with storage.transaction(dsn) as cur:
        if _select_one(cur, end, model_id) is not None:
            return {"week_end": str(as_date(end)), "model_id": model_id, "decided": True}
        _refuse_out_of_order(cur, end, "nothing was trained, registered or decided")
    return {"week_end": str(as_date(end)), "model_id": model_id, "decided": False}


def _refuse_out_of_order(cur, end: datetime, done: str) -> None:
    """OutOfOrderWeek when a decision is recorded for a day after `end`; `done`: what the run left behind."""
    cur.execute(storage.query("promotion_decisions_select_latest"))
    latest = cur.fetchone()[0]
    if latest is not None and latest > end:
        raise OutOfOrderWeek(
            f"the weekly run for the week ending {as_date(end)} comes after a decision recorded for "
            f"{as_date(latest)}, a later week: weeks are decided in calendar order, so this one can never be "
            f"decided; {done}, the champion stays, and a retry cannot change that. To redo history from the "
            f"week ending {as_date(end)}, replay it in {BACKFILL_ORDER}; a week already decided reruns as it was")


def judge(evidence: promotion.GateEvidence | None, champion: registry.ModelRecord | None, cells: list[CommonCell],
          config: PromotionConfig, artifact_error: str | None) -> tuple[promotion.Decision, dict]:
    """(decision, the PromotionConfig that judged it as a dict). A challenger whose artifact does not load is
    rejected. No champion: the first-model rule judged by the weekly training. A champion: the paired
    day-block bootstrap on the common cells; a challenger with any constant-sign finding (walk-forward or
    final model) is rejected either way."""
    if artifact_error is not None:
        return (promotion.Decision(False, f"challenger artifact unusable: {artifact_error}",
                                   details={"artifact_error": artifact_error}), asdict(config))
    if evidence is None:
        what = "first model" if champion is None else "challenger"
        return (promotion.Decision(False, f"{what}: no walk-forward gate figures recorded with it"),
                asdict(config))
    if champion is None:
        return evidence.first_model_gate, evidence.promotion_config
    y = np.array([c.realised for c in cells], dtype=np.float64)  # [N]
    challenger = np.array([c.challenger_pred for c in cells], dtype=np.float64)  # [N]
    champion_pred = np.array([c.champion_pred for c in cells], dtype=np.float64)  # [N]
    n_live = sum(c.live for c in cells)
    sources = {"cells_champion_live": n_live, "cells_both_walk_forward": len(cells) - n_live,
               "first_as_of": str(cells[0].as_of) if cells else None,
               "last_as_of": str(cells[-1].as_of) if cells else None}
    day = np.array([c.as_of.toordinal() for c in cells], dtype=np.int64)
    return (promotion.challenger_vs_champion(
        y, challenger, champion_pred, day, config,
        constant_sign=evidence.constant_sign + evidence.final_model_constant_sign, sources=sources), asdict(config))


def decide(dsn: str, end: datetime, model_id: str, config: PipelineConfig) -> dict:
    """Judge the challenger registered for the weekly interval ending `end` (`judge`), promote or reject
    it, and record the decision with every figure. A decision already recorded is returned as it was."""
    week_end = as_date(end)
    with storage.transaction(dsn) as cur:
        recorded = _select_one(cur, end, model_id)
        if recorded is not None:
            return recorded.as_dict(reused=True)
        _refuse_out_of_order(cur, end, f"{model_id} stays an undecided candidate that never serves, nothing "
                                       "was decided")
        challenger = registry.get(cur, model_id)
        if challenger is None:
            raise KeyError(f"challenger {model_id} is not registered")
        # the previous champion's range is open-ended: it serves week_end too
        champion = registry.champion_as_of(cur, week_end) or registry.current_champion(cur)
        cells = [] if champion is None else _common_cells(cur, challenger, champion)
    try:  # the artifact must load before it can replace anything
        registry.load_model(dsn, model_id)
        artifact_error = None
    except registry.ArtifactError as exc:
        artifact_error = str(exc)
    metrics = challenger.metrics or {}
    evidence = promotion.GateEvidence.from_metrics(metrics)
    decision, judged_with = judge(evidence, champion, cells, config.promotion, artifact_error)
    details = {**decision.details, "champion_training_cutoff": champion and str(champion.training_cutoff),
               "promotion_config": judged_with,
               "final_model_constant_sign": evidence and evidence.final_model_constant_sign}
    if champion is None:
        details["walk_forward"] = {k: metrics.get(k) for k in ("eval_start", "eval_end", "n_cells", "baseline_da")}
    with storage.transaction(dsn) as cur:
        if decision.promoted:
            details["retired"] = registry.promote(cur, model_id, week_end).retired
        else:
            registry.reject(cur, model_id)
        _insert(cur, DecisionRecord.of(end, model_id, champion and champion.model_id, decision, details))
        return _select_one(cur, end, model_id).as_dict(reused=False)


def _common_cells(cur, challenger: registry.ModelRecord, champion: registry.ModelRecord) -> list[CommonCell]:
    cur.execute(storage.query("validation_predictions_select_common_cells"), {
        "challenger_id": challenger.model_id, "champion_id": champion.model_id,
        "cutoff": challenger.training_cutoff})
    return [CommonCell(*row) for row in cur.fetchall()]


def _select_one(cur, decided_for: datetime, challenger_id: str) -> DecisionRecord | None:
    cur.execute(storage.query("promotion_decisions_select_one"),
                {"decided_for": decided_for, "challenger_id": challenger_id})
    row = cur.fetchone()
    return DecisionRecord(*row) if row else None


def _insert(cur, record: DecisionRecord) -> None:
    cur.execute(storage.query("promotion_decisions_insert"),
                {**asdict(record), "details": registry.to_json(record.details)})


def tier_section(tiers: dict | None) -> tuple[list[str], list[tuple[str, object]]]:
    """(paragraphs, rows) of the challenger's walk-forward evidence per confidence tier (metrics["tiers"], issue 26):
    DA per tier with its 95 % day-block interval, and each baseline's DA on its own top cells at the high tier's
    coverage. Nothing for a model without it."""
    if not tiers:
        return [], []
    para = (f"Confidence tiers on the walk-forward (score {tiers.get('score')}, high = top {tiers.get('high_share', 0):.0%}"
            f" of cells, low = bottom {tiers.get('low_share', 0):.0%}; the gate above judged every cell). A rule's "
            "line is its DA on its own most confident cells at the same coverage.")
    rows: list[tuple[str, object]] = []
    for t in ("high", "medium", "low"):
        e = tiers.get(t) or {}
        if e.get("da") is not None:
            lo, hi = e.get("ci") or (None, None)
            rows.append((f"tier {t}: DA [95 %], cells", f"{e['da']:.4f} [{lo:.4f}, {hi:.4f}], {e.get('n')}"))
    rows += [(f"tier high, h{h}", v) for h, v in sorted((tiers.get("high_per_horizon") or {}).items())]
    rows += [(f"at coverage: {b}", (e or {}).get("da")) for b, e in sorted((tiers.get("baselines_at_coverage") or {}).items())]
    return [para], rows


def decision_email(d: DecisionRecord, week_end: date, tiers: dict | None = None) -> mail.Mail:
    """The mail of one recorded decision: the verdict, the reason and every figure, and the challenger's evidence
    per confidence tier (`tier_section`) when it has one."""
    verdict = "PROMOTED" if d.promoted else "REJECTED"
    det = d.details or {}
    rows = [(k, getattr(d, k)) for k in ("challenger_id", "champion_id", "challenger_da", "challenger_da_ci_low",
                                         "challenger_da_ci_high", "champion_da", "da_diff_ci_low", "da_diff_ci_high",
                                         "n_cells", "p_value")]
    rows += [(f"baseline DA: {k}", v) for k, v in sorted((det.get("baseline_da") or {}).items())]
    rows += [(k, det[k]) for k in ("n_days", "constant_sign", "final_model_constant_sign", "cells_champion_live",
                                   "cells_both_walk_forward", "margin", "alpha", "block_days", "n_boot") if k in det]
    paragraphs, tier_rows = tier_section(tiers)
    return mail.report(f"[cryptolstm] weekly {verdict}: {d.challenger_id} ({week_end})",
                       [f"Weekly promotion decision for the week ending {week_end}: {verdict}", d.reason, *paragraphs],
                       rows + tier_rows)


def notify_decision(dsn: str, end: datetime, send: mail.SendFn) -> dict:
    """Email the interval's promotion decision(s) with the numbers."""
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("promotion_decisions_select_interval"), {"decided_for": end})
        records = [DecisionRecord(*row) for row in cur.fetchall()]
        challengers = {r.challenger_id: registry.get(cur, r.challenger_id) for r in records}
    if not records:
        raise RuntimeError(f"no promotion decision recorded for the week ending {end}")
    for record in records:
        m = challengers[record.challenger_id]
        send(decision_email(record, as_date(end), ((m and m.metrics) or {}).get("tiers")))
    return {"emailed": [r.challenger_id for r in records]}


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
        _insert(cur, DecisionRecord(utc_midnight(effective), model_id, champion and champion.model_id, True,
                                    (m.metrics or {}).get("da"), None, 0, None, f"manual: {reason}",
                                    details={"manual": True, "retired": t.retired}))
    return {"model_id": model_id, "champion_from": str(effective), "retired": t.retired}
