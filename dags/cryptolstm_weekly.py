"""
# cryptolstm weekly retrain with gated promotion

Runs once per week (interval `[end - 7 days, end)`, `end` = Sunday 00:00 UTC). The challenger is
trained on data up to the **training cutoff** `end - 1 day`; if promoted it serves as champion for
the as-of days from `end` on.

1. **sync_candles** — make sure every closed candle up to `end` is stored (idempotent UPSERT).
2. **prepare** → **plan_members** / **plan_baselines** → **train_member**, **fit_baselines** (mapped) →
   **gather_members** — the
   challenger is a seed ensemble of K members (`CRYPTOLSTM_ENSEMBLE_MEMBERS`, else the profile's `n_seeds`).
   **prepare** reads the candles once and stores the run's preparation (the feature cube, and per walk-forward
   fold and for the final fit its cells, scaler and input description) under a content key: the digest of the
   candles and the configuration, so a corrected candle gives a new key. One mapped `train_member` task per
   (walk-forward fold × member) and one per final-fit member loads it (it never rebuilds features) and trains
   one network; its piece is `{model_id, prep_key, fold, member}` (fold null: the final fit), named in the UI
   "fold 2, member 1" or "final fit, member 0". The walk-forward is the `cryptolstm evaluate` computation
   (5 folds × 120 as-of days, each fold trained strictly before the days it scores). A fold's task stores its
   member's out-of-sample predictions and training facts, a final-fit task its weights, in one transaction
   that replaces exactly its own rows: a failed member is retried alone, and a rerun or backfill rewrites the
   same rows. A task whose preparation is missing (deleted, other candles) or damaged fails at once, without
   retries, naming the key: rerun the run from **prepare**. One mapped **fit_baselines** task per fold fits
   every baseline on the fold's training cells (default queue, beside the members' training) and stores their
   predictions. **gather_members** averages the stored members per cell, scores them next to the stored
   baselines, merges the final members (one preparation digest, members 0..K-1) into ONE K-member bundle and
   registers it as a *candidate* with its metrics, the members' spread, the first-model gate figures (judged
   on the ensemble), hyperparameters, code version, artifact + sha256. It refuses, without retries, when a
   piece is missing or a fold's piece has facts without predictions (the message names the (fold, member)
   pairs, or the fold whose baselines are missing; nothing is registered and the champion is kept): rerun
   those tasks, then the gather. It then deletes the pieces (member rows, fold baselines, preparation) of the
   models registered `CRYPTOLSTM_MEMBER_RETENTION_WEEKS` (4) or more weeks before the interval.
3. **wait_for_daily** — the daily runs whose forecasts are compared must have finished (backfills).
4. **decide** — first model: DA >= every naive rule, 95 % day-block bootstrap lower end > 0.5, sign
   depends on the input. Challenger vs champion: paired day-block bootstrap of the DA difference on the
   largest common set of out-of-sample cells, promoted when above the margin with one-sided p < alpha.
   A constant-sign challenger or one whose artifact does not load is rejected. Every figure is recorded.
5. **notify** — email the decision.

A run without a data interval (triggered with no logical date) is refused by **check_interval**, once,
with one message; every other task is then upstream-failed, without emails. So is, before anything is
synced or trained, a run for a week ending before the latest recorded decision whose own challenger is
not decided (weeks are decided in calendar order, so it could never be): the message names both weeks
and the backfill order that redoes history (README, "Backfill"). A rerun of a decided week passes.

`max_active_runs=1`: decisions are made in calendar order. Training size is selected by
`CRYPTOLSTM_TRAIN_PROFILE` (`full` in production, `tiny` in tests and CI). Routing (CeleryExecutor):
`prepare`, `train_member`, `gather_members` and `decide` run on the `train` queue in the `tensorflow` pool (the pool's
slots cap how many members train at once, over every worker), `sync_candles` in the `exchange` pool
(docs/deploy.md). `cryptolstm pipeline train` runs the same pieces in one process.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, PokeReturnValue, dag, task

from cryptolstm_common import (CANDLES, DAILY_DAG_ID, DECISIONS, EXCHANGE_POOL, MODELS, TENSORFLOW_POOL, TRAIN_QUEUE,
                               WEEKLY_DAG_ID, dsn, library_step, on_failure, require_interval, send_email,
                               sensor_poke_s)


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
    @task  # a refusal fails at once, never retried (a database error is)
    def check_interval(data_interval_start=None, data_interval_end=None) -> str:
        from cryptolstm import pipeline

        interval = require_interval(WEEKLY_DAG_ID, data_interval_start, data_interval_end)
        library_step(pipeline.check_week_order, dsn(), data_interval_end)  # a later week decided: OutOfOrderWeek
        return interval

    @task(outlets=[CANDLES], pool=EXCHANGE_POOL)
    def sync_candles(data_interval_start=None, data_interval_end=None) -> dict:
        from cryptolstm import pipeline

        return library_step(pipeline.sync_candles, dsn(), data_interval_start, data_interval_end)

    @task(queue=TRAIN_QUEUE)  # fails with AirflowFailException when it cannot succeed on retry
    def prepare(data_interval_end=None) -> dict:
        from cryptolstm import pipeline

        return library_step(pipeline.prepare, dsn(), data_interval_end)

    @task
    def plan_members(prepared: dict, data_interval_end=None) -> list[dict]:
        from cryptolstm import pipeline

        return pipeline.plan_members(data_interval_end, prepared)

    @task
    def plan_baselines(prepared: dict, data_interval_end=None) -> list[dict]:
        from cryptolstm import pipeline

        return pipeline.plan_baselines(data_interval_end, prepared)

    @task(execution_timeout=pendulum.duration(hours=2), queue=TRAIN_QUEUE, pool=TENSORFLOW_POOL,
          map_index_template="{{ piece }}")  # the UI names each mapped task "fold 2, member 1", not "7"
    def train_member(piece: dict, data_interval_end=None) -> dict:
        from airflow.sdk import get_current_context

        from cryptolstm import pipeline

        get_current_context()["piece"] = pipeline.Piece.from_xcom(piece).name
        return library_step(pipeline.train_member, dsn(), data_interval_end, piece)

    @task(map_index_template="fold {{ fold }} baselines")  # every baseline of one fold, beside the members' training
    def fit_baselines(spec: dict, data_interval_end=None) -> dict:
        from airflow.sdk import get_current_context

        from cryptolstm import pipeline

        get_current_context()["fold"] = spec["fold"]
        return library_step(pipeline.fit_baselines, dsn(), data_interval_end, spec)

    @task(outlets=[MODELS], execution_timeout=pendulum.duration(hours=1), queue=TRAIN_QUEUE, pool=TENSORFLOW_POOL)
    def gather_members(prepared: dict, data_interval_end=None) -> dict:
        from cryptolstm import pipeline

        # missing pieces fail it at once: a retry cannot bring them (rerun the missing tasks)
        return library_step(pipeline.gather_members, dsn(), data_interval_end, prepared)

    @task.sensor(poke_interval=sensor_poke_s(), timeout=6 * 3600, mode="reschedule")
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

        # a later week decided meanwhile (OutOfOrderWeek) fails it at once: a retry cannot help
        return library_step(pipeline.decide, dsn(), data_interval_end, trained["model_id"])

    @task
    def notify(decision: dict, data_interval_end=None) -> dict:
        from cryptolstm import pipeline

        return pipeline.notify_decision(dsn(), data_interval_end, send_email)

    interval = check_interval()
    synced, waited = sync_candles(), wait_for_daily()
    interval >> [synced, waited]
    prepared = prepare()
    synced >> prepared
    trained = gather_members(prepared)
    members, baselines = plan_members(prepared), plan_baselines(prepared)
    [train_member.expand(piece=members), fit_baselines.expand(spec=baselines)] >> trained
    decision = decide(trained)
    waited >> decision
    notify(decision)


weekly_dag = cryptolstm_weekly()
