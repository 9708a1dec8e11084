"""
# cryptolstm weekly retrain with gated promotion

Runs once per week (interval `[end - 7 days, end)`, `end` = Sunday 00:00 UTC). The challenger is
trained on data up to the **training cutoff** `end - 1 day`; if promoted it serves as champion for
the as-of days from `end` on.

1. **sync_candles** — make sure every closed candle up to `end` is stored (idempotent UPSERT).
2. **train_challenger** — ONE walk-forward, the `cryptolstm evaluate` computation (5 folds x 120 as-of
   days, each fold trained strictly before the days it scores, every baseline on the same cells), then
   the ONE challenger fit on everything up to the cutoff, registered as a *candidate* with its metrics,
   first-model gate figures, hyperparameters, code version, artifact + sha256.
3. **wait_for_daily** — the daily runs whose forecasts are compared must have finished (backfills).
4. **decide** — first model: DA >= every naive rule, 95 % day-block bootstrap lower end > 0.5, sign
   depends on the input. Challenger vs champion: paired day-block bootstrap of the DA difference on the
   largest common set of out-of-sample cells, promoted when above the margin with one-sided p < alpha.
   A constant-sign challenger or one whose artifact does not load is rejected. Every figure is recorded.
5. **notify** — email the decision.

A run without a data interval (triggered with no logical date) is refused by **check_interval**, once,
with one message; every other task is then upstream-failed, without emails.

`max_active_runs=1`: decisions are made in calendar order. Training size is selected by
`CRYPTOLSTM_TRAIN_PROFILE` (`full` in production, `tiny` in tests and CI). Routing (CeleryExecutor):
`train_challenger` and `decide` run on the `train` queue in the `tensorflow` pool, `sync_candles` in the
`exchange` pool (docs/deploy.md).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, PokeReturnValue, dag, task

from cryptolstm_common import (CANDLES, DAILY_DAG_ID, DECISIONS, EXCHANGE_POOL, MODELS, TENSORFLOW_POOL, TRAIN_QUEUE,
                               WEEKLY_DAG_ID, dsn, on_failure, require_interval, send_email)


@dag(
    dag_id=WEEKLY_DAG_ID,
    schedule=CronDataIntervalTimetable("0 0 * * 0", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cryptolstm", "weekly", "training"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5), "on_failure_callback": on_failure},
    doc_md=__doc__,
)
def cryptolstm_weekly():
    @task  # fails with AirflowFailException: never retried
    def check_interval(data_interval_start=None, data_interval_end=None) -> str:
        return require_interval(WEEKLY_DAG_ID, data_interval_start, data_interval_end)

    @task(outlets=[CANDLES], pool=EXCHANGE_POOL)
    def sync_candles(data_interval_start=None, data_interval_end=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from cryptolstm import pipeline

        try:
            return pipeline.sync_candles(dsn(), data_interval_start, data_interval_end)
        except pipeline.ExchangeBanned as exc:  # never retried: a request during a ban lengthens it
            raise AirflowFailException(str(exc)) from exc

    @task(outlets=[MODELS], execution_timeout=pendulum.duration(hours=2), queue=TRAIN_QUEUE, pool=TENSORFLOW_POOL)
    def train_challenger(data_interval_end=None) -> dict:
        from cryptolstm import pipeline

        return pipeline.train_challenger(dsn(), data_interval_end)

    @task.sensor(poke_interval=60, timeout=6 * 3600, mode="reschedule")
    def wait_for_daily(data_interval_end=None, ti=None) -> PokeReturnValue:
        """The daily runs whose forecasts the decision compares must be finished (matters in backfills)."""
        from cryptolstm import pipeline

        days = [pipeline.utc_midnight(d) for d in pipeline.comparison_days(data_interval_end)]
        total = ti.get_dr_count(dag_id=DAILY_DAG_ID, logical_dates=days)
        done = ti.get_dr_count(dag_id=DAILY_DAG_ID, logical_dates=days, states=["success", "failed"])
        return PokeReturnValue(done == total, {"daily_runs": total, "finished": done})

    @task(outlets=[MODELS, DECISIONS], queue=TRAIN_QUEUE, pool=TENSORFLOW_POOL)  # loads the challenger
    def decide(trained: dict, data_interval_end=None) -> dict:
        from cryptolstm import pipeline

        return pipeline.decide(dsn(), data_interval_end, trained["model_id"])

    @task
    def notify(decision: dict, data_interval_end=None) -> dict:
        from cryptolstm import pipeline

        return pipeline.notify_decision(dsn(), data_interval_end, send_email)

    interval = check_interval()
    synced, waited = sync_candles(), wait_for_daily()
    interval >> [synced, waited]
    trained = train_challenger()
    synced >> trained
    decision = decide(trained)
    waited >> decision
    notify(decision)


weekly_dag = cryptolstm_weekly()
