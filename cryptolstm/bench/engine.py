"""`cryptolstm bench-engine`: one weekly DAG run on the real Airflow services, timed task by task.

It starts the local runtime (`runtime.services.up`: embedded PostgreSQL, api-server, scheduler, dag-processor,
triggerer; with the CeleryExecutor also redis and N `airflow celery worker` processes) in a throw-away state
folder, with the recorded candles replayed by the exchange stand-in. The candles up to the week's last day are
stored first (as the daily runs would have ingested them), then ONE weekly run is backfilled for the week ending
`week_end` and waited for. Its task instances are read back from Airflow's REST API: start, end and duration of
each task (a mapped task once per map index), its queue and host, and under Celery the worker that executed it:
the local runtime's workers record their own name as the task instance's host (`celery-worker-N@<host>`,
`services.worker_hostname`), so the REST API's `hostname` names the worker.

It reads task instances only, so it times any shape of the weekly DAG: one `train_challenger`, or one mapped
training task per (fold x member) with a gather after them. The projection to more workers is
wall(w) = plan + ceil(training tasks / w) x mean training task + after training (docs/scale.md).
"""

from __future__ import annotations

import math
import os
import socket
import statistics
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

WEEK_END = date(2025, 2, 16)  # Sunday ending the benchmarked week (both recorded folders cover it)
MEMBERS_ENV = "CRYPTOLSTM_ENSEMBLE_MEMBERS"  # seed-ensemble size K, passed through to every Airflow process
TRAINING_PREFIX = "train"  # training tasks' ids start with it: train_challenger, the mapped train_member
# Settings that would point a benchmark at a real database, exchange, mail server or state folder: unset for it.
OUTSIDE_ENV = ("AIRFLOW_CONN_CRYPTOLSTM_DB", "AIRFLOW_CONN_CRYPTOLSTM_READER", "CRYPTOLSTM_DSN",
               "CRYPTOLSTM_READER_DSN", "CRYPTOLSTM_EXCHANGE_URL", "AIRFLOW_CONN_SMTP_DEFAULT", "CRYPTOLSTM_STATE_DIR")


@dataclass(frozen=True)
class TaskRun:
    """One task instance of the benchmarked run."""

    task_id: str
    map_index: int  # -1: not mapped
    state: str
    start: datetime | None
    end: datetime | None
    queue: str | None
    hostname: str | None  # as Airflow records it
    worker: str | None  # the Celery worker that executed it (celery-worker-N); None under the LocalExecutor
    tries: int

    @property
    def seconds(self) -> float | None:
        return (self.end - self.start).total_seconds() if self.start and self.end else None

    @property
    def training(self) -> bool:
        return self.task_id.startswith(TRAINING_PREFIX)


@dataclass(frozen=True)
class Span:
    """The run's wall time, cut at the training tasks: plan + training + after = wall."""

    wall: float  # first task start -> last task end
    plan: float  # first task start -> first training task start
    training: float  # first training task start -> last training task end
    after: float  # last training task end -> last task end (gather, decision, email)
    training_tasks: int
    training_sum: float  # the training tasks' durations added up
    training_median: float

    @property
    def training_mean(self) -> float:
        return self.training_sum / self.training_tasks

    def projected_wall(self, workers: int) -> float:
        """wall(w) = plan + ceil(training tasks / w) x mean training task + after."""
        return self.plan + math.ceil(self.training_tasks / workers) * self.training_mean + self.after


@dataclass(frozen=True)
class WeekRun:
    """One weekly DAG run of a backfill: its week, final state and task instances."""

    week_end: date
    state: str
    tasks: tuple[TaskRun, ...]


@dataclass(frozen=True)
class EngineRun:
    """What `run` measured."""

    executor: str
    workers: int  # Celery workers (1 under the LocalExecutor)
    concurrency: int  # tasks per Celery worker
    coins: int
    profile: str
    folds: str  # CRYPTOLSTM_WF_FOLDS as run ("default": the configuration's)
    members: str  # CRYPTOLSTM_ENSEMBLE_MEMBERS as run ("default": the DAG's)
    week_end: date
    state: str  # the DAG run's final state
    dag_tasks: tuple[str, ...]  # the weekly DAG's task ids, as Airflow parsed them
    tasks: tuple[TaskRun, ...]
    startup_seconds: float  # services up, before the run
    backfill: tuple[WeekRun, ...] = ()  # with weeks > 1: every week's run of the backfill, oldest first (the
    #                                     fields above are its last week's)


def worker_of(hostname: str | None, worker_prefix: str) -> str | None:
    """The Celery worker a task instance's host names (`<worker_prefix>-N@<host>`); None for any other host."""
    name = (hostname or "").partition("@")[0]
    return name if name.startswith(f"{worker_prefix}-") else None


