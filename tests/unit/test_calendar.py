"""Day and week boundaries, and the daily run's wait for the weekly decision (pure functions)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from cryptolstm.calendar import (as_date, comparison_days, evaluation_window, training_cutoff, utc_midnight,
                                 weekly_boundary, weekly_logical_date, weekly_wait)
from cryptolstm.config import PipelineConfig, PromotionConfig


def test_weekly_boundary_is_the_last_sunday():
    assert weekly_boundary(date(2025, 1, 5)) == date(2025, 1, 5)  # a Sunday
    assert weekly_boundary(date(2025, 1, 6)) == date(2025, 1, 5)
    assert weekly_boundary(date(2025, 1, 11)) == date(2025, 1, 5)
    assert weekly_boundary(date(2025, 1, 12)) == date(2025, 1, 12)
    assert weekly_boundary(datetime(2025, 1, 8, 23, 59, tzinfo=timezone.utc)) == date(2025, 1, 5)


def test_interval_bounds_as_days_and_midnights():
    assert as_date(datetime(2025, 1, 5, 0, 0, tzinfo=timezone.utc)) == date(2025, 1, 5)
    assert as_date(date(2025, 1, 5)) == date(2025, 1, 5)
    assert utc_midnight(date(2025, 1, 5)) == datetime(2025, 1, 5, tzinfo=timezone.utc)
    assert weekly_logical_date(date(2025, 1, 12)) == datetime(2025, 1, 5, tzinfo=timezone.utc)
    assert training_cutoff(datetime(2025, 1, 12, tzinfo=timezone.utc)) == date(2025, 1, 11)


def test_evaluation_window_ends_when_the_last_target_is_known_at_the_cutoff():
    first, last = evaluation_window(date(2025, 3, 2), PipelineConfig(wf_days=56))
    assert last == date(2025, 2, 24)  # + 5 horizons = 2025-03-01 = the training cutoff
    assert (last - first).days == 55


def test_comparison_days_are_the_last_k_weeks_of_the_window():
    cfg = PipelineConfig(wf_days=56, promotion=PromotionConfig(weeks=2))
    days = comparison_days(datetime(2025, 3, 2, tzinfo=timezone.utc), cfg)
    assert len(days) == 14 and days[-1] == date(2025, 2, 24) and days[0] == date(2025, 2, 11)
    assert days == sorted(days)


@pytest.mark.parametrize("decided, runs, failed, succeeded, ready, is_failed, reason", [
    (True, 1, 0, 0, True, False, "decided"),  # decision recorded: go, whatever the run is doing
    (True, 0, 0, 0, True, False, "decided"),  # a manual decision without a weekly run
    (False, 0, 0, 0, True, False, "no run for that week"),  # live before the first week, daily-only backfill
    (False, 1, 1, 0, False, True, "failed"),  # the weekly run failed: stop, it must be rerun
    (False, 1, 0, 1, True, False, "finished without a decision"),
    (False, 1, 0, 0, False, False, "running"),  # queued or running: ask again
])
def test_weekly_wait(decided, runs, failed, succeeded, ready, is_failed, reason):
    w = weekly_wait(decided=decided, runs=runs, failed=failed, succeeded=succeeded)
    assert (w.ready, w.failed, w.reason) == (ready, is_failed, reason)
