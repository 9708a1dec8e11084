"""`cryptolstm bench-scale`: the cost of each stage of the system against the number of coins.

For each universe size (default 9, 20, 90, 900 coins; 9 = the served coins, 20 = every real coin of the
recorded data, larger = real + synthetic coins from `bench.universe`) it measures

* ingest   — a bootstrap of the whole history, then one daily interval, through the exchange stand-in and
             the real ccxt client into a fresh PostgreSQL database (requests and wall time);
* features — `modelling.features.build_features` over the whole panel;
* cube     — `modelling.windows.build_cube` (wall time, the cube's bytes);
* epoch    — one training epoch of the default `TrainConfig` model on the fitting cells of the whole
             history (wall per epoch and per window). Above `--max-train-windows` windows, the epoch is
             run on that many cells drawn uniformly and the full epoch is extrapolated per window;
* train    — one real `train.fit` of one member of the default `TrainConfig` on the whole history, stopped after `--train-steps`
             gradient steps (the early-stopping evaluation of that epoch still runs): seconds per step (the
             first steps, which trace the graph, not counted), the fit process's peak RSS, and the projected
             weekly run (steps per epoch x max epochs x (walk-forward folds + the final fit) x K members x seconds
             per step).
             A fit whose RSS passes `--train-rss-cap-gib` is killed and reported as such (never swaps the machine);
* forecast — the daily forecast (`serving.forecast.forecast_as_of`: registry load, SQL read, features, cube,
             predict, upsert) for the last day, with a registered default-architecture champion whose weights
             are untrained (the cost of a forecast does not depend on the weights' values).

Each stage runs in a fresh process, so its peak RSS (`ru_maxrss`) is its own. The growth exponent k of
each stage (time ~ coins^k) is the slope of a least-squares line through (log coins, log seconds).
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import platform
import resource
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

SIZES = (9, 20, 90, 900)
STAGES = ("ingest_bootstrap", "ingest_daily", "features", "cube", "epoch", "train", "forecast")


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


# ---- stages (each runs in its own process) -------------------------------------------------------

def _stage_ingest(data_dir: str, dsn: str, coins: list[str], last_day: str) -> dict:
    from cryptolstm.config import MarketConfig
    from cryptolstm.market import ingest
    from cryptolstm.runtime.standin import StandIn

    last = date.fromisoformat(last_day)
    out = {}
    with StandIn(data_dir, now=(last + timedelta(days=1)).isoformat()) as ex:
        market = MarketConfig(coins=tuple(coins), auxiliary=(), api_url=ex.url)
        for name, start, end in (("ingest_bootstrap", _utc(last - timedelta(days=1)), _utc(last)),
                                 ("ingest_daily", _utc(last), _utc(last + timedelta(days=1)))):
            ex.reset_stats()
            t0 = time.perf_counter()
            reports = ingest.ingest_interval(dsn, market, start, end)
            wall = time.perf_counter() - t0
            failed = [r.coin for r in reports if r.status == "failed"]
            if failed:
                raise RuntimeError(f"{name}: failed coins {failed[:5]}: {reports[0].error}")
            out[name] = {"seconds": wall, "requests": ex.requests(),
                         "rows": sum(r.stored + r.revised for r in reports)}
    out["ingest_bootstrap"]["maxrss_mib"] = out["ingest_daily"]["maxrss_mib"] = _maxrss_mib()
    return out


def _load(data_dir: str):
    from cryptolstm.market.panel import load_csv_dir

    return load_csv_dir(data_dir)


def _stage_features(data_dir: str) -> dict:
    from cryptolstm.modelling import features

    panel = _load(data_dir)
    t0 = time.perf_counter()
    f = features.build_features(panel)
    return {"features": {"seconds": time.perf_counter() - t0, "rows": len(f), "maxrss_mib": _maxrss_mib()}}


def _stage_cube(data_dir: str) -> dict:
    from cryptolstm.modelling import features, windows
    from cryptolstm.modelling.bundle import vocabulary

    panel = _load(data_dir)
    f = features.build_features(panel)
    t0 = time.perf_counter()
    cube = windows.build_cube(f, panel, vocabulary(panel["coin"].unique()), list(features.FEATURES))
    wall = time.perf_counter() - t0
    return {"cube": {"seconds": wall, "mib": (cube.x.nbytes + cube.log_close.nbytes) / 2**20,
                     "shape": list(cube.x.shape), "maxrss_mib": _maxrss_mib()}}


def _stage_epoch(data_dir: str, max_windows: int) -> dict:
    """One steady-state epoch of the production member fit (`train.fit_member` on `train.prepare_fit`) over the
    fitting windows, or a uniform draw of `max_windows` of them, extrapolated to all."""
    import keras
    import numpy as np

    from cryptolstm.config import TrainConfig
    from cryptolstm.modelling import train, windows

    config = replace(TrainConfig(), n_seeds=1, max_epochs=2)  # the production model; the 2nd epoch is timed
    cube = train.build_cube(_load(data_dir))
    prepared = train.prepare_fit(cube, cube.days[-1], config)
    fit_cells = prepared.fit_cells
    n_all = len(fit_cells.t)
    pick = np.arange(n_all)
    if n_all > max_windows:  # a uniform draw, kept in chronological order (timing only: no model is kept)
        pick = np.sort(np.random.default_rng(0).choice(n_all, max_windows, replace=False))
    cells = windows.Plan(fit_cells.coin[pick], fit_cells.t[pick], fit_cells.trainable[pick])
    ends: list[float] = []

    class EpochEnds(keras.callbacks.Callback):  # the first epoch traces the graph: only the second is timed
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.perf_counter())

    no_early_stopping = windows.Plan(cells.coin[:0], cells.t[:0], cells.trainable[:0])
    train.fit_member(replace(prepared, fit_cells=cells, es_cells=no_early_stopping), config, 0,
                     callbacks=(EpochEnds(),), label="bench")
    if len(ends) != 2:
        raise RuntimeError(f"expected 2 epochs from train.fit_member, saw {len(ends)}")
    per_window = (ends[1] - ends[0]) / len(pick)
    return {"epoch": {"seconds": per_window * n_all, "measured_seconds": ends[1] - ends[0],
                      "measured_windows": int(len(pick)), "windows": int(n_all), "per_window_ms": per_window * 1000,
                      "extrapolated": bool(n_all > len(pick)), "maxrss_mib": _maxrss_mib()}}


def _stage_train(data_dir: str, steps: int) -> dict:
    """One `train.fit` of the production config on the whole history, capped at `steps` gradient steps."""
    import math

    from cryptolstm.bench.train import step_cap, timed_steps
    from cryptolstm.config import WF_FOLDS, TrainConfig
    from cryptolstm.modelling import train

    members = TrainConfig().n_seeds  # K: a weekly run fits K members per fold and K final members
    config = replace(TrainConfig(), n_seeds=1)  # one member: what one mapped training task fits
    cube = train.build_cube(_load(data_dir))
    rss_before = _maxrss_mib()
    # the same data path, scaler, early-stopping data and model as production, stopped after `steps` steps
    ends: list[float] = []
    t0 = time.perf_counter()
    model = train.fit(cube, cube.days[-1], config, label="bench", callbacks=(step_cap(steps, ends),))
    wall = time.perf_counter() - t0
    timed = timed_steps(ends)
    per_step = sum(timed) / len(timed)
    steps_per_epoch = math.ceil(model.info["n_fit_windows"] / config.batch_size)
    fits = (WF_FOLDS + 1) * members
    return {"train": {"seconds": wall, "steps": len(ends), "seconds_per_step": per_step, "members": members,
                      "n_fit_windows": model.info["n_fit_windows"], "steps_per_epoch": steps_per_epoch,
                      "max_epochs": config.max_epochs, "fits": fits,
                      "weekly_projection_hours": steps_per_epoch * config.max_epochs * fits * per_step / 3600,
                      "rss_before_fit_mib": rss_before, "maxrss_mib": _maxrss_mib()}}


def register_untrained_champion(dsn: str, data_dir: str, last_day: date) -> str:
    """Register and promote a default-architecture model for this universe, weights as initialised."""
    import numpy as np

    from cryptolstm import storage
    from cryptolstm.config import TrainConfig
    from cryptolstm.modelling import features, windows
    from cryptolstm.modelling.bundle import TrainedModel, vocabulary
    from cryptolstm.modelling import train
    from cryptolstm.modelling.scaling import RobustScaler
    from cryptolstm.serving import registry

    config = replace(TrainConfig(), n_seeds=1)  # its one (untrained) network
    panel = _load(data_dir)
    coins = vocabulary(panel["coin"].unique())
    model_id = f"bench-untrained-{len(coins)}"
    with storage.transaction(dsn) as cur:
        if registry.get(cur, model_id) is not None:  # registered by an earlier run on this database
            return model_id
    f = features.build_features(panel)
    cube = windows.build_cube(f, panel, coins, list(features.FEATURES))
    t = np.arange(len(cube.days) - 6)[-30:]
    y = windows.gather_targets(cube.log_close, np.zeros(len(t), int), t, config.horizons)
    scaler = RobustScaler.fit(f[list(features.FEATURES)].to_numpy(), y[np.isfinite(y).all(axis=1)])
    import keras

    keras.utils.set_random_seed(0)
    net = train.build_network(config, len(features.FEATURES), len(coins))
    cutoff = last_day - timedelta(days=7)
    model = TrainedModel({"*": [net]}, scaler, config, features.FEATURE_VERSION, cutoff, coins, {"bench": True})
    with storage.transaction(dsn) as cur:
        registry.register(cur, model_id=model_id, created_for=_utc(cutoff + timedelta(days=1)),
                          training_cutoff=cutoff, feature_version=features.FEATURE_VERSION,
                          hyperparams=model.hyperparams(), code_version=registry.code_version(),
                          metrics={}, artifact=model.to_bytes())
        registry.promote(cur, model_id, cutoff + timedelta(days=1))
    return model_id


def _stage_register(dsn: str, data_dir: str, last_day: str) -> dict:
    return {"register": {"model_id": register_untrained_champion(dsn, data_dir, date.fromisoformat(last_day))}}


def _stage_forecast(dsn: str, last_day: str, coins: list[str]) -> dict:
    """The daily forecast in a fresh process (the model registered by another one): its peak RSS is its own."""
    from cryptolstm.serving.forecast import forecast_as_of

    day = date.fromisoformat(last_day)
    t0 = time.perf_counter()
    out = forecast_as_of(dsn, day, "bench-scale", served=tuple(coins))  # every coin of the universe is served
    wall = time.perf_counter() - t0
    if out["status"] != "ok":
        raise RuntimeError(f"forecast: {out}")
    peak = _maxrss_mib()
    # where the time goes: the two steps that touch the whole history, timed again on their own
    from cryptolstm.market import panel as panel_mod
    from cryptolstm.modelling import features

    t0 = time.perf_counter()
    panel = panel_mod.read_candles(dsn, until=day)
    t1 = time.perf_counter()
    features.build_features(panel)
    t2 = time.perf_counter()
    return {"forecast": {"seconds": wall, "rows": out["rows"], "model_id": out["model_id"], "maxrss_mib": peak,
                         "read_candles_seconds": t1 - t0,
                         "build_features_seconds": t2 - t1}}


def _child(conn, fn, args):
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:  # reported to the parent, which says which stage and size failed
        import traceback

        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}"))
    finally:
        conn.close()


def _in_process(fn, *args, rss_cap_mib: float | None = None) -> dict:
    """Run one stage in a fresh (spawned) process; its peak RSS is its own. Above `rss_cap_mib` of resident
    memory the process is killed and {"killed_above_mib": cap} is returned instead of its result."""
    import psutil

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(child, fn, args))
    p.start()
    child.close()
    proc = psutil.Process(p.pid)
    while not parent.poll(0.2):
        try:
            rss = proc.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            rss = 0.0
        if rss_cap_mib is not None and rss > rss_cap_mib:
            p.kill()
            p.join()
            return {"killed_above_mib": rss_cap_mib}
        if not p.is_alive() and not parent.poll(0):
            raise RuntimeError(f"{fn.__name__}{args[:1]}: the process died (exit code {p.exitcode})")
    status, value = parent.recv()
    p.join()
    if status != "ok":
        raise RuntimeError(f"{fn.__name__}{args[:1]}: {value}")
    return value


# ---- orchestration ---------------------------------------------------------------------------------

def run(sizes=SIZES, *, shared_data: Path, work_dir: Path | None = None, max_train_windows: int = 60_000,
        train_steps: int = 20, train_rss_cap_gib: float = 8.0, stages=STAGES, log=print, on_size=None) -> dict:
    """Measure every stage for every size; return {"sizes": {n: {stage: {...}}}, "exponents": {...}, "env": {...}}."""
    import pandas as pd

    from cryptolstm import storage
    from cryptolstm.bench import universe as uni
    from cryptolstm.config import DEFAULT_COINS, Settings
    from cryptolstm.dsn import make_dsn
    from cryptolstm.market.panel import load_csv_dir
    from cryptolstm.runtime import embedded_pg

    real = pd.concat([load_csv_dir(shared_data / "binance-1d"), load_csv_dir(shared_data / "binance-1d-more")],
                     ignore_index=True)
    last_day = real["day"].max().date()
    tmp = Path(work_dir or tempfile.mkdtemp(prefix="bench-scale-"))
    settings = replace(Settings(), state_dir=tmp / "state")
    embedded_pg.start(settings)
    sock = str(embedded_pg.socket_dir(settings.pg_dir))
    results: dict = {"sizes": {}, "last_day": last_day.isoformat(), "env": _environment()}
    try:
        for n in sizes:
            panel, recipes = uni.universe(real, n, DEFAULT_COINS)
            data = tmp / f"universe-{n}"
            uni.write_csv_dir(panel, data)
            dsn = make_dsn(host=sock, dbname=f"bench_{n}")
            if any(s.startswith("ingest") for s in stages):  # the database stages read what ingest stored
                dsn = _fresh_db(sock, f"bench_{n}")
                storage.migrate(dsn, log=lambda *_: None)
            coins = sorted(panel["coin"].unique())
            res = {"coins": n, "synthetic": len(recipes), "candles": len(panel)}
            log(f"== {n} coins ({len(recipes)} synthetic, {len(panel)} candles, last day {last_day})")
            plan = [("ingest", _stage_ingest, (str(data), dsn, coins, last_day.isoformat())),
                    ("features", _stage_features, (str(data),)), ("cube", _stage_cube, (str(data),)),
                    ("epoch", _stage_epoch, (str(data), max_train_windows)),
                    ("train", _stage_train, (str(data), train_steps)),
                    ("register", _stage_register, (dsn, str(data), last_day.isoformat())),
                    ("forecast", _stage_forecast, (dsn, last_day.isoformat(), coins))]
            for name, fn, args in plan:
                wanted = "forecast" if name == "register" else name
                if not any(s.startswith(wanted) for s in stages):
                    continue
                out = _in_process(fn, *args, rss_cap_mib=train_rss_cap_gib * 1024 if name == "train" else None)
                if name == "register":
                    continue
                if "killed_above_mib" in out:
                    res[name] = {"seconds": float("nan"), "maxrss_mib": out["killed_above_mib"], "killed": True}
                    log(f"   {name:17s} killed: resident memory passed {out['killed_above_mib']:.0f} MiB")
                    continue
                res.update(out)
                for stage, m in out.items():
                    log(f"   {stage:17s} {m['seconds']:9.2f} s  peak RSS {m['maxrss_mib']:7.0f} MiB  "
                        + " ".join(f"{k}={_fmt(v)}" for k, v in m.items() if k not in ("seconds", "maxrss_mib")))
            results["sizes"][n] = res
            results["exponents"] = exponents(results["sizes"])
            if on_size:  # e.g. save what is measured so far: the 900-coin size alone takes many minutes
                on_size(results)
    finally:
        embedded_pg.stop(settings)
    return results


def _fmt(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _fresh_db(socket_dir: str, name: str) -> str:
    import psycopg2

    from cryptolstm import storage
    from cryptolstm.dsn import make_dsn

    conn = psycopg2.connect(make_dsn(host=socket_dir, dbname="postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(storage.compose("pg_database_drop", name=name))
        cur.execute(storage.compose("pg_database_create", name=name))
    conn.close()
    return make_dsn(host=socket_dir, dbname=name)


def exponents(sizes: dict) -> dict[str, float]:
    """k per stage: least-squares slope of log(seconds) on log(coins) over the sizes measured."""
    import numpy as np

    out = {}
    for stage in STAGES:
        if stage == "train":  # a capped fit: its wall time is not the stage's cost (seconds per step is)
            continue
        pts = [(n, r[stage]["seconds"]) for n, r in sizes.items() if stage in r and r[stage]["seconds"] > 0]
        if len(pts) >= 2:
            x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
            out[stage] = float(np.polyfit(x, y, 1)[0])
    return out


def _environment() -> dict:
    return {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "loadavg_start": os.getloadavg(),
            "python": platform.python_version(), "machine": platform.machine(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def markdown(results: dict) -> str:
    """The table of docs/scale.md (numbers only; the prose around it is written by hand)."""
    sizes = results["sizes"]
    ns = list(sizes)
    head = "| stage | " + " | ".join(f"{n} coins" for n in ns) + " | k |"
    lines = [head, "|" + " --- |" * (len(ns) + 2)]
    ks = results.get("exponents", {})
    for stage in STAGES:
        if not any(stage in sizes[n] for n in ns):
            continue
        cells = [f"{sizes[n][stage]['seconds']:.2f} s" if stage in sizes[n] else "–" for n in ns]
        k = ks.get(stage)
        lines.append(f"| {stage} | " + " | ".join(cells) + (f" | {k:.2f} |" if k is not None else " | – |"))
    def row(label: str, stage: str, cell) -> None:  # one extra line: `cell(stage's result)` per size
        lines.append(f"| {label} | " + " | ".join(cell(sizes[n][stage]) if stage in sizes[n] else "–"
                                                  for n in ns) + " | |")

    row("peak RSS of the forecast process", "forecast", lambda r: f"{r['maxrss_mib']:.0f} MiB")
    row("forecast: of which read candles / build features (s)", "forecast",
        lambda r: f"{r['read_candles_seconds']:.1f} / {r['build_features_seconds']:.1f}")
    row("peak RSS of the epoch process", "epoch", lambda r: f"{r['maxrss_mib']:.0f} MiB")
    row("train: seconds per step (batch of 512)", "train",
        lambda r: "killed" if r.get("killed") else f"{r['seconds_per_step']:.3f}")
    row("train: peak RSS of the fit process", "train",
        lambda r: f"> {r['maxrss_mib']:.0f} MiB (killed)" if r.get("killed") else f"{r['maxrss_mib']:.0f} MiB")
    row("train: projected weekly run (steps/epoch x epochs x (folds + 1) x K fits x s/step)", "train",
        lambda r: "–" if r.get("killed") else f"{r['steps_per_epoch']} x {r['max_epochs']} x {r['fits']} x "
        f"{r['seconds_per_step']:.3f} s = {r['weekly_projection_hours']:.1f} h")
    row("cube size", "cube", lambda r: f"{r['mib']:.0f} MiB")
    lines.append("| ingest requests (bootstrap / daily) | " + " | ".join(
        f"{sizes[n]['ingest_bootstrap']['requests']} / {sizes[n]['ingest_daily']['requests']}"
        if "ingest_bootstrap" in sizes[n] else "–" for n in ns) + " | |")
    row("training windows per epoch", "epoch", lambda r: f"{r['windows']:,}")
    row("epoch: ms per window", "epoch", lambda r: f"{r['per_window_ms']:.3f}")
    return "\n".join(lines) + "\n"


def save(results: dict, path: Path) -> None:
    path.write_text(json.dumps(results, indent=1, default=str))


def gpu_retrain_hours(results: dict, gpu_speedup: float, epochs: int, fits: int) -> dict:
    """Arithmetic for a weekly retrain: fits x epochs x epoch seconds / speedup, per size."""
    return {n: r["epoch"]["seconds"] * epochs * fits / gpu_speedup / 3600
            for n, r in results["sizes"].items() if "epoch" in r and not math.isnan(r["epoch"]["seconds"])}

