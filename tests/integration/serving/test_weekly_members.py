"""The weekly run fanned out on PostgreSQL with tiny real models, K = 2 members: each (fold, member) piece
stored alone, on the one stored preparation, gives the serial `train_challenger`'s model; fold pieces store
predictions and facts, only final-fit pieces weights; a rerun of one piece replaces exactly its own rows; a
piece that fails mid-fit or mid-write leaves no rows of its own; a gather with pieces missing refuses,
naming them, and registers nothing (the champion stays); a piece whose preparation is missing or damaged
fails at once, naming the key, and trains nothing; a corrected candle gives another preparation key."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from cryptolstm import pipeline, storage
from cryptolstm.config import DEFAULT_COINS, PromotionConfig
from cryptolstm.serving import members, registry
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
    return {(f, m): (seed, cutoff, None if art is None else weights_digest(art), _timeless(info), preds.get((f, m), []))
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
        prepared = pipeline.prepare(fan, END, CFG)
        again = pipeline.prepare(fan, END, CFG)  # a rerun finds the same content key stored
        assert not prepared["reused"] and again["reused"] and again["prep_key"] == prepared["prep_key"]
        plan = pipeline.plan_members(END, prepared, CFG)
        assert [(s["fold"], s["member"]) for s in plan] == [(None, 0), (None, 1), (0, 0), (0, 1)]
        assert {s["prep_key"] for s in plan} == {prepared["prep_key"]}
        for spec in reversed(plan):  # each piece alone (its own load of the preparation), in another order
            assert not pipeline.train_member(fan, END, spec, CFG)["reused"]
        with pytest.raises(members.MembersMissing, match="baselines of fold 0 are not stored"):
            pipeline.gather_members(fan, END, prepared, CFG)  # the folds' baselines are pieces too
        for spec in pipeline.plan_baselines(END, prepared, CFG):
            assert pipeline.fit_baselines(fan, END, spec, CFG)["predictions"] > 0
        gathered = pipeline.gather_members(fan, END, prepared, CFG)
        # equal but for the bundle's zip size (its members' files hold the time Keras saved them)
        assert gathered.pop("artifact_bytes") > 0 and serial.pop("artifact_bytes") > 0
        assert _timeless(gathered) == _timeless(serial)
        assert _pieces(fan) == _pieces(db) and _model(fan) == _model(db)
        weights = _q(fan, "SELECT fold, member, artifact IS NOT NULL FROM member_weights ORDER BY 1, 2")
        assert weights == [(-1, 0, True), (-1, 1, True), (0, 0, False), (0, 1, False)]  # only the final fit's
        metrics = _q(fan, "SELECT metrics -> 'ensemble' FROM models")[0][0]
        assert metrics["members"] == K and len(metrics["member_da"]) == K and metrics["pred_sd"] > 0
        assert metrics["da_min"] == min(metrics["member_da"]) and metrics["seeds"] == [0, 1000]
        assert _q(fan, "SELECT members, member_da_min, member_da_max, member_pred_sd FROM v_models")[0] == \
            (K, metrics["da_min"], metrics["da_max"], metrics["pred_sd"])
        # issue 26 without a combination: the reference and the evidence per tier come from the K members' cells
        (mid, tiers, n_cells), = _q(fan, "SELECT model_id, metrics -> 'tiers', (metrics ->> 'n_cells')::int FROM models")
        assert tiers["n_cells"] == n_cells == sum(tiers[t]["n"] for t in ("high", "medium", "low"))
        ref = registry.load_model(fan, mid).confidence_reference
        assert ref["n_cells"] == n_cells and ref["score"] == tiers["score"]

        # a rerun of one piece replaces exactly its own rows (another piece's rows, altered, stay as they are)
        _q(fan, "DELETE FROM models")  # the pieces of a registered model are no-ops: unregister it first
        before = _pieces(fan)
        _q(fan, "UPDATE member_predictions SET pred_log_return = 0 WHERE fold = 0 AND member IN (0, 1)")
        _q(fan, "INSERT INTO member_predictions SELECT model_id, fold, member, coin, as_of + 1000, horizon, 0, 0 "
                "FROM member_predictions WHERE fold = 0 AND member = 1")
        altered = _pieces(fan)
        pipeline.train_member(fan, END, plan[3], CFG)  # (fold 0, member 1)
        after = _pieces(fan)
        assert after[0, 1] == before[0, 1] and after[0, 0] == altered[0, 0] != before[0, 0]
        assert {k: v for k, v in after.items() if k != (0, 1)} == {k: v for k, v in altered.items() if k != (0, 1)}
    finally:
        pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    # once registered, every piece and the gather are no-ops returning the model
    assert pipeline.train_member(db, END, plan[0], CFG)["reused"]
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
    prepared = pipeline.prepare(db, END, CFG)
    plan = pipeline.plan_members(END, prepared, CFG)
    for spec in plan[:-1]:
        pipeline.train_member(db, END, spec, CFG)
    stored = _pieces(db)
    fit_member = train.fit_member

    def dies_mid_fit(*args, **kwargs):
        raise MemoryError("worker killed mid-fit")

    monkeypatch.setattr(train, "fit_member", dies_mid_fit)
    with pytest.raises(MemoryError):
        pipeline.train_member(db, END, plan[-1], CFG)
    monkeypatch.setattr(train, "fit_member", fit_member)
    assert _pieces(db) == stored and (0, 1) not in stored

    def dies_mid_write(data):  # after the piece's old rows are deleted and its predictions inserted
        raise ConnectionError("database gone mid-write")

    monkeypatch.setattr(registry, "to_json", dies_mid_write)
    with pytest.raises(ConnectionError):
        pipeline.train_member(db, END, plan[2], CFG)  # (fold 0, member 0), already stored
    monkeypatch.undo()
    assert _pieces(db) == stored  # its earlier rows are intact: the transaction rolled back

    with pytest.raises(members.MembersMissing) as err:
        pipeline.gather_members(db, END, prepared, CFG)
    assert "(fold 0, member 1)" in str(err.value) and "1 of 4 ensemble pieces" in str(err.value)
    assert "champion stays" in str(err.value)
    _q(db, "DELETE FROM member_weights WHERE fold = -1 AND member = 0")
    with pytest.raises(members.MembersMissing, match=r"\(final fit, member 0\), \(fold 0, member 1\)"):
        pipeline.gather_members(db, END, prepared, CFG)
    assert _q(db, "SELECT model_id, status FROM models") == [("lstm-champion", "champion")]
    assert _q(db, "SELECT count(*) FROM promotion_decisions") == [(0,)]


def test_a_piece_whose_preparation_is_missing_or_damaged_fails_at_once_naming_the_key(db, monkeypatch):
    from cryptolstm.errors import Permanent
    from cryptolstm.modelling import train
    from cryptolstm.serving import preparations

    insert_candles(db, date(2025, 1, 20))
    prepared = pipeline.prepare(db, END, CFG)
    key = prepared["prep_key"]
    plan = pipeline.plan_members(END, prepared, CFG)

    def never(*args, **kwargs):
        raise AssertionError("trained without a sound preparation")

    monkeypatch.setattr(train, "fit_member", never)
    original = _q(db, "SELECT artifact, artifact_sha256 FROM prepared_fits")[0]
    _q(db, "UPDATE prepared_fits SET artifact = set_byte(artifact, 2000, 255 - get_byte(artifact, 2000))")
    with pytest.raises(preparations.PreparationCorrupt, match=f"preparation {key[:12]}.*sha256") as err:
        pipeline.train_member(db, END, plan[2], CFG)
    assert isinstance(err.value, Permanent)  # the DAG fails it without retries
    # bytes that match their digest but are not a preparation: refused too
    _q(db, "UPDATE prepared_fits SET artifact = 'not an npz', artifact_sha256 = %s",
       (__import__("hashlib").sha256(b"not an npz").hexdigest(),))
    with pytest.raises(preparations.PreparationCorrupt, match="not a loadable preparation"):
        pipeline.train_member(db, END, plan[0], CFG)
    _q(db, "UPDATE prepared_fits SET artifact = %s, artifact_sha256 = %s", original)
    _q(db, "DELETE FROM prepared_fits")
    with pytest.raises(preparations.PreparationMissing, match=f"under key {key}") as err:
        pipeline.train_member(db, END, plan[0], CFG)
    assert isinstance(err.value, Permanent)
    assert _q(db, "SELECT count(*) FROM member_weights") == [(0,)] and _pieces(db) == {}
    for spec in plan:  # pieces stored by hand: the gather still needs the preparation, and names its key
        final = spec["fold"] is None
        _q(db, "INSERT INTO member_weights VALUES (%s, %s, %s, 0, '2025-01-11', '{}', %s, %s)",
           (spec["model_id"], -1 if final else spec["fold"], spec["member"], b"x" if final else None,
            "y" if final else None))
        if not final:
            _q(db, "INSERT INTO member_predictions VALUES (%s, %s, %s, 'BTC', '2025-01-02', 1, 0, 0)",
               (spec["model_id"], spec["fold"], spec["member"]))
    with pytest.raises(preparations.PreparationMissing, match=key):
        pipeline.gather_members(db, END, prepared, CFG)


def test_a_corrected_candle_gives_another_preparation_key(db):
    insert_candles(db, date(2025, 1, 20))
    first = pipeline.prepare(db, END, CFG)
    assert pipeline.prepare(db, END, CFG)["prep_key"] == first["prep_key"]  # same candles, same key
    _q(db, "UPDATE candles SET open = open * 1.01, high = high * 1.01, low = low * 1.01, close = close * 1.01 "
           "WHERE coin = 'BTC' AND day = '2025-01-02'")
    second = pipeline.prepare(db, END, CFG)
    assert not second["reused"] and second["prep_key"] != first["prep_key"]
    assert second["model_id"] == first["model_id"]  # the same weekly model, on the corrected candles
    # a candle after the training cutoff is not part of the preparation
    _q(db, "UPDATE candles SET open = open * 1.01, high = high * 1.01, low = low * 1.01, close = close * 1.01 "
           "WHERE coin = 'BTC' AND day = '2025-01-15'")
    assert pipeline.prepare(db, END, CFG)["prep_key"] == second["prep_key"]
