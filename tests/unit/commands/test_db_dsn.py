"""`cryptolstm db dsn` prints the DSN of a running database and never starts one."""

from __future__ import annotations

from cryptolstm import cli
from cryptolstm.config import Settings
from cryptolstm.environment import load_settings
from cryptolstm.runtime import embedded_pg


def test_db_dsn_with_an_empty_state_dir_starts_no_second_database(tmp_path, monkeypatch, capsys):
    """Issue 20: with CRYPTOLSTM_STATE_DIR empty, `db dsn` started a second database in ./.local."""
    default = tmp_path / "default-state"  # stands for ./.local: the folder an empty variable falls back to
    monkeypatch.setattr(Settings, "state_dir", default)
    for k in ("CRYPTOLSTM_DSN", "AIRFLOW_CONN_CRYPTOLSTM_DB"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CRYPTOLSTM_STATE_DIR", "")
    try:
        assert cli.main(["db", "dsn"]) == 1
    finally:
        embedded_pg.stop(load_settings())  # (what the unfixed verb started)
    out, err = capsys.readouterr()
    assert out == "" and not (default / "pgdata").exists()
    assert err == (f"error: no embedded PostgreSQL runs in the state folder {default}: start it with "
                   "`cryptolstm db up`, or set CRYPTOLSTM_STATE_DIR to the state folder of your stack\n")
