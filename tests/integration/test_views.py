"""The documented views return what they promise; the reader role reads but cannot write."""

from __future__ import annotations

from datetime import date, datetime, timezone

import psycopg2
import pytest

from cryptolstm import storage


def _seed(db):
    with storage.transaction(db) as cur:
        for mid, cutoff, frm, until, status in [("a", "2025-01-04", "2025-01-05", "2025-01-12", "retired"),
                                               ("b", "2025-01-11", "2025-01-12", None, "champion")]:
            cur.execute("INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                        "code_version, artifact, artifact_sha256, status, champion_from, champion_until, metrics) "
                        "VALUES (%s, %s, %s, 'f', '{}', 't', '\\x0102', 'y', %s, %s, %s, '{\"da\": 0.55}')",
                        (mid, datetime(2025, 1, 5, tzinfo=timezone.utc), cutoff, status, frm, until))
        for as_of, mid in [("2025-01-10", "a"), ("2025-01-12", "b"), ("2025-01-13", "b")]:
            for coin in ("BTC", "ETH"):
                for h in range(1, 6):
                    r = 0.01 * h * (1 if coin == "BTC" else -1)
                    cur.execute("INSERT INTO forecasts VALUES (%s, %s, %s, %s, %s::date + %s, 100, %s, 100 * exp(%s), 'run')",
                                (coin, as_of, h, mid, as_of, h, r, r))
        # BTC 2025-01-12 h1/h2 matured: one hit, one miss; ETH 2025-01-10 h1 a flat day
        cur.execute("INSERT INTO forecast_scores VALUES ('BTC', '2025-01-12', 1, 'b', 0.02, 102, true, 0.01), "
                    "('BTC', '2025-01-12', 2, 'b', -0.01, 99, false, 0.03), ('ETH', '2025-01-10', 1, 'a', 0, 100, NULL, 0.01)")
        cur.execute("INSERT INTO promotion_decisions VALUES ('2025-01-12', 'b', 'a', true, 0.56, 0.52, 360, 0.04, "
                    "'challenger DA beats', '{}')")


def _q(db, sql):
    with storage.transaction(db) as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_latest_forecasts(db):
    _seed(db)
    rows = _q(db, "SELECT coin, as_of, horizon, model_id, pred_direction FROM v_latest_forecasts ORDER BY coin, horizon")
    assert len(rows) == 10
    assert {(r[0], r[1], r[3]) for r in rows} == {("BTC", date(2025, 1, 13), "b"), ("ETH", date(2025, 1, 13), "b")}
    assert [r[4] for r in rows if r[0] == "ETH"] == [-1] * 5
    assert {r[0] for r in _q(db, "SELECT served_as FROM v_latest_forecasts")} == {"champion"}


def test_latest_forecasts_label_provisional_rows(db):
    _seed(db)
    with storage.transaction(db) as cur:  # a newer day served by a model that was never champion
        cur.execute("INSERT INTO models (model_id, created_for, training_cutoff, feature_version, hyperparams, "
                    "code_version, artifact, artifact_sha256, status) VALUES ('c', '2025-01-19', '2025-01-18', 'f', "
                    "'{}', 't', '\\x01', 'z', 'rejected')")
        cur.execute("UPDATE models SET champion_until = '2025-01-19', status = 'retired' WHERE model_id = 'b'")
        for h in range(1, 6):
            cur.execute("INSERT INTO forecasts VALUES ('BTC', '2025-01-20', %s, 'c', %s::date + %s, 100, 0.01, "
                        "100 * exp(0.01), 'run')", (h, date(2025, 1, 20), h))
    rows = _q(db, "SELECT coin, as_of, model_id, served_as FROM v_latest_forecasts ORDER BY coin, horizon")
    assert {tuple(r) for r in rows} == {("BTC", date(2025, 1, 20), "c", "provisional"),
                                        ("ETH", date(2025, 1, 13), "b", "champion")}


def test_forecast_outcomes(db):
    _seed(db)
    rows = _q(db, "SELECT coin, as_of, horizon, matured, direction_hit, rw_abs_error FROM v_forecast_outcomes "
                  "WHERE matured ORDER BY coin, as_of, horizon")
    assert rows == [("BTC", date(2025, 1, 12), 1, True, True, 0.02), ("BTC", date(2025, 1, 12), 2, True, False, 0.01),
                    ("ETH", date(2025, 1, 10), 1, True, None, 0.0)]
    assert _q(db, "SELECT count(*) FROM v_forecast_outcomes WHERE NOT matured")[0][0] == 27


def test_live_accuracy_with_rollups(db):
    _seed(db)
    rows = {(m, c, h): (n, nd, da) for m, c, h, n, nd, da in
            _q(db, "SELECT model_id, coin, horizon, n_cells, n_direction_cells, da FROM v_live_accuracy")}
    assert rows[("b", "BTC", 1)] == (1, 1, 1.0)
    assert rows[("b", "ALL", 0)] == (2, 2, 0.5)
    assert rows[("a", "ALL", 0)] == (1, 0, None)  # a flat day is not a direction cell
    mae = _q(db, "SELECT mae, rw_mae, mae_ratio_rw FROM v_live_accuracy WHERE model_id = 'b' AND coin = 'ALL' AND horizon = 0")[0]
    assert mae == pytest.approx((0.02, 0.015, 0.02 / 0.015))


def test_promotion_history_and_models(db):
    _seed(db)
    row = _q(db, "SELECT challenger_id, champion_id, promoted, da_difference, challenger_cutoff, champion_cutoff "
                 "FROM v_promotion_history")[0]
    assert row[:3] == ("b", "a", True) and row[3] == pytest.approx(0.04)
    assert row[4:] == (date(2025, 1, 11), date(2025, 1, 4))
    assert _q(db, "SELECT model_id, artifact_bytes FROM v_models ORDER BY model_id") == [("a", 2), ("b", 2)]


def test_views_are_documented(db):
    names = [r[0] for r in _q(db, "SELECT c.relname FROM pg_class c WHERE c.relkind = 'v' AND "
                                  "c.relnamespace = 'public'::regnamespace AND obj_description(c.oid) IS NOT NULL")]
    assert {"v_latest_forecasts", "v_forecast_outcomes", "v_live_accuracy", "v_promotion_history"} <= set(names)


def test_reader_role_reads_but_cannot_write(db):
    _seed(db)
    from psycopg2.extensions import make_dsn, parse_dsn

    server = {k: v for k, v in parse_dsn(db).items() if k not in ("user", "password")}
    reader = make_dsn(**server, user="cryptolstm_reader")
    conn = psycopg2.connect(reader)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM v_latest_forecasts")
            assert cur.fetchone()[0] == 10
            cur.execute("SELECT count(*) FROM candles")
        conn.rollback()
        for sql in ("INSERT INTO alerts VALUES ('x', '2025-01-01', 'ok', 'm', '{}', false)",
                    "DELETE FROM forecasts", "CREATE TABLE evil (x int)"):
            with conn.cursor() as cur, pytest.raises(psycopg2.Error):
                cur.execute(sql)
            conn.rollback()
    finally:
        conn.close()
