"""The embedded PostgreSQL: start, connect, stop, restart with the data kept."""

from dataclasses import replace

from cryptolstm.runtime import embedded_pg

from cryptolstm import storage
from cryptolstm.environment import load_settings


def test_start_connect_stop_restart_keeps_data(tmp_path):
    s = replace(load_settings({}), state_dir=tmp_path / "state")
    try:
        dsns = embedded_pg.start(s)
        assert embedded_pg.start(s) == dsns  # idempotent
        assert embedded_pg.is_running(s.pg_dir)
        storage.migrate(dsns["forecast"], log=lambda *_: None)
        with storage.transaction(dsns["forecast"]) as cur:
            cur.execute("UPDATE coins SET exchange = 'kept' WHERE coin = 'BTC'")
        with storage.transaction(dsns["airflow"]) as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone()[0] == "airflow"
        assert embedded_pg.stop(s) is True
        assert not embedded_pg.is_running(s.pg_dir)
        assert embedded_pg.stop(s) is False
        dsns2 = embedded_pg.start(s)
        with storage.transaction(dsns2["forecast"]) as cur:
            cur.execute("SELECT exchange FROM coins WHERE coin = 'BTC'")
            assert cur.fetchone()[0] == "kept"
    finally:
        embedded_pg.stop(s)
