"""The weekly run's pieces (member_predictions, member_weights, baseline_predictions, prepared_fits) as the gather
meets them, issue 27. The pieces' rows are simulated in SQL (what prepare, train_member and fit_baselines store);
the gather runs for real.
* §3: nothing deleted them. They are kept until their model is registered and `member_retention_weeks` after
  it, then the gather deletes them, keyed by its interval: storage stays bounded over a quarter of weekly runs.
* §4: a walk-forward piece with its facts but no predictions got past the gather's check to a ValueError that
  Airflow retried. It is a missing piece (MembersMissing: the DAG fails the gather without retry)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg2.extras
import pytest

from cryptolstm import pipeline, storage
from cryptolstm.serving import members, registry

CFG = replace(pipeline.PipelineConfig(train_profile="tiny", wf_folds=2, wf_days=56, ensemble_members=2))
FIRST = datetime(2025, 1, 5, tzinfo=timezone.utc)
CELLS = 20  # predictions per walk-forward piece (production: ~4,500)


def _store_pieces(cur, end: datetime) -> str:
    """The rows prepare, train_member and fit_baselines store for the weekly run ending `end`; its model id."""
    run = members.weekly_run(end, CFG)
    cur.execute(storage.query("prepared_fits_upsert"), {"prep_key": f"key-{run.model_id}", "model_id": run.model_id,
                                                        "training_cutoff": run.cutoff, "artifact": b"npz",
                                                        "artifact_sha256": "s"})
    for fold, member in run.keys():
        final = fold is None  # only the final fit's members keep weights
        cur.execute(storage.query("member_weights_insert"), {
            "model_id": run.model_id, "fold": fold, "member": member, "seed": member, "training_cutoff": run.cutoff,
            "info": "{}", "artifact": b"one-member bundle" if final else None, "artifact_sha256": "s" if final else None})
        if not final:
            psycopg2.extras.execute_values(cur, "INSERT INTO member_predictions VALUES %s", [
                (run.model_id, fold, member, "BTC", run.cutoff - timedelta(days=k), 1, 0.0, 0.0) for k in range(CELLS)])
    for fold in range(run.wf_folds):
        psycopg2.extras.execute_values(cur, "INSERT INTO baseline_predictions VALUES %s", [
            (run.model_id, fold, "BTC", run.cutoff - timedelta(days=k), 1, '{"always_up": 1.0}') for k in range(CELLS)])
    return run.model_id


def _register(cur, end: datetime, model_id: str) -> None:
    registry.register(cur, model_id=model_id, created_for=end, training_cutoff=(end - timedelta(days=1)).date(),
                      feature_version="f", hyperparams={"n_seeds": 2}, code_version="t", metrics={},
                      artifact=model_id.encode())


def _pieces(db) -> dict[str, tuple[int, int]]:
    """{model_id: (member_weights rows, member_predictions rows)}; the fold baselines and the preparation of a
    model are kept and deleted with its member pieces (checked here, so the counts stay what they were)."""
    with storage.transaction(db) as cur:
        cur.execute("SELECT w.model_id, count(*), (SELECT count(*) FROM member_predictions p "
                    "WHERE p.model_id = w.model_id), (SELECT count(*) FROM baseline_predictions b "
                    "WHERE b.model_id = w.model_id), (SELECT count(*) FROM prepared_fits f "
                    "WHERE f.model_id = w.model_id) FROM member_weights w GROUP BY 1")
        rows = cur.fetchall()
        cur.execute("SELECT (SELECT count(DISTINCT model_id) FROM baseline_predictions), "
                    "(SELECT count(*) FROM prepared_fits)")
        assert cur.fetchone() == (len(rows), len(rows))  # no baselines or preparation outlive their pieces
        assert all(b == 2 * CELLS and f == 1 for _, _, _, b, f in rows)
        return {m: (w, p) for m, w, p, _, _ in rows}


def test_member_pieces_stay_bounded_over_a_quarter_of_weekly_runs(db):
    per_model = (len(members.weekly_run(FIRST, CFG).keys()), 2 * 2 * CELLS)  # 6 pieces, 4 with predictions
    weeks = CFG.member_retention_weeks
    assert weeks == 4  # the default
    ids = []
    for i in range(13):  # a quarter: 13 weekly runs, each storing its pieces, registering and gathering
        end = FIRST + timedelta(weeks=i)
        with storage.transaction(db) as cur:
            ids.append(_store_pieces(cur, end))
            _register(cur, end, ids[-1])  # what the gather registers (its rerun finds it and returns it)
        out = pipeline.gather_members(db, end, None, CFG)
        assert out["reused"] and out["model_id"] == ids[-1]
        assert out["pieces_deleted"] == (per_model[0] if i >= weeks else 0)
        # kept: this week's and those of the last `weeks - 1` weeks before it; nothing older
        assert _pieces(db) == {m: per_model for m in ids[-weeks:]}, i
    assert _pieces(db) == {m: per_model for m in ids[9:]}  # 4 models' pieces, not 13

    # idempotent: a rerun of the last gather deletes nothing more; pieces of a model not registered yet stay
    with storage.transaction(db) as cur:
        pending = _store_pieces(cur, end + timedelta(weeks=1))
    before = _pieces(db)
    assert pipeline.gather_members(db, end, None, CFG)["pieces_deleted"] == 0 and _pieces(db) == before
    assert pending in before

    # retention 0: a model's pieces go as soon as it is registered
    with storage.transaction(db) as cur:
        _register(cur, end + timedelta(weeks=1), pending)
    out = pipeline.gather_members(db, end + timedelta(weeks=1), None, replace(CFG, member_retention_weeks=0))
    assert out["pieces_deleted"] == (weeks + 1) * per_model[0] and _pieces(db) == {}  # its own and the 4 kept


def test_a_piece_with_facts_but_no_predictions_is_missing_and_nothing_is_registered(db):
    with storage.transaction(db) as cur:
        _store_pieces(cur, FIRST)
        cur.execute("DELETE FROM member_predictions WHERE fold = 1 AND member = 0")
    with pytest.raises(members.MembersMissing) as refused:
        pipeline.gather_members(db, FIRST, None, CFG)
    message = str(refused.value)
    assert "1 of 6 ensemble pieces" in message and "(fold 1, member 0)" in message
    assert "facts without their predictions" in message and "rerun those train_member tasks" in message
    with storage.transaction(db) as cur:
        cur.execute("SELECT count(*) FROM models")
        assert cur.fetchone() == (0,)
