"""The README's main job, as a user runs it: `cryptolstm run` on recorded candles, then `services down`.

Real services, real PostgreSQL, the stand-in replaying the shared candles, the SMTP sink; tiny
training so it fits in CI. Checks the printed outcome, the SQL rows and the mailbox, and that
nothing is left running afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psutil
import pytest

from cryptolstm import storage
from cryptolstm.dsn import make_dsn
from cryptolstm.environment import load_settings

pytestmark = pytest.mark.e2e



def test_run_replay_then_down(tmp_path, shared_data, free_port):
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CRYPTOLSTM_"))}
    env.update({"CRYPTOLSTM_STATE_DIR": str(state), "CRYPTOLSTM_API_PORT": str(free_port()),
                "CRYPTOLSTM_SMTP_PORT": str(free_port()), "CRYPTOLSTM_STANDIN_PORT": str(free_port()),
                "CRYPTOLSTM_TRAIN_PROFILE": "tiny", "CRYPTOLSTM_WF_FOLDS": "2", "CRYPTOLSTM_WF_DAYS": "56"})
    cli = [sys.executable, "-m", "cryptolstm.cli"]
    try:
        # both recorded folders: the served coins and the auxiliary ones (the default training universe)
        out = subprocess.run([*cli, "run", "--replay", str(shared_data.parent), "--days", "2"], env=env,
                             capture_output=True, text=True, timeout=1200)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "weekly decision 2025-02-16" in out.stdout
        # what it trained: K members, 2 folds (CRYPTOLSTM_WF_FOLDS), the 20 coins of both recorded folders
        assert re.search(r"trained lstm-20250215-\w+: K = \d+ member\(s\) \(seeds [0-9, ]+\), 2 walk-forward "
                         r"folds \(\S+ \.\. \S+\), 20 coins", out.stdout), out.stdout[-3000:]
        settings = load_settings(env)
        dsn = make_dsn(host=str(settings.pg_dir), dbname="cryptolstm")
        with storage.transaction(dsn) as cur:
            cur.execute("SELECT count(*), max(as_of), min(as_of) FROM forecasts")
            n, last, first = cur.fetchone()
            cur.execute("SELECT count(*) FROM promotion_decisions")
            decisions = cur.fetchone()[0]
            cur.execute("SELECT max(day) FROM candles")
            last_candle = cur.fetchone()[0]
            # the whole training universe is ingested; the two pairs that ended early are inactive
            cur.execute("SELECT count(DISTINCT coin) FROM candles")
            universe = cur.fetchone()[0]
            cur.execute("SELECT coin FROM coins WHERE NOT active ORDER BY coin")
            inactive = [r[0] for r in cur.fetchall()]
        assert decisions == 1
        assert universe == 20 and inactive == ["MATIC", "XMR"]
        assert str(last_candle) == "2025-02-20"  # the replay never serves a day after the run
        # promoted or not, the days get LSTM forecasts; without a champion they are labelled provisional
        assert n == 2 * 9 * 5 and str(first) == "2025-02-19" and str(last) == "2025-02-20"
        assert "forecasts as of 2025-02-20" in out.stdout
        if "PROMOTED" in out.stdout:
            assert "(champion)" in out.stdout and "PROVISIONAL" not in out.stdout
        else:
            assert "(provisional)" in out.stdout and "PROVISIONAL: no model has been promoted" in out.stdout
        assert list((state / "mail" / "new").iterdir()), "the weekly decision email did not arrive"
    finally:
        down = subprocess.run([*cli, "services", "down", "--with-db"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert down.returncode == 0, down.stderr
    left = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if str(state) in " ".join(p.info["cmdline"] or []) or str(state) in p.environ().get("AIRFLOW_HOME", ""):
                if p.status() != psutil.STATUS_ZOMBIE:
                    left.append((p.pid, p.info["cmdline"]))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    assert left == []
