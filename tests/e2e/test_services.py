"""The local runtime: `services up` -> healthy -> `services down` leaves no process behind."""

from __future__ import annotations

import json
import os
import smtplib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from cryptolstm.runtime import embedded_pg, services
from cryptolstm.config import Settings

pytestmark = pytest.mark.e2e



def _processes_using(state_dir: Path) -> list[psutil.Process]:
    """Processes whose environment or command line points into this runtime's state folder."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if p.pid == os.getpid():
                continue
            env = p.environ()
            if str(state_dir) in env.get("AIRFLOW_HOME", "") or str(state_dir) in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_up_healthy_down_leaves_nothing(tmp_path, shared_data, free_port):
    settings = replace(Settings.from_env({}), state_dir=tmp_path / "state", api_port=free_port(),
                       smtp_port=free_port())
    port = free_port()
    try:
        env = services.up(settings, wait=180, log=lambda *_: None, replay_dir=shared_data, standin_port=port)
        doc = services.health(settings)
        assert services.is_healthy(doc), doc
        assert set(services.running(settings)) == set(services.MANAGED)
        smtp = json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])
        assert smtp["port"] == settings.smtp_port and smtp["extra"]["disable_tls"] is True
        with smtplib.SMTP("127.0.0.1", settings.smtp_port, timeout=10) as client:
            client.sendmail("a@localhost", ["b@localhost"], "Subject: ping\n\nhello")
        assert any(b"Subject: ping" in f.read_bytes() for f in (settings.mail_dir / "new").iterdir())
        assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
        assert env["CRYPTOLSTM_EXCHANGE_URL"] == f"http://127.0.0.1:{port}"
        pids = services.running(settings)
        # up again with the same source is a no-op while everything runs
        services.up(settings, wait=30, log=lambda *_: None, replay_dir=shared_data, standin_port=port)
        assert services.running(settings) == pids
    finally:
        stopped = services.down(settings, log=lambda *_: None)
        embedded_pg.stop(settings)
    assert set(stopped) == set(services.MANAGED)
    assert services.health(settings) is None
    leftovers = [p for p in _processes_using(settings.state_dir) if p.status() != psutil.STATUS_ZOMBIE]
    assert leftovers == [], [(p.pid, p.cmdline()) for p in leftovers]


def test_cli_status_reports_down(tmp_path, free_port):
    env = {**os.environ, "CRYPTOLSTM_STATE_DIR": str(tmp_path / "s"), "CRYPTOLSTM_API_PORT": str(free_port())}
    out = subprocess.run([sys.executable, "-m", "cryptolstm.cli", "services", "status"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "not running" in out.stdout and "api-server not answering" in out.stdout
