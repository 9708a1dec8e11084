"""The one-call steps of the DAGs: each takes the DSN and the run's data interval, does one thing,
and returns a small JSON-able dict for the task log and XCom. No Airflow import here.

Daily (data interval [start, end) = the UTC day that just closed; as_of = start.date()):
    ingest_coin -> forecast -> score -> check_alerts -> render_charts -> day_complete
Weekly (interval [end - 7 d, end); training cutoff = end.date() - 1, the new champion serves from end.date()):
    check_week_order -> sync_candles -> prepare -> plan_members -> train_member (one per walk-forward fold x
    member, one per final-fit member), and plan_baselines -> fit_baselines (one per fold) -> gather_members ->
    decide -> notify_decision; train_challenger runs the same pieces in one process

Every key comes from the data interval, never from the clock, so a rerun or a backfill of an
interval rewrites that interval's rows with the same values.

These steps are the library's entry points from the DAGs: a step given no configuration loads it from
the environment here (`cryptolstm.environment`), and passes it down; nothing below reads it.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from cryptolstm import calendar
from cryptolstm.calendar import (as_date, utc_midnight, weekly_boundary, weekly_logical_date,  # noqa: F401 (DAG API)
                                 weekly_wait)
from cryptolstm.config import HORIZONS, MarketConfig, PipelineConfig
from cryptolstm.environment import load_market, load_pipeline, load_settings
from cryptolstm.errors import Permanent
from cryptolstm.serving.decisions import OutOfOrderWeek  # noqa: F401 (DAG API: refusal)
from cryptolstm.serving.mail import SendFn
from cryptolstm.serving.members import MembersMissing, Piece  # noqa: F401 (DAG API: refusal, the pieces' names)

log = logging.getLogger(__name__)


# ---- daily ------------------------------------------------------------------------------------------

class IngestFailed(RuntimeError):
    """One coin could not be ingested for the interval (the report says why)."""


class ExchangeBanned(Permanent, IngestFailed):
    """The exchange banned this IP (HTTP 418): not to be retried, since every request during a ban lengthens
    it. `first`: this coin met the ban and recorded it (else a ban in force kept it from asking). `skip`: the
    task is skipped, not failed (a daily coin that did not ask: the coin that met the ban mails it, once)."""

    def __init__(self, message: str, until: datetime | None, first: bool, skip: bool = False):
        super().__init__(message)
        self.until, self.first, self.skip = until, first, skip


def universe(market: MarketConfig | None = None) -> list[str]:
    """The training universe (served + auxiliary coins): all are ingested, the served ones forecast."""
    return list((market or load_market()).universe())


def ingest_coin(dsn: str, coin: str, start: datetime, end: datetime, market: MarketConfig | None = None) -> dict:
    """Closed candles of `coin` for [start, end) (+ overlap); raises IngestFailed when the coin failed,
    ExchangeBanned when the exchange banned this IP (now, or a ban in force kept the coin from asking)."""
    from cryptolstm.market import ingest

    result = ingest.ingest_coin(dsn, market or load_market(), coin, start, end)
    report = result.to_dict()
    if result.banned:
        until = f"{result.banned_until:%Y-%m-%d %H:%M:%S} UTC" if result.banned_until else "unknown"
        raise ExchangeBanned(f"{coin} [{start}, {end}): exchange ban in force until {until}; no ingest task asks "
                             f"the exchange before then (rerun the day's ingest after it): {result.error}",
                             result.banned_until, result.ban_recorded, skip=not result.ban_recorded)
    if report["status"] == "failed":
        raise IngestFailed(f"{coin} [{start}, {end}): {report['error']}")
    return {k: report.get(k) for k in ("coin", "status", "requests", "stored", "revised", "rejected", "missing_days",
                                       "bootstrap")}


def sync_candles(dsn: str, start: datetime, end: datetime, market: MarketConfig | None = None) -> dict:
    """All configured coins for [start, end) (the weekly run makes sure its training data is there)."""
    from cryptolstm.market import ingest

    reports = ingest.ingest_interval(dsn, market or load_market(), start, end)
    failed = {r.coin: r.error for r in reports if r.status == "failed"}
    banned = [r for r in reports if r.banned]
    if banned:  # a retry during the ban asks nothing and lengthens nothing: fail once, naming the ban's end
        until = max((r.banned_until for r in banned if r.banned_until), default=None)
        raise ExchangeBanned(f"[{start}, {end}): exchange ban in force until "
                             f"{f'{until:%Y-%m-%d %H:%M:%S} UTC' if until else 'unknown'}; rerun the weekly run after "
                             f"it: failed coins {failed}", until, any(r.ban_recorded for r in banned))
    if failed:
        raise IngestFailed(f"[{start}, {end}): failed coins {failed}")
    return {"coins": len(reports), "stored": sum(r.stored for r in reports),
            "partial": [r.coin for r in reports if r.status == "partial"]}


def forecast(dsn: str, as_of: date, run_id: str, config: PipelineConfig | None = None,
             market: MarketConfig | None = None) -> dict:
    """The day's forecasts (`forecast_as_of`). Raises a `Permanent` error when a retry cannot help (a corrupted
    artifact, a model for other features, the day's candles missing); status no_champion / expired: nothing
    to forecast (`errors.nothing_to_do`)."""
    from cryptolstm.serving.forecast import forecast_as_of

    config = config or load_pipeline()
    return forecast_as_of(dsn, as_date(as_of), run_id, stale_after_days=config.alerts.stale_after_days,
                          provisional=config.provisional, expire_after_days=config.alerts.expire_after_days,
                          served=(market or load_market()).coins)


def day_complete(dsn: str, as_of: date, forecast_result: dict | None, market: MarketConfig | None = None) -> dict:
    """The daily run's verdict, once every other task has finished without failing:
    {as_of, complete, message, ...}; the DAG fails the run when `complete` is False after a forecast.

    `forecast_result` None means the forecast task was skipped: no model may serve the day (none
    yet, or the champion expired). That is not a failure of the run (nothing went wrong; the alerts
    task mails the no_champion / expired alert), so the run stays green and the verdict says why.
    Otherwise every served coin trading that day must have its 5 forecasts.
    """
    from cryptolstm.serving.forecast import day_coverage

    as_of = as_date(as_of)
    if forecast_result is None:
        return {"as_of": as_of.isoformat(), "complete": False, "forecast_skipped": True,
                "message": f"no forecast for {as_of}: no model may serve this day (see the alerts task)"}
    coins = list((market or load_market()).coins)
    return {**day_coverage(dsn, as_of, coins, HORIZONS), "forecast_skipped": False}


def score(dsn: str, as_of: date) -> dict:
    from cryptolstm.serving.scoring import score_matured

    return score_matured(dsn, as_date(as_of))


def check_alerts(dsn: str, as_of: date, send: SendFn, config: PipelineConfig | None = None) -> dict:
    from cryptolstm.serving import alerts

    config = config or load_pipeline()
    return alerts.check_alerts(dsn, as_date(as_of), send, config.alerts)


def render_charts(dsn: str, as_of: date, config: PipelineConfig | None = None) -> dict:
    """Non-critical last step: PNG charts of the day; a failure is reported in the result, not raised."""
    config = config or load_pipeline()
    out_dir = config.charts_dir or load_settings().state_dir / "charts"
    try:
        from cryptolstm.ui.charts import render_charts as render

        paths = render(dsn, as_date(as_of), out_dir)
        return {"status": "ok", "files": [str(p) for p in paths]}
    except Exception as exc:  # charts never fail the forecasting run; the error is in the log and the result
        log.exception("charts for %s failed", as_of)
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def comparison_days(end: date | datetime, config: PipelineConfig | None = None) -> list[date]:
    """As-of days whose daily runs the weekly decision of the interval ending `end` waits for."""
    return calendar.comparison_days(end, config or load_pipeline())


def decision_recorded(dsn: str, week_end: date) -> bool:
    """Has the weekly run whose interval ends at `week_end` 00:00 UTC recorded its decision?"""
    from cryptolstm.serving import decisions

    return decisions.decision_recorded(dsn, week_end)


# ---- weekly -----------------------------------------------------------------------------------------

def check_week_order(dsn: str, end: datetime, config: PipelineConfig | None = None) -> dict:
    """Before any training: OutOfOrderWeek when the weekly run ending `end` could never be decided (a later
    week is decided and this one's challenger is not); a rerun of a decided week passes."""
    from cryptolstm.serving import decisions, members

    return decisions.require_in_order(dsn, end, members.weekly_run(end, config or load_pipeline()).model_id)


def prepare(dsn: str, end: datetime, config: PipelineConfig | None = None) -> dict:
    """Make and store the weekly run's preparation once (cube, every fold's and the final fit's cells, scaler,
    input description), under the content key of its candles and configuration (see serving.members)."""
    from cryptolstm.serving import members

    return members.prepare(dsn, end, config or load_pipeline(), log_fn=log.info)


def plan_members(end: datetime, prepared: dict, config: PipelineConfig | None = None) -> list[dict]:
    """The weekly run's member pieces on the preparation `prepared`, one `Piece` (XCom form) per train_member task."""
    from cryptolstm.serving import members

    return members.plan_members(end, config or load_pipeline(), prepared)


def plan_baselines(end: datetime, prepared: dict, config: PipelineConfig | None = None) -> list[dict]:
    """The weekly run's folds on the preparation `prepared`, one spec per fit_baselines task."""
    from cryptolstm.serving import members

    return members.plan_baselines(end, config or load_pipeline(), prepared)


def train_member(dsn: str, end: datetime, piece: dict, config: PipelineConfig | None = None,
                 market: MarketConfig | None = None) -> dict:
    """Train and store one piece of `plan_members` on its stored preparation (a no-op once the model is
    registered); PreparationMissing / PreparationCorrupt when its preparation is absent or damaged."""
    from cryptolstm.serving import members

    return members.train_member(dsn, end, config or load_pipeline(), members.Piece.from_xcom(piece),
                                (market or load_market()).coins, log_fn=log.info)


def fit_baselines(dsn: str, end: datetime, spec: dict, config: PipelineConfig | None = None,
                  market: MarketConfig | None = None) -> dict:
    """Fit and store every challenger baseline of one walk-forward fold on the stored preparation."""
    from cryptolstm.serving import members

    return members.fit_baselines(dsn, end, config or load_pipeline(), spec, (market or load_market()).coins,
                                 log_fn=log.info)


def gather_members(dsn: str, end: datetime, prepared: dict, config: PipelineConfig | None = None, log_fn=log.info,
                   market: MarketConfig | None = None) -> dict:
    """Join the stored pieces into the registered K-member challenger; MembersMissing names absent pieces."""
    from cryptolstm.serving import challenger

    return challenger.gather_members(dsn, end, config or load_pipeline(), (market or load_market()).coins, prepared,
                                     log_fn)


def train_challenger(dsn: str, end: datetime, config: PipelineConfig | None = None, log_fn=log.info,
                     market: MarketConfig | None = None) -> dict:
    """Walk-forward, train and register the challenger of the week ending `end` in this process: the same
    prepare -> train_member (each piece of plan_members), fit_baselines (each fold) -> gather_members as the
    weekly DAG's tasks (see serving.challenger)."""
    from cryptolstm.serving import challenger

    return challenger.train_challenger(dsn, end, config or load_pipeline(), served=(market or load_market()).coins,
                                       log_fn=log_fn)


def decide(dsn: str, end: datetime, model_id: str, config: PipelineConfig | None = None) -> dict:
    """Promote or reject the challenger and record the decision (see serving.decisions)."""
    from cryptolstm.serving import decisions

    return decisions.decide(dsn, end, model_id, config or load_pipeline())


def notify_decision(dsn: str, end: datetime, send: SendFn) -> dict:
    """Email the interval's promotion decision(s) with the numbers."""
    from cryptolstm.serving import decisions

    return decisions.notify_decision(dsn, end, send)
