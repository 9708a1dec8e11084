"""The one-call steps of the DAGs: each takes the DSN and the run's data interval, does one thing,
and returns a small JSON-able dict for the task log and XCom. No Airflow import here.

Daily (data interval [start, end) = the UTC day that just closed; as_of = start.date()):
    ingest_coin -> build_features -> forecast -> score -> check_alerts -> render_charts
Weekly (interval [end - 7 d, end); training cutoff = end.date() - 1, the new champion serves from end.date()):
    sync_candles -> train_challenger -> decide -> notify_decision

Every key comes from the data interval, never from the clock, so a rerun or a backfill of an
interval rewrites that interval's rows with the same values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from cryptolstm import storage
from cryptolstm.serving.alerts import AlertConfig, SendFn
from cryptolstm.config import Settings
from cryptolstm.serving.promotion import PromotionConfig

log = logging.getLogger(__name__)
HORIZONS = 5
PURGE = 5  # days between a walk-forward fold's last training target and its first scored day


@dataclass(frozen=True)
class PipelineConfig:
    train_profile: str = "full"  # "full": TrainConfig() (production); "tiny": TrainConfig.tiny() (tests, CI)
    wf_folds: int = 2  # walk-forward folds of the weekly challenger check (one model fit each)
    wf_days: int = 56  # as-of days the weekly walk-forward scores; >= 7 * promotion.weeks
    stale_after_days: int = 21  # a champion older than this (days since training cutoff) forecasts but alerts
    charts_dir: Path | None = None  # where render_charts writes PNGs; None: <state_dir>/charts
    provisional: bool = True  # no champion yet: the newest model trained before the day forecasts it, labelled
    #                           provisional (False: such days get no forecast, only the no_champion alert)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "PipelineConfig":
        """Overrides: CRYPTOLSTM_TRAIN_PROFILE, CRYPTOLSTM_WF_FOLDS, CRYPTOLSTM_WF_DAYS,
        CRYPTOLSTM_STALE_DAYS, CRYPTOLSTM_CHARTS_DIR, CRYPTOLSTM_PROVISIONAL (1/0), CRYPTOLSTM_PROMOTION_*,
        CRYPTOLSTM_ALERT_*."""
        env = os.environ if environ is None else environ
        profile = env.get("CRYPTOLSTM_TRAIN_PROFILE", cls.train_profile)
        if profile not in ("full", "tiny"):
            raise ValueError(f"CRYPTOLSTM_TRAIN_PROFILE must be 'full' or 'tiny', not {profile!r}")
        stale = int(env.get("CRYPTOLSTM_STALE_DAYS", cls.stale_after_days))
        alerts = AlertConfig.from_env(env)
        if "CRYPTOLSTM_ALERT_STALE_DAYS" not in env:
            from dataclasses import replace

            alerts = replace(alerts, stale_after_days=stale)
        provisional = env.get("CRYPTOLSTM_PROVISIONAL", "1").strip().lower()
        if provisional not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"CRYPTOLSTM_PROVISIONAL must be 1 or 0, not {provisional!r}")
        cfg = cls(train_profile=profile, provisional=provisional in ("1", "true", "yes", "on"),
                  wf_folds=int(env.get("CRYPTOLSTM_WF_FOLDS", cls.wf_folds)),
                  wf_days=int(env.get("CRYPTOLSTM_WF_DAYS", cls.wf_days)), stale_after_days=stale,
                  charts_dir=Path(env["CRYPTOLSTM_CHARTS_DIR"]) if env.get("CRYPTOLSTM_CHARTS_DIR") else None,
                  promotion=PromotionConfig.from_env(env), alerts=alerts)
        if cfg.wf_days < 7 * cfg.promotion.weeks:
            raise ValueError(f"wf_days {cfg.wf_days} must cover the {cfg.promotion.weeks} comparison weeks")
        return cfg

    def train_config(self):
        from cryptolstm.modelling.train import TrainConfig

        return TrainConfig.tiny() if self.train_profile == "tiny" else TrainConfig()


def _day(value) -> date:
    """A data-interval bound (datetime, aware or not) or a date as a date."""
    return value.date() if isinstance(value, datetime) else value


# ---- daily ------------------------------------------------------------------------------------------

class IngestFailed(RuntimeError):
    """One coin could not be ingested for the interval (the report says why)."""


def ingest_coin(dsn: str, coin: str, start: datetime, end: datetime) -> dict:
    """Closed candles of `coin` for [start, end) (+ overlap); raises IngestFailed when the coin failed."""
    from cryptolstm.market import ingest

    report = ingest.ingest_coin(dsn, Settings.from_env().market, coin, start, end)
    if report["status"] == "failed":
        raise IngestFailed(f"{coin} [{start}, {end}): {report['error']}")
    return {k: report.get(k) for k in ("coin", "status", "requests", "stored", "revised", "rejected", "missing_days",
                                       "bootstrap")}


def sync_candles(dsn: str, start: datetime, end: datetime) -> dict:
    """All configured coins for [start, end) (the weekly run makes sure its training data is there)."""
    from cryptolstm.market import ingest

    reports = ingest.ingest_interval(dsn, Settings.from_env().market, start, end)
    failed = {r["coin"]: r.get("error") for r in reports if r["status"] == "failed"}
    if failed:
        raise IngestFailed(f"[{start}, {end}): failed coins {failed}")
    return {"coins": len(reports), "stored": sum(r.get("stored", 0) for r in reports),
            "partial": [r["coin"] for r in reports if r["status"] == "partial"]}


def build_features(dsn: str, as_of: date, overlap_days: int = 3) -> dict:
    """Upsert the feature rows of days [as_of - overlap, as_of], computed from candles <= as_of only."""
    from cryptolstm.modelling import features
    from cryptolstm.market import panel as panel_mod

    as_of = _day(as_of)
    panel = panel_mod.read_candles(dsn, until=as_of)
    if len(panel) == 0:
        return {"as_of": as_of.isoformat(), "rows": 0, "coins": []}
    f = features.build_features(panel)
    first = panel_mod.to_day(as_of - timedelta(days=overlap_days))
    f = f[(f["day"] >= first) & (f["day"] <= panel_mod.to_day(as_of))]
    with storage.transaction(dsn) as cur:
        for r in f.to_dict("records"):
            values = {k: float(r[k]) for k in features.FEATURES}
            cur.execute(storage.query("features_upsert"), {
                "coin": r["coin"], "day": r["day"].date(), "feature_version": features.FEATURE_VERSION,
                "values": json.dumps(values, sort_keys=True)})
    today = f[f["day"] == panel_mod.to_day(as_of)]
    return {"as_of": as_of.isoformat(), "rows": int(len(f)), "coins": sorted(today["coin"].unique().tolist()),
            "feature_version": features.FEATURE_VERSION}


def forecast(dsn: str, as_of: date, run_id: str, config: PipelineConfig | None = None) -> dict:
    from cryptolstm.serving.forecast import forecast_as_of

    config = config or PipelineConfig.from_env()
    return forecast_as_of(dsn, _day(as_of), run_id, stale_after_days=config.stale_after_days,
                          provisional=config.provisional, expire_after_days=config.alerts.expire_after_days)


def score(dsn: str, as_of: date) -> dict:
    from cryptolstm.serving.scoring import score_matured

    return score_matured(dsn, _day(as_of))


def check_alerts(dsn: str, as_of: date, send: SendFn, config: PipelineConfig | None = None) -> dict:
    from cryptolstm.serving import alerts

    config = config or PipelineConfig.from_env()
    return alerts.check_alerts(dsn, _day(as_of), send, config.alerts)


def render_charts(dsn: str, as_of: date, config: PipelineConfig | None = None) -> dict:
    """Non-critical last step: PNG charts of the day; a failure is reported in the result, not raised."""
    config = config or PipelineConfig.from_env()
    out_dir = config.charts_dir or Settings.from_env().state_dir / "charts"
    try:
        from cryptolstm.ui.charts import render_charts as render

        paths = render(dsn, _day(as_of), out_dir)
        return {"status": "ok", "files": [str(p) for p in paths]}
    except Exception as exc:  # charts never fail the forecasting run; the error is in the log and the result
        log.exception("charts for %s failed", as_of)
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def weekly_boundary(as_of: date) -> date:
    """The last weekly decision day on or before `as_of` (a Sunday: the weekly DAG's interval end)."""
    as_of = _day(as_of)
    return as_of - timedelta(days=(as_of.weekday() + 1) % 7)


def decision_recorded(dsn: str, week_end: date) -> bool:
    """Has the weekly run whose interval ends at `week_end` 00:00 UTC recorded its decision?"""
    with storage.transaction(dsn) as cur:
        cur.execute("SELECT 1 FROM promotion_decisions WHERE decided_for = %s::date::timestamptz LIMIT 1",
                    (_day(week_end),))
        return cur.fetchone() is not None


# ---- weekly -----------------------------------------------------------------------------------------

def model_id_for(cutoff: date, hyperparams: dict) -> str:
    """Deterministic id: the training cutoff plus a digest of the configuration and feature version."""
    digest = hashlib.sha256(json.dumps(hyperparams, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"lstm-{cutoff:%Y%m%d}-{digest}"


def evaluation_window(week_end: date, config: PipelineConfig) -> tuple[date, date]:
    """As-of days the weekly walk-forward scores: the last `wf_days` days whose 5 targets are known
    at the training cutoff (week_end - 1)."""
    last = week_end - timedelta(days=1 + HORIZONS)
    return last - timedelta(days=config.wf_days - 1), last


def comparison_days(end: datetime, config: PipelineConfig | None = None) -> list[date]:
    """As-of days whose champion forecasts the weekly decision of the interval ending `end` compares
    (the daily runs of these days must be finished before the decision)."""
    config = config or PipelineConfig.from_env()
    _, last = evaluation_window(_day(end), config)
    return [last - timedelta(days=k) for k in range(7 * config.promotion.weeks - 1, -1, -1)]


def train_challenger(dsn: str, end: datetime, config: PipelineConfig | None = None, log_fn=log.info) -> dict:
    """Walk-forward the configuration over the evaluation window, train the challenger on data up to
    the cutoff, register it as a candidate with its metrics and store its out-of-sample predictions.

    A rerun of the same interval finds the model already registered and returns it unchanged.
    """
    from cryptolstm.modelling import features, train  # noqa: F401
    from cryptolstm.market import panel as panel_mod
    from cryptolstm.serving import registry
    from cryptolstm.evaluation import walkforward as validation

    config = config or PipelineConfig.from_env()
    week_end = _day(end)
    cutoff = week_end - timedelta(days=1)
    tc = config.train_config()
    ident = {"train": asdict(tc), "feature_version": features.FEATURE_VERSION, "wf_folds": config.wf_folds,
             "wf_days": config.wf_days}
    model_id = model_id_for(cutoff, ident)
    with storage.transaction(dsn) as cur:
        existing = registry.get(cur, model_id)
    if existing is not None:
        return {"model_id": model_id, "reused": True, "training_cutoff": str(cutoff), "status": existing.status}
    panel = panel_mod.read_candles(dsn, until=cutoff)
    if len(panel) == 0:
        raise ValueError(f"no candles up to {cutoff}: ingest history first")
    eval_start, eval_end = evaluation_window(week_end, config)
    wf = validation.walk_forward(panel, tc, n_folds=config.wf_folds, eval_start=eval_start, eval_end=eval_end,
                                 with_baselines=False, log=log_fn)
    model = train.fit(panel, cutoff, tc)
    if model.training_cutoff != cutoff:
        raise RuntimeError(f"fit returned cutoff {model.training_cutoff}, asked {cutoff}")
    fold_cutoff = {f["fold"]: date.fromisoformat(f["cutoff"]) for f in wf.folds}
    metrics = {"da": wf.metrics["da"], "mae_ratio_rw": wf.metrics["mae_ratio_rw"], "n_cells": wf.metrics["n_cells"],
               "eval_start": str(eval_start), "eval_end": str(eval_end), "folds": wf.folds,
               "overall": wf.metrics["models"]["model"]["overall"],
               "per_horizon": wf.metrics["models"]["model"]["per_horizon"]}
    artifact = model.to_bytes()
    with storage.transaction(dsn) as cur:
        rec = registry.register(cur, model_id=model_id, created_for=end, training_cutoff=cutoff,
                                feature_version=model.feature_version, hyperparams={**model.hyperparams(), **ident},
                                code_version=registry.code_version(), metrics=metrics, artifact=artifact)
        for r in wf.predictions.itertuples(index=False):
            cur.execute(storage.query("validation_prediction_insert"), {
                "model_id": model_id, "coin": r.coin, "as_of": r.as_of, "horizon": int(r.horizon),
                "fold": int(r.fold), "fold_cutoff": fold_cutoff[int(r.fold)],
                "pred_log_return": float(r.pred_log_return), "realised_log_return": float(r.realised_log_return),
                "always_up": 1.0})
    return {"model_id": model_id, "reused": False, "training_cutoff": str(cutoff), "status": rec.status,
            "wf_da": metrics["da"], "wf_cells": metrics["n_cells"], "artifact_bytes": len(artifact),
            "eval_window": [str(eval_start), str(eval_end)], "wf_seconds": round(wf.seconds, 1)}


def decide(dsn: str, end: datetime, model_id: str, config: PipelineConfig | None = None) -> dict:
    """Compare the challenger with the point-in-time champion on the same cells, promote or reject,
    and record the decision. A decision already recorded for this interval is returned as it was."""
    import numpy as np

    from cryptolstm.serving import promotion, registry

    config = config or PipelineConfig.from_env()
    week_end = _day(end)
    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("decision_get"), {"decided_for": end, "challenger_id": model_id})
        row = cur.fetchone()
        if row is not None:
            return _decision_dict(row, reused=True)
        cur.execute("SELECT max(decided_for) FROM promotion_decisions")
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
            cur.execute(storage.query("promotion_cells"), {"challenger_id": model_id, "champion_id": champion.model_id,
                                                          "first": cmp_start, "last": eval_end})
            cells = cur.fetchall()  # (coin, as_of, horizon, challenger_pred, champion_pred, realised, has_challenger)
            usable = [c for c in cells if c[6]]
            extra = {"comparison_window": [str(cmp_start), str(eval_end)], "champion_cells": len(cells),
                     "champion_cells_without_challenger": len(cells) - len(usable)}
        else:
            cur.execute(storage.query("validation_cells"), {"model_id": model_id})
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
        cur.execute(storage.query("decision_insert"), {
            "decided_for": end, "challenger_id": model_id, "champion_id": champion and champion.model_id,
            "promoted": decision.promoted, "challenger_da": decision.challenger_da,
            "champion_da": decision.champion_da, "n_cells": decision.n_cells, "p_value": decision.p_value,
            "reason": decision.reason, "details": registry.to_json(details)})
        cur.execute(storage.query("decision_get"), {"decided_for": end, "challenger_id": model_id})
        return _decision_dict(cur.fetchone(), reused=False)


def _decision_dict(row, reused: bool) -> dict:
    keys = ("decided_for", "challenger_id", "champion_id", "promoted", "challenger_da", "champion_da", "n_cells",
            "p_value", "reason")
    d = dict(zip(keys, row))
    d["decided_for"] = d["decided_for"].isoformat()
    d["reused"] = reused
    return d


def notify_decision(dsn: str, end: datetime, send: SendFn) -> dict:
    """Email the interval's promotion decision(s) with the numbers."""
    import html

    with storage.transaction(dsn) as cur:
        cur.execute(storage.query("decision_for_interval"), {"decided_for": end})
        rows = cur.fetchall()
    if not rows:
        raise RuntimeError(f"no promotion decision recorded for the week ending {end}")
    sent = []
    for row in rows:
        d = _decision_dict(row, reused=False)
        verdict = "PROMOTED" if d["promoted"] else "REJECTED"
        subject = f"[cryptolstm] weekly {verdict}: {d['challenger_id']} ({_day(end)})"
        fmt = lambda v: "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else html.escape(str(v)))
        body = ("<p>Weekly promotion decision for the week ending " f"{_day(end)}: <b>{verdict}</b></p>"
                f"<p>{html.escape(d['reason'])}</p><table border='1' cellpadding='3'>"
                + "".join(f"<tr><td>{k}</td><td>{fmt(d[k])}</td></tr>"
                          for k in ("challenger_id", "champion_id", "challenger_da", "champion_da", "n_cells", "p_value"))
                + "</table>")
        send(subject, body)
        sent.append(d["challenger_id"])
    return {"emailed": sent}


# ---- operator actions ---------------------------------------------------------------------------------

def promote_manually(dsn: str, model_id: str, effective: date, reason: str) -> dict:
    """An operator makes `model_id` champion from `effective` (e.g. the very first model); recorded as a
    decision for `effective` 00:00 UTC like a weekly one, with the reason given."""
    from cryptolstm.serving import registry

    if not reason.strip():
        raise ValueError("a manual promotion needs a reason")
    decided_for = datetime(effective.year, effective.month, effective.day, tzinfo=timezone.utc)
    with storage.transaction(dsn) as cur:
        champion = registry.current_champion(cur)
        m = registry.get(cur, model_id)
        if m is None:
            raise KeyError(f"no model {model_id!r}")
    registry.load_model(dsn, model_id)  # refuse an artifact that does not load
    with storage.transaction(dsn) as cur:
        t = registry.promote(cur, model_id, effective)
        cur.execute(storage.query("decision_insert"), {
            "decided_for": decided_for, "challenger_id": model_id, "champion_id": champion and champion.model_id,
            "promoted": True, "challenger_da": (m.metrics or {}).get("da"), "champion_da": None, "n_cells": 0,
            "p_value": None, "reason": f"manual: {reason}",
            "details": json.dumps({"manual": True, "retired": t.retired})})
    return {"model_id": model_id, "champion_from": str(effective), "retired": t.retired}
