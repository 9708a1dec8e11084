"""The weekly run fanned out on PostgreSQL with tiny real models, K = 2 members: each (fold, member) piece
stored alone gives the serial `train_challenger`'s model; a rerun of one piece replaces exactly its own rows;
a piece that fails mid-fit or mid-write leaves no rows of its own; a gather with pieces missing refuses,
naming them, and registers nothing (the champion stays)."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from cryptolstm import pipeline, storage
from cryptolstm.config import DEFAULT_COINS, PromotionConfig
from cryptolstm.serving import members
from orchestration_seed import insert_candles, weights_digest

END = datetime(2025, 1, 12, tzinfo=timezone.utc)
K = 2
CFG = replace(pipeline.PipelineConfig(train_profile="tiny", wf_folds=1, wf_days=28, ensemble_members=K),
              promotion=PromotionConfig(first_model_margin=-1.0, first_model_min_lower=0.0, min_cells=40, weeks=4))

pytestmark = pytest.mark.slow


def _q(db, sql, params=()):
    with storage.transaction(db) as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


def _pieces(db) -> dict:
    """{(fold, member): (seed, cutoff, weights digest, info without seconds, predictions)} of every stored piece."""
    preds = {}
    for row in _q(db, "SELECT fold, member, coin, as_of, horizon, pred_log_return, realised_log_return "
                      "FROM member_predictions ORDER BY 1, 2, 3, 4, 5"):
        preds.setdefault(row[:2], []).append(row[2:])
    return {(f, m): (seed, cutoff, weights_digest(art), _timeless(info), preds.get((f, m), []))
            for f, m, seed, cutoff, info, art in _q(db, "SELECT fold, member, seed, training_cutoff, info, artifact "
                                                        "FROM member_weights")}


def _timeless(value):
    """`value` without its wall-clock measurements (keys ending in 'seconds')."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if not k.endswith("seconds")}
    return [_timeless(v) for v in value] if isinstance(value, list) else value


def _model(db) -> tuple:
    (mid, metrics, art), = _q(db, "SELECT model_id, metrics, artifact FROM models")
    metrics = _timeless(metrics)
    vp = _q(db, "SELECT coin, as_of, horizon, fold, fold_cutoff, pred_log_return, realised_log_return "
                "FROM validation_predictions ORDER BY 1, 2, 3")
    return mid, metrics, weights_digest(art), vp


def test_fanned_out_pieces_give_the_serial_model_and_a_rerun_replaces_exactly_its_rows(db, pg_exec, dsn_for,
                                                                                        template_name):
    insert_candles(db, date(2025, 1, 20))
    serial = pipeline.train_challenger(db, END, CFG)
    assert serial["members"] == K and serial["wf_folds"] == 1 and serial["served"] == list(DEFAULT_COINS)
    assert not serial["reused"] and set(serial["coins"]) == set(DEFAULT_COINS)

    name = f"cl_test_fan_{os.getpid()}"
    pg_exec(f"DROP DATABASE IF EXISTS {name}")
    pg_exec(f"CREATE DATABASE {name} TEMPLATE {template_name}")
    fan = dsn_for(name)
    try:
        insert_candles(fan, date(2025, 1, 20))
        plan = pipeline.plan_members(END, CFG)
        assert [(s["fold"], s["member"]) for s in plan] == [(-1, 0), (-1, 1), (0, 0), (0, 1)]
        for spec in reversed(plan):  # each piece alone (its own candle read and cube), in another order
            assert not members.train_member(fan, END, CFG, spec, DEFAULT_COINS)["reused"]
        gathered = pipeline.gather_members(fan, END, CFG)
        # equal but for the bundle's zip size (its members' files hold the time Keras saved them)
        assert gathered.pop("artifact_bytes") > 0 and serial.pop("artifact_bytes") > 0
        assert _timeless(gathered) == _timeless(serial)
        assert _pieces(fan) == _pieces(db) and _model(fan) == _model(db)
        metrics = _q(fan, "SELECT metrics -> 'ensemble' FROM models")[0][0]
        assert metrics["members"] == K and len(metrics["member_da"]) == K and metrics["pred_sd"] > 0
        assert metrics["da_min"] == min(metrics["member_da"]) and metrics["seeds"] == [0, 1000]
        assert _q(fan, "SELECT members, member_da_min, member_da_max, member_pred_sd FROM v_models")[0] == \
            (K, metrics["da_min"], metrics["da_max"], metrics["pred_sd"])

        # a rerun of one piece replaces exactly its own rows (another piece's rows, altered, stay as they are)
        _q(fan, "DELETE FROM models")  # the pieces of a registered model are no-ops: unregister it first
        before = _pieces(fan)
        _q(fan, "UPDATE member_predictions SET pred_log_return = 0 WHERE fold = 0 AND member IN (0, 1)")
        _q(fan, "INSERT INTO member_predictions SELECT model_id, fold, member, coin, as_of + 1000, horizon, 0, 0 "
                "FROM member_predictions WHERE fold = 0 AND member = 1")
        altered = _pieces(fan)
        members.train_member(fan, END, CFG, plan[3], DEFAULT_COINS)  # (fold 0, member 1)
        after = _pieces(fan)
        assert after[0, 1] == before[0, 1] and after[0, 0] == altered[0, 0] != before[0, 0]
        assert {k: v for k, v in after.items() if k != (0, 1)} == {k: v for k, v in altered.items() if k != (0, 1)}
    finally:
        pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    # once registered, every piece and the gather are no-ops returning the model
    assert members.train_member(db, END, CFG, plan[0], DEFAULT_COINS)["reused"]
    assert pipeline.train_challenger(db, END, CFG)["reused"]


