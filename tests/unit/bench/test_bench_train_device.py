"""`cryptolstm bench-train --device`: a capped real fit on CPU names the device it ran on and its time per step."""

from __future__ import annotations

import re

import pytest

from cryptolstm import cli
from cryptolstm.bench import train as bench


def test_timed_steps_skip_the_warm_up_and_need_one_timed_step():
    ends = [1.0, 3.0, 3.5, 4.25]  # step 1 ends at 1 s, ... step 4 at 4.25 s
    assert bench.WARMUP_STEPS == 2 and bench.timed_steps(ends) == [0.5, 0.75]
    with pytest.raises(RuntimeError, match="at least"):
        bench.timed_steps(ends[: bench.WARMUP_STEPS])


@pytest.mark.slow
def test_device_check_on_cpu_prints_the_cpu_device_and_a_positive_time_per_step(shared_data, monkeypatch, capsys):
    monkeypatch.setenv("CRYPTOLSTM_COINS", "BTC,ETH,SOL")
    monkeypatch.setenv("CRYPTOLSTM_AUX_COINS", "")
    code = cli.main(["bench-train", "--device", "cpu", "--profile", "tiny", "--steps", "5",
                     "--csv-dir", str(shared_data)])
    out = capsys.readouterr().out
    assert code == 0, out
    placed = re.search(r"^fit placed on: (.+) \(the model's variables\)$", out, re.M)
    assert placed and "CPU:0" in placed.group(1) and "GPU" not in placed.group(1), out
    assert re.search(r"^logical devices: .*/device:CPU:0", out, re.M), out
    assert re.search(r"^TensorFlow \d+\.\d+", out, re.M) and "visible GPUs: 0" in out, out
    assert "profile tiny, 3 coins, batch 256, 5 steps (2 warm-up, 3 timed)" in out, out
    per_step = float(re.search(r"^seconds per step: ([0-9.]+)", out, re.M).group(1))
    windows = float(re.search(r"^windows per second: ([0-9.]+)", out, re.M).group(1))
    assert per_step > 0 and windows > 0, out
    # where a fit's time goes: every part measured, and an epoch's steps make up the epoch
    where = re.search(r"^where a fit's time goes: build_cube ([0-9.]+) s .* prepare_fit ([0-9.]+) s .* per epoch "
                      r"(\d+) steps x ([0-9.]+) s = ([0-9.]+) s .* early stopping on (\d+) cells ([0-9.]+) s", out, re.M)
    assert where, out
    cube_s, prep_s, steps, step_s, epoch_s, es_cells, es_s = (float(v) for v in where.groups())
    assert cube_s > 0 and prep_s > 0 and steps >= 1 and es_cells >= 1 and es_s > 0, out
    assert abs(epoch_s - steps * step_s) <= 0.1 + 0.01 * epoch_s, out


def test_asking_for_a_gpu_where_tensorflow_sees_none_is_a_clear_error(capsys):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    assert cli.main(["bench-train", "--device", "gpu", "--steps", "3"]) == 1
    assert "sees no GPU" in capsys.readouterr().err
