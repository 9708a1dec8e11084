"""
# cryptolstm daily forecast

Runs once per UTC day for the day that just closed (the **data interval** `[start, end)`; the
forecast's *as-of* day is `start`):

1. **ingest** — closed daily candles through ccxt into `candles`, one mapped task per coin of the
   training universe (the 9 served coins + the auxiliary ones the shared model also learns from;
   a failing coin fails only its task, a delisted one is marked inactive and keeps its history).
   An exchange ban (HTTP 418) fails the task that met it at once, never retried, with one email naming
   the ban and its end; while it is in force the other ingest tasks are skipped without asking.
2. **wait_for_weekly** — once every coin's ingest is done (whatever its state): if the weekly run that
   decides the champion for this day exists, wait until it has recorded its decision (a backfill then
   reproduces what live would have done).
3. **forecast** — the point-in-time champion (champion on the as-of day AND trained before it) reads
   the candle history once, builds the features once and forecasts h = 1..5 for every coin into
   `forecasts`. Before the first promotion the newest model trained before the day forecasts **provisionally**
   (`v_latest_forecasts.served_as`; off with `CRYPTOLSTM_PROVISIONAL=0`); every row carries its 80 % /
   95 % ranges. No model at all, or a model trained more than 42 days before the day
   (`CRYPTOLSTM_ALERT_EXPIRE_DAYS`) -> the task is **skipped**.
4. **score** — forecasts whose target day has closed get their outcome in `forecast_scores`.
5. **alerts** — live DA (on evidence: its 95 % interval), range coverage, stale / expired / missing
   champion recorded in `alerts`, email on a change of state.
6. **charts** — PNG charts of the day (non-critical).
7. **day_complete** — the run's verdict. It runs only when no task of the run failed (`none_failed`),
   so the run is **red whenever any task failed** — the forecast above all — while score, alerts and
   charts still run after a failed forecast. It then checks that every served coin trading that day
   has its 5 forecasts. A forecast **skipped** for lack of a model (none yet, or expired) leaves the
   run **green**: nothing failed, and the alerts task mails the no_champion / expired alert.

A day whose candles are missing fails the forecast with a message naming the latest stored day; a
corrupted model artifact (or one whose coin vocabulary disagrees with its registry row) or a model trained
on features the code no longer computes fails it too; none of them is retried. A run without a data
interval (triggered with no logical date) is refused by **check_interval**, once, with one message; the
other tasks are skipped or upstream-failed without sending emails.

Every step writes only the rows of its interval, keyed by the interval, so reruns and backfills are
idempotent. Connections: `cryptolstm_db` (forecasting database), `smtp_default` (email).
Routing (CeleryExecutor): `forecast` runs on the `train` queue in the `tensorflow` pool, `ingest` in the
`exchange` pool; the rest on the default queue (docs/deploy.md).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, PokeReturnValue, dag, task

from cryptolstm_common import (ALERTS, CANDLES, DAILY_DAG_ID, EXCHANGE_POOL, FORECASTS, SCORES,
                               TENSORFLOW_POOL, TRAIN_QUEUE, WEEKLY_DAG_ID, as_of_day, dsn, library_step,
                               on_failure, require_interval, send_email, sensor_poke_s)


@dag(
    dag_id=DAILY_DAG_ID,
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # days in order: alert state changes and backfills follow the calendar
    tags=["cryptolstm", "daily", "forecast"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=2), "on_failure_callback": on_failure},
    doc_md=__doc__,
)
def cryptolstm_daily():
    @task  # fails with AirflowFailException: never retried
    def check_interval(data_interval_start=None, data_interval_end=None) -> str:
        return require_interval(DAILY_DAG_ID, data_interval_start, data_interval_end)

    @task
    def coins() -> list[str]:
        """The training universe (served + auxiliary coins): all are ingested, the served ones forecast."""
        from cryptolstm import pipeline

        return pipeline.universe()

    @task(outlets=[CANDLES], max_active_tis_per_dagrun=3, pool=EXCHANGE_POOL)
    def ingest(coin: str, data_interval_start=None, data_interval_end=None) -> dict:
        from cryptolstm import pipeline

        # an exchange ban is never retried (a request during a ban lengthens it): the task that met it fails, the
        # others are skipped
        return library_step(pipeline.ingest_coin, dsn(), coin, data_interval_start, data_interval_end)

    # all_done: a coin whose ingest failed (its task is red) must not keep the other coins from a forecast
    @task.sensor(poke_interval=sensor_poke_s(), timeout=6 * 3600, mode="reschedule", trigger_rule="all_done")
    def wait_for_weekly(data_interval_start=None, ti=None) -> PokeReturnValue:
        from airflow.sdk.exceptions import AirflowFailException

        from cryptolstm import pipeline

        week_end = pipeline.weekly_boundary(as_of_day(data_interval_start))
        run = [pipeline.weekly_logical_date(week_end)]
        count = lambda **states: ti.get_dr_count(dag_id=WEEKLY_DAG_ID, logical_dates=run, **states)  # noqa: E731
        wait = pipeline.weekly_wait(decided=pipeline.decision_recorded(dsn(), week_end), runs=count(),
                                    failed=count(states=["failed"]), succeeded=count(states=["success"]))
        if wait.failed:
            raise AirflowFailException(f"the weekly run for the week ending {week_end} failed: "
                                       "rerun it before forecasting this day")
        return PokeReturnValue(wait.ready, {"week_end": week_end.isoformat(), "weekly": wait.reason})

    @task(outlets=[FORECASTS], queue=TRAIN_QUEUE, pool=TENSORFLOW_POOL)
    def forecast(data_interval_start=None, run_id=None) -> dict:
        from cryptolstm import pipeline

        # skipped when no model may serve the day (the alerts task mails no_champion / expired)
        return library_step(pipeline.forecast, dsn(), as_of_day(data_interval_start), run_id)

    @task(outlets=[SCORES], trigger_rule="all_done")  # older forecasts mature whatever happened today
    def score(data_interval_start=None) -> dict:
        from cryptolstm import pipeline

        return pipeline.score(dsn(), as_of_day(data_interval_start))

    @task(outlets=[ALERTS], trigger_rule="all_done")
    def alerts(data_interval_start=None) -> dict:
        from cryptolstm import pipeline

        return pipeline.check_alerts(dsn(), as_of_day(data_interval_start), send_email)

    @task(trigger_rule="all_done", retries=1)
    def charts(data_interval_start=None) -> dict:
        from cryptolstm import pipeline

        return pipeline.render_charts(dsn(), as_of_day(data_interval_start))

    @task(trigger_rule="none_failed")  # upstream_failed (not run, no email) if any task failed
    def day_complete(forecast_result: dict | None, data_interval_start=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from cryptolstm import pipeline

        verdict = pipeline.day_complete(dsn(), as_of_day(data_interval_start), forecast_result)
        if not (verdict["complete"] or verdict["forecast_skipped"]):  # stored rows: a retry cannot help
            raise AirflowFailException(verdict["message"])
        return verdict

    interval = check_interval()
    universe = coins()
    weekly = wait_for_weekly()
    interval >> [universe, weekly]
    ingested = ingest.expand(coin=universe)
    ingested >> weekly
    fc = forecast()
    weekly >> fc
    scored, alerted, charted = score(), alerts(), charts()
    fc >> scored >> alerted >> charted
    # the only leaf, downstream of every task: the run's state is its state
    [interval, ingested, weekly, scored, alerted, charted] >> day_complete(fc)


daily_dag = cryptolstm_daily()
