"""`cryptolstm bench-train`: where TensorFlow places the fit, and what one gradient step costs there.

One real `train.fit` (the streamed production path: cube, `tf.data` batches gathered per step, the early-stopping
split, the model of the chosen profile) on the recorded candles, stopped after a capped number of gradient steps.
It reports the TensorFlow build, the GPUs it sees, the device holding the model's variables (where the fit ran),
and the seconds per step: the median of the steps after the warm-up ones, which trace and compile the graph.
A GPU worker is checked with it before it takes the `train` queue (docs/deploy.md); nothing else needs a GPU.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

WARMUP_STEPS = 2  # first gradient steps of a fit, not timed: they trace and compile the graph
DEVICES = ("auto", "cpu", "gpu")  # auto: TensorFlow's own placement (a GPU if it sees one); cpu: GPUs hidden


@dataclass(frozen=True)
class StepReport:
    """What `run` measured."""

    tf_version: str
    built_with_cuda: bool
    gpus: tuple[str, ...]  # visible physical GPUs
    logical_devices: tuple[str, ...]  # e.g. ("/device:CPU:0", "/device:GPU:0")
    variable_devices: tuple[str, ...]  # where the fitted model's variables live: the device the fit ran on
    coins: int
    profile: str
    batch_size: int
    steps: int  # gradient steps run (the cap, unless the epoch was shorter)
    seconds_per_step: float  # median over the steps after WARMUP_STEPS
    fit_seconds: float  # the whole capped fit: cube slice, scaler, steps, early-stopping evaluation, description
    # where one fit's time goes (the profile of issue 24): the parts measured apart, on the same preparation
    cube_seconds: float = 0.0  # build_cube of the whole history (once per weekly run: the prepare task)
    prepare_seconds: float = 0.0  # prepare_fit: cells, scaler, input description (once per fold)
    batch_data_seconds: float = 0.0  # one training batch's windows gathered and scaled in NumPy (median)
    steps_per_epoch: int = 0  # fitting cells / batch size
    es_cells: int = 0  # early-stopping cells, evaluated once per epoch
    es_seconds: float = 0.0  # one early-stopping evaluation in es_batch_size batches (after a warm-up pass)
    es_seconds_training_batch: float = 0.0  # the same evaluation in training-size batches

    @property
    def windows_per_second(self) -> float:
        return self.batch_size / self.seconds_per_step

    def lines(self) -> list[str]:
        """The report, one fact a line."""
        timed = self.steps - WARMUP_STEPS
        return [f"TensorFlow {self.tf_version} ({'CUDA build' if self.built_with_cuda else 'CPU-only build'}), "
                f"visible GPUs: {len(self.gpus)}" + (f" ({', '.join(self.gpus)})" if self.gpus else ""),
                f"logical devices: {', '.join(self.logical_devices)}",
                f"fit placed on: {', '.join(self.variable_devices)} (the model's variables)",
                f"profile {self.profile}, {self.coins} coins, batch {self.batch_size}, {self.steps} steps "
                f"({WARMUP_STEPS} warm-up, {timed} timed), whole capped fit {self.fit_seconds:.1f} s",
                f"seconds per step: {self.seconds_per_step:.4f} (median of the {timed} timed steps)",
                f"where a fit's time goes: build_cube {self.cube_seconds:.3f} s (once per weekly run), prepare_fit "
                f"{self.prepare_seconds:.3f} s (once per fold), per epoch {self.steps_per_epoch} steps x "
                f"{self.seconds_per_step:.3f} s = {self.steps_per_epoch * self.seconds_per_step:.1f} s of which the "
                f"batches' NumPy gather and scaling is {self.steps_per_epoch * self.batch_data_seconds:.1f} s "
                f"(overlapped by tf.data's prefetch), early stopping on {self.es_cells} cells "
                f"{self.es_seconds:.3f} s ({self.es_seconds_training_batch:.3f} s in training-size batches)",
                f"windows per second: {self.windows_per_second:.0f}"]


def select_device(kind: str) -> None:
    """Make TensorFlow use `kind` (one of DEVICES) for what follows; call before anything runs on TensorFlow.
    Raises RuntimeError for "gpu" when TensorFlow sees none."""
    import tensorflow as tf

    if kind not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {kind!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if kind == "gpu" and not gpus:
        build = "a CUDA build" if tf.test.is_built_with_cuda() else "a CPU-only build (tensorflow-cpu)"
        raise RuntimeError(f"TensorFlow {tf.__version__} sees no GPU ({build}): see docs/deploy.md, GPU worker")
    if kind == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")


def step_cap(steps: int, ends: list[float]):
    """A Keras callback, passed to `train.fit(..., callbacks=...)`, that stops each fit after `steps` gradient
    steps (the epoch's early-stopping evaluation still runs) and appends to `ends` the perf_counter time at
    which each step ended. The library's fit runs unchanged otherwise."""
    import keras

    class StepCap(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ends.append(time.perf_counter())
            if len(ends) >= steps:
                self.model.stop_training = True

    return StepCap()


def timed_steps(ends: list[float]) -> list[float]:
    """Seconds of each gradient step after the WARMUP_STEPS first, from the times the steps ended."""
    if len(ends) <= WARMUP_STEPS:
        raise RuntimeError(f"only {len(ends)} steps ran: at least {WARMUP_STEPS + 1} are needed "
                           f"({WARMUP_STEPS} warm-up steps are not timed)")
    return [b - a for a, b in zip(ends[WARMUP_STEPS - 1:], ends[WARMUP_STEPS:])]


def run(panel, *, profile: str, steps: int) -> StepReport:
    """One capped fit (`train.prepare_fit`, then `train.fit_member` stopped after `steps` steps) of the `profile`
    ("tiny" or "full") model on the candle panel, cut off at its last day, and where its time goes: the cube,
    the preparation, one batch's NumPy data path, the early-stopping evaluation in both batch sizes."""
    import numpy as np
    import tensorflow as tf

    from cryptolstm.config import PipelineConfig
    from cryptolstm.modelling import train, windows

    config = replace(PipelineConfig(train_profile=profile).train_config(), n_seeds=1)  # one member's fit
    t0 = time.perf_counter()
    cube = train.build_cube(panel)
    cube_seconds = time.perf_counter() - t0
    ends: list[float] = []
    t0 = time.perf_counter()
    prepared = train.prepare_fit(cube, cube.days[-1], config)
    prepare_seconds = time.perf_counter() - t0
    model = train.fit_member(prepared, config, 0, callbacks=(step_cap(steps, ends),), label="bench-train")
    wall = time.perf_counter() - t0
    variables = sorted({v.value.device for nets in model.members.values() for net in nets for v in net.weights})
    rng = np.random.default_rng(0)
    fit_cells, es = prepared.fit_cells, prepared.es_cells

    def batch_data() -> float:  # the tf.data gather of one training batch, in NumPy alone
        pick = rng.choice(len(fit_cells.t), min(config.batch_size, len(fit_cells.t)), replace=False)
        t = time.perf_counter()
        prepared.scaler.transform(windows.gather_windows(prepared.cube.x, fit_cells.coin[pick], fit_cells.t[pick],
                                                         config.window))
        return time.perf_counter() - t

    net = model.members["*"][0]
    x = prepared.scaler.transform(windows.gather_windows(prepared.cube.x, es.coin, es.t, config.window))  # [N, T, F]
    ids = es.coin.astype(np.int32)

    def evaluation(batch: int) -> float:  # one pass of the network over the early-stopping cells
        net.predict([x[:batch], ids[:batch]], verbose=0, batch_size=batch)  # trace this batch size first
        t = time.perf_counter()
        net.predict([x, ids], verbose=0, batch_size=batch)
        return time.perf_counter() - t

    return StepReport(tf_version=tf.__version__, built_with_cuda=tf.test.is_built_with_cuda(),
                      gpus=tuple(d.name for d in tf.config.list_physical_devices("GPU")),
                      logical_devices=tuple(d.name for d in tf.config.list_logical_devices()),
                      variable_devices=tuple(variables), coins=len(cube.coins), profile=profile,
                      batch_size=config.batch_size, steps=len(ends),
                      seconds_per_step=statistics.median(timed_steps(ends)), fit_seconds=wall,
                      cube_seconds=cube_seconds, prepare_seconds=prepare_seconds,
                      batch_data_seconds=statistics.median(batch_data() for _ in range(10)),
                      steps_per_epoch=-(-len(fit_cells.t) // config.batch_size), es_cells=len(es.t),
                      es_seconds=evaluation(config.es_batch_size) if len(es.t) else 0.0,
                      es_seconds_training_batch=evaluation(config.batch_size) if len(es.t) else 0.0)
