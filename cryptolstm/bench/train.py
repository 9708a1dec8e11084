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
    """One capped `train.fit` of the `profile` ("tiny" or "full") model on the candle panel, cut off at its
    last day."""
    import tensorflow as tf

    from cryptolstm.config import PipelineConfig
    from cryptolstm.modelling import train

    config = replace(PipelineConfig(train_profile=profile).train_config(), n_seeds=1)  # one member's fit
    cube = train.build_cube(panel)
    ends: list[float] = []
    t0 = time.perf_counter()
    model = train.fit(cube, cube.days[-1], config, label="bench-train", callbacks=(step_cap(steps, ends),))
    wall = time.perf_counter() - t0
    variables = sorted({v.value.device for nets in model.members.values() for net in nets for v in net.weights})
    return StepReport(tf_version=tf.__version__, built_with_cuda=tf.test.is_built_with_cuda(),
                      gpus=tuple(d.name for d in tf.config.list_physical_devices("GPU")),
                      logical_devices=tuple(d.name for d in tf.config.list_logical_devices()),
                      variable_devices=tuple(variables), coins=len(cube.coins), profile=profile,
                      batch_size=config.batch_size, steps=len(ends),
                      seconds_per_step=statistics.median(timed_steps(ends)), fit_seconds=wall)