def task_runs(instances: list[dict], worker_prefix: str) -> list[TaskRun]:
    """The REST API's task instances as TaskRuns, in start order; the worker is read from each one's host."""
    def when(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    runs = [TaskRun(task_id=ti["task_id"], map_index=ti.get("map_index", -1), state=ti.get("state") or "none",
                    start=when(ti.get("start_date")), end=when(ti.get("end_date")), queue=ti.get("queue"),
                    hostname=ti.get("hostname") or None, worker=worker_of(ti.get("hostname"), worker_prefix),
                    tries=ti.get("try_number") or 0) for ti in instances]
    never = datetime.max.replace(tzinfo=timezone.utc)
    return sorted(runs, key=lambda r: (r.start or never, r.task_id, r.map_index))


def span(tasks: list[TaskRun] | tuple[TaskRun, ...]) -> Span | None:
    """The run's wall time and its cut at the training tasks; None without a finished training task."""
    done = [t for t in tasks if t.start and t.end]
    train = [t for t in done if t.training]
    if not train:
        return None
    first, last = min(t.start for t in done), max(t.end for t in done)
    t0, t1 = min(t.start for t in train), max(t.end for t in train)
    durations = [t.seconds for t in train]
    return Span(wall=(last - first).total_seconds(), plan=(t0 - first).total_seconds(),
                training=(t1 - t0).total_seconds(), after=(last - t1).total_seconds(), training_tasks=len(train),
                training_sum=sum(durations), training_median=statistics.median(durations))


def backfill_lines(weeks: tuple[WeekRun, ...]) -> list[str]:
    """The backfill's wall time (its first task start -> its last task end) and each week's run."""
    spans = [(w, span(w.tasks)) for w in weeks]
    done = [t for w in weeks for t in w.tasks if t.start and t.end]
    if not done:
        return [f"BACKFILL of {len(weeks)} weeks: no task finished"]
    wall = (max(t.end for t in done) - min(t.start for t in done)).total_seconds()
    return [f"BACKFILL of {len(weeks)} weekly runs, one at a time (first task start -> last task end): {wall:.1f} s",
            "  " + "; ".join(f"week ending {w.week_end} {w.state} {s.wall:.1f} s" if s else
                             f"week ending {w.week_end} {w.state}" for w, s in spans)]


def report(run: EngineRun, project: tuple[int, ...] = (1, 2, 4, 8, 16)) -> str:
    """The table of task times, the wall time cut at the training tasks, and the projection to more workers."""
    ex = "LocalExecutor" if run.executor == "local" else \
        f"CeleryExecutor, {run.workers} worker(s) x concurrency {run.concurrency}"
    lines = [f"weekly run for the week ending {run.week_end}: {ex}; profile {run.profile}, {run.coins} coins, "
             f"folds {run.folds}, members K {run.members}; DAG run {run.state} (services up in "
             f"{run.startup_seconds:.0f} s, not counted)", "",
             "| task | map index | state | queue | worker | host | tries | start (s) | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    starts = [t.start for t in run.tasks if t.start]
    origin = min(starts) if starts else None
    for t in run.tasks:
        at = f"{(t.start - origin).total_seconds():.1f}" if t.start and origin else "–"
        secs = f"{t.seconds:.1f}" if t.seconds is not None else "–"
        lines.append(f"| {t.task_id} | {t.map_index if t.map_index >= 0 else ''} | {t.state} | {t.queue or '–'} | "
                     f"{t.worker or '–'} | {t.hostname or '–'} | {t.tries} | {at} | {secs} |")
    missing = sorted(set(run.dag_tasks) - {t.task_id for t in run.tasks})
    if missing:
        lines.append(f"tasks of the DAG with no task instance: {', '.join(missing)}")
    s = span(run.tasks)
    if s is None:
        lines.append("no training task finished: no wall time to report")
        return "\n".join(lines) + "\n"
    lines += ["", f"WALL TIME (first task start -> last task end): {s.wall:.1f} s",
              f"  plan (-> first training task start) {s.plan:.1f} s + training span {s.training:.1f} s "
              f"+ after training (gather, decision, email) {s.after:.1f} s",
              f"training tasks: {s.training_tasks}, sum {s.training_sum:.1f} s, mean {s.training_mean:.1f} s, "
              f"median {s.training_median:.1f} s"]
    if run.executor == "celery":
        by_worker: dict[str, list[float]] = {}
        for t in run.tasks:
            if t.training and t.seconds is not None:
                by_worker.setdefault(t.worker or "unknown", []).append(t.seconds)
        lines.append("training per worker: " + ", ".join(f"{w} {len(v)} tasks {sum(v):.1f} s"
                                                        for w, v in sorted(by_worker.items())))
    lines.append(f"projection, wall(w) = {s.plan:.1f} + ceil({s.training_tasks} / w) x {s.training_mean:.1f} "
                 f"+ {s.after:.1f} s: " + ", ".join(f"w={w} {s.projected_wall(w):.0f} s" for w in project))
    if run.backfill:
        lines += [""] + backfill_lines(run.backfill)
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_environ(overrides: dict[str, str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """The benchmark's services' environment: `environ` (default os.environ, left unchanged) without OUTSIDE_ENV,
    with `overrides`."""
    base = os.environ if environ is None else environ
    return {**{k: v for k, v in base.items() if k not in OUTSIDE_ENV}, **overrides}


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def run(*, executor: str, workers: int, concurrency: int, replay_dir: Path, state_dir: Path,
        coins: tuple[str, ...] | None = None, profile: str = "full", folds: int | None = None,
        wf_days: int | None = None, members: int | None = None, week_end: date = WEEK_END, weeks: int = 1,
        timeout: float = 3600.0, log=print) -> EngineRun:
    """Start the services in `state_dir` (a throw-away folder), backfill the weekly run for the `weeks` weeks ending
    `week_end` (one run at a time, as a user's backfill) on the recorded candles of `replay_dir`, stop the
    services, and return what each task took (`timeout`: for each week's run).
    `coins`: the universe (None: the configured one, the 20 recorded coins by default); `folds`, `wf_days`,
    `members`: CRYPTOLSTM_WF_FOLDS, _WF_DAYS and the ensemble size K (None: their defaults)."""
    from cryptolstm.bench import recorded
    from cryptolstm.config import WEEKLY_DAG_ID
    from cryptolstm.environment import load_settings
    from cryptolstm.market.csv_files import csv_folders
    from cryptolstm.runtime import embedded_pg, services
    from cryptolstm.runtime.airflow_api import AirflowApi

    overrides = {"CRYPTOLSTM_TRAIN_PROFILE": profile, "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency)}
    if coins:
        overrides.update(CRYPTOLSTM_COINS=",".join(coins), CRYPTOLSTM_AUX_COINS="")
    for name, value in (("CRYPTOLSTM_WF_FOLDS", folds), ("CRYPTOLSTM_WF_DAYS", wf_days), (MEMBERS_ENV, members)):
        if value is not None:
            overrides[name] = str(value)
    env = service_environ(overrides)
    settings = replace(load_settings(env), state_dir=state_dir.resolve(), api_port=_free_port(),
                       smtp_port=_free_port(), standin_port=_free_port())
    universe = settings.market.universe()
    try:
        t0 = time.monotonic()
        services.up(settings, wait=300, log=log, replay_dir=replay_dir, executor=executor, workers=workers,
                    environ=env)
        startup = time.monotonic() - t0
        dsn = embedded_pg.start(settings)["forecast"]
        candles = recorded.panel(csv_folders(replay_dir, settings.market.quote), universe,
                                 until=week_end - timedelta(days=1))
        recorded.store(dsn, candles, fetched_at=_utc(week_end), quote=settings.market.quote,
                       exchange=settings.market.exchange)
        log(f"stored {len(candles)} candles of {len(universe)} coins up to {week_end - timedelta(days=1)}")
        api = AirflowApi(f"http://127.0.0.1:{settings.api_port}")
        api.wait_for_dag(WEEKLY_DAG_ID)
        api.set_paused(WEEKLY_DAG_ID, False)
        # the logical dates: the starts of the weekly intervals, oldest first
        starts = [_utc(week_end) - timedelta(days=7 * (weeks - i)) for i in range(weeks)]
        api.backfill(WEEKLY_DAG_ID, starts[0], starts[-1], reprocess="none")
        ran = []
        for start in starts:
            dag_run = api.wait_for_run(WEEKLY_DAG_ID, start, timeout=timeout, log=log)
            ran.append(WeekRun((start + timedelta(days=7)).date(), dag_run["state"], tuple(
                task_runs(api.task_instances(WEEKLY_DAG_ID, dag_run["dag_run_id"]), services.WORKER))))
        dag_tasks = tuple(api.tasks(WEEKLY_DAG_ID))
    finally:
        services.down(settings, log=lambda *_: None)
        embedded_pg.stop(settings)
    return EngineRun(executor=executor, workers=workers if executor == "celery" else 1, concurrency=concurrency,
                     coins=len(universe), profile=profile, folds=str(folds or "default"),
                     members=str(members or "default"), week_end=week_end, state=ran[-1].state,
                     dag_tasks=dag_tasks, tasks=ran[-1].tasks, startup_seconds=startup,
                     backfill=tuple(ran) if weeks > 1 else ())
