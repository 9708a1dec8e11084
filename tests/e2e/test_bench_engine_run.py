"""`cryptolstm bench-engine` on the real services: one weekly run (tiny profile, 3 coins, LocalExecutor) timed
task by task. An e2e test: starting the services and the run take ~2 minutes on this 2-core machine."""

from __future__ import annotations

import json
import re

import pytest

from cryptolstm import cli
from cryptolstm.config import POOL_SLOTS, TENSORFLOW_POOL

pytestmark = pytest.mark.e2e


def test_bench_engine_times_every_task_of_one_weekly_run(tmp_path, shared_data, capsys):
    raw = tmp_path / "engine.json"
    code = cli.main(["bench-engine", "--engine", "local", "--coins", "BTC,ETH,SOL", "--profile", "tiny",
                     "--folds", "2", "--wf-days", "28", "--replay", str(shared_data.parent),
                     "--state-dir", str(tmp_path / "state"), "--timeout", "900", "--json", str(raw)])
    out = capsys.readouterr().out
    assert code == 0, out
    run = json.loads(raw.read_text())
    assert run["state"] == "success" and run["coins"] == 3 and run["executor"] == "local"
    rows = re.findall(r"^\| (\w+) \| (\d*) \| (\w+) \|", out, re.M)
    assert {task for task, _, _ in rows} >= set(run["dag_tasks"]) >= {"sync_candles", "notify"}, out
    assert all(state == "success" for _, _, state in rows), out
    assert any(task.startswith("train") for task, _, _ in rows), out
    wall = float(re.search(r"^WALL TIME \(first task start -> last task end\): ([0-9.]+) s$", out, re.M).group(1))
    span = float(re.search(r"training span ([0-9.]+) s", out).group(1))
    total = float(re.search(r"^training tasks: \d+, sum ([0-9.]+) s", out, re.M).group(1))
    # the mapped members train side by side, at most the tensorflow pool's slots at once
    assert 0 < span <= wall and 0 < total <= wall * POOL_SLOTS[TENSORFLOW_POOL], out
