"""Issue 27 §1: a weekly run for a week ending before the latest recorded decision could never be decided
(weeks are decided in calendar order). It is refused before anything is trained, with one message naming
both weeks and the backfill order, and a candidate such a run left behind never serves provisionally."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from cryptolstm import pipeline, storage
from cryptolstm.config import PromotionConfig
from cryptolstm.serving import members, registry

CFG = replace(pipeline.PipelineConfig(train_profile="tiny", wf_folds=1, wf_days=28),
              promotion=PromotionConfig(min_cells=40, weeks=4))
OLD, DECIDED, NEXT = (datetime(2025, 1, d, tzinfo=timezone.utc) for d in (12, 19, 26))


def _register(cur, model_id: str, week_end: datetime, status: str = "candidate") -> None:
    cutoff = (week_end - timedelta(days=1)).date()
    registry.register(cur, model_id=model_id, created_for=week_end, training_cutoff=cutoff, feature_version="f",
                      hyperparams={}, code_version="t", metrics={}, artifact=model_id.encode())
    cur.execute("UPDATE models SET status = %s WHERE model_id = %s", (status, model_id))


def _decided(cur, week_end: datetime, model_id: str) -> None:
    cur.execute("INSERT INTO promotion_decisions (decided_for, challenger_id, promoted, reason) "
                "VALUES (%s, %s, false, 'test')", (week_end, model_id))


def test_a_week_before_the_latest_decision_is_refused_before_training_and_a_decided_week_reruns(db):
    with storage.transaction(db) as cur:
        _register(cur, "lstm-decided", DECIDED, "rejected")
        _decided(cur, DECIDED, "lstm-decided")
    with pytest.raises(pipeline.OutOfOrderWeek) as refused:
        pipeline.check_week_order(db, OLD, CFG)
    message = str(refused.value)
    assert "week ending 2025-01-12" in message and "2025-01-19" in message  # both weeks named
    assert "nothing was trained, registered or decided" in message and "retry cannot" in message
    assert "README, 'Backfill'" in message and "weekly DAG" in message and "then the daily DAG" in message
    # decide refuses the same way (a later week decided meanwhile), with the same class: no retry either
    old_model = members.weekly_run(OLD, CFG).model_id
    with storage.transaction(db) as cur:
        _register(cur, old_model, OLD)
    with pytest.raises(pipeline.OutOfOrderWeek, match="week ending 2025-01-12") as at_decide:
        pipeline.decide(db, OLD, old_model, CFG)
    assert f"{old_model} stays an undecided candidate that never serves" in str(at_decide.value)
    with storage.transaction(db) as cur:
        cur.execute("SELECT model_id, status FROM models ORDER BY 1")
        assert cur.fetchall() == sorted([("lstm-decided", "rejected"), (old_model, "candidate")])

    # the decided week itself and the weeks after it run as before
    assert pipeline.check_week_order(db, DECIDED, CFG)["decided"] is False  # another model: decided again later
    assert pipeline.check_week_order(db, NEXT, CFG) == {
        "week_end": "2025-01-26", "model_id": members.weekly_run(NEXT, CFG).model_id, "decided": False}
    # a week whose own challenger is decided (a full rerun of history) reruns: its decision is returned as it was
    with storage.transaction(db) as cur:
        _decided(cur, OLD, old_model)
    assert pipeline.check_week_order(db, OLD, CFG)["decided"] is True


def test_an_older_weeks_undecided_candidate_never_serves_provisionally(db):
    """Before any promotion the newest model trained before the day serves it provisionally: a candidate of
    an older week, whose gate never ran, must not be that model; the newest week's candidate (its decision
    pending) still may."""
    with storage.transaction(db) as cur:
        _register(cur, "week-05", datetime(2025, 1, 5, tzinfo=timezone.utc), "rejected")
        _register(cur, "week-12-never-decided", OLD)  # trained out of order: its week can never be decided
        _register(cur, "week-19", DECIDED, "rejected")

        def provisional(day: date) -> str | None:
            m = registry.provisional_as_of(cur, day)
            return m and m.model_id

        assert provisional(date(2025, 1, 15)) == "week-05"  # not the candidate trained up to 2025-01-11
        assert provisional(date(2025, 1, 20)) == "week-19"
        _register(cur, "week-26-pending", NEXT)  # the newest week, not decided yet
        assert provisional(date(2025, 1, 27)) == "week-26-pending"
        assert provisional(date(2025, 1, 15)) == "week-05"