def test_a_failing_piece_leaves_no_rows_and_a_gather_with_pieces_missing_keeps_the_champion(db, monkeypatch):
    from cryptolstm.modelling import train
    from cryptolstm.serving import registry

    insert_candles(db, date(2025, 1, 20))
    with storage.transaction(db) as cur:  # a champion from an earlier week
        registry.register(cur, model_id="lstm-champion", created_for=datetime(2025, 1, 5, tzinfo=timezone.utc),
                          training_cutoff=date(2025, 1, 4), feature_version="f", hyperparams={}, code_version="c",
                          metrics={}, artifact=b"champion")
    _q(db, "UPDATE models SET status = 'champion', champion_from = '2025-01-05'")
    plan = pipeline.plan_members(END, CFG)
    for spec in plan[:-1]:
        members.train_member(db, END, CFG, spec, DEFAULT_COINS)
    stored = _pieces(db)
    fit = train.fit

    def dies_mid_fit(*args, **kwargs):
        raise MemoryError("worker killed mid-fit")

    monkeypatch.setattr(train, "fit", dies_mid_fit)
    with pytest.raises(MemoryError):
        members.train_member(db, END, CFG, plan[-1], DEFAULT_COINS)
    monkeypatch.setattr(train, "fit", fit)
    assert _pieces(db) == stored and (0, 1) not in stored

    def dies_mid_write(data):  # after the piece's old rows are deleted and its predictions inserted
        raise ConnectionError("database gone mid-write")

    monkeypatch.setattr(registry, "sha256", dies_mid_write)
    with pytest.raises(ConnectionError):
        members.train_member(db, END, CFG, plan[2], DEFAULT_COINS)  # (fold 0, member 0), already stored
    monkeypatch.undo()
    assert _pieces(db) == stored  # its earlier rows are intact: the transaction rolled back

    with pytest.raises(members.MembersMissing) as err:
        pipeline.gather_members(db, END, CFG)
    assert "(fold 0, member 1)" in str(err.value) and "1 of 4 ensemble pieces" in str(err.value)
    assert "champion stays" in str(err.value)
    _q(db, "DELETE FROM member_weights WHERE fold = -1 AND member = 0")
    with pytest.raises(members.MembersMissing, match=r"\(final fit, member 0\), \(fold 0, member 1\)"):
        pipeline.gather_members(db, END, CFG)
    assert _q(db, "SELECT model_id, status FROM models") == [("lstm-champion", "champion")]
    assert _q(db, "SELECT count(*) FROM promotion_decisions") == [(0,)]
