"""Candle validation: every rule, the closed-day cut at the interval end, duplicates, gaps."""

from datetime import date

import pytest

from cryptolstm.market.candles import (DAY_MS, Candle, Reject, check_candles, day_to_ms, jsonable, missing_days,
                                ms_to_day, row_problem)

D = day_to_ms(date(2025, 2, 10))  # a UTC midnight in ms
END = D + 3 * DAY_MS  # interval end: days D, D+1, D+2 are closed


def row(ts=D, o=10.0, h=12.0, l=9.0, c=11.0, v=5.0):
    return [ts, o, h, l, c, v]


def test_day_conversions_round_trip():
    assert ms_to_day(D) == date(2025, 2, 10)
    assert day_to_ms(ms_to_day(D)) == D
    assert ms_to_day(0) == date(1970, 1, 1)


def test_valid_row_has_no_problem():
    assert row_problem(row()) is None
    assert row_problem(row(o=9.0, c=12.0)) is None  # open at low, close at high
    assert row_problem(row(v=0.0)) is None  # a day without trades is valid
    assert row_problem(row(o=1, h=1, l=1, c=1, v=0)) is None  # ints are numbers


@pytest.mark.parametrize("bad, reason", [
    (None, "malformed row"),
    ([D, 1.0, 2.0], "malformed row"),
    (row() + [1.0], "malformed row"),
    (row(ts=None), "timestamp is not an integer"),
    (row(ts=float(D)), "timestamp is not an integer"),
    (row(ts=True), "timestamp is not an integer"),
    (row(ts=D + 3_600_000), "timestamp is not on a UTC day boundary"),
    (row(o=None), "open is not a number"),
    (row(c="11.0"), "close is not a number"),
    (row(v=True), "volume is not a number"),
    (row(h=float("nan")), "high is not finite"),
    (row(v=float("inf")), "volume is not finite"),
    (row(o=0.0, l=0.0), "open is not positive"),
    (row(l=-1.0), "low is not positive"),
    (row(v=-0.5), "volume is negative"),
    (row(h=8.0, l=9.0, o=8.5, c=8.5), "high < low"),
    (row(o=13.0), "open outside [low, high]"),
    (row(c=8.0), "close outside [low, high]"),
])
def test_each_rule_rejects_with_its_reason(bad, reason):
    assert row_problem(bad).startswith(reason)


def test_closed_days_kept_in_order_as_candles():
    rows = [row(D + 2 * DAY_MS, c=11.5), row(D), row(D + DAY_MS)]  # out of order
    out = check_candles(rows, END)
    assert [k.day for k in out.good] == [date(2025, 2, 10), date(2025, 2, 11), date(2025, 2, 12)]
    assert out.good[2] == Candle(date(2025, 2, 12), 10.0, 12.0, 9.0, 11.5, 5.0)
    assert out.rejects == [] and out.still_open == 0


def test_day_open_at_interval_end_is_dropped_not_stored():
    out = check_candles([row(D), row(END, h=float("nan"))], END)  # even a broken open day is just dropped
    assert [k.day for k in out.good] == [date(2025, 2, 10)]
    assert out.still_open == 1 and out.rejects == []


def test_interval_end_inside_a_day_keeps_that_day_open():
    end = D + DAY_MS + 1  # one ms after day D closed: D closed, D+1 open
    out = check_candles([row(D), row(D + DAY_MS)], end)
    assert [k.day for k in out.good] == [date(2025, 2, 10)] and out.still_open == 1


def test_day_after_interval_end_is_a_reject():
    out = check_candles([row(D), row(END + DAY_MS)], END)
    assert [k.day for k in out.good] == [date(2025, 2, 10)]
    assert [(r.reason, r.day) for r in out.rejects] == [("day after the interval end", date(2025, 2, 14))]


def test_bad_row_rejected_with_raw_payload_and_exchange_row():
    bad = row(D + DAY_MS, h=8.0, l=9.0, o=8.5, c=8.5)
    exchange_rows = [[D + DAY_MS, "8.5", "8.0", "9.0", "8.5", "5.0", D + 2 * DAY_MS - 1]]
    out = check_candles([row(D), bad], END, exchange_rows)
    assert [k.day for k in out.good] == [date(2025, 2, 10)]
    (rej,) = out.rejects
    assert rej.reason == "high < low" and rej.day == date(2025, 2, 11)
    assert rej.raw == {"row": bad, "exchange_rows": exchange_rows}


def test_non_finite_values_stay_json_storable_in_rejects():
    out = check_candles([row(D, o=float("nan"))], END)
    assert out.rejects[0].raw == {"row": [D, "nan", 12.0, 9.0, 11.0, 5.0]}
    assert jsonable((1, float("-inf"), {"a": None})) == [1, "-inf", {"a": None}]


def test_identical_duplicate_keeps_one_candle_and_rejects_the_copy():
    out = check_candles([row(D), row(D), row(D + DAY_MS)], END)
    assert [k.day for k in out.good] == [date(2025, 2, 10), date(2025, 2, 11)]
    assert [(r.reason, r.day) for r in out.rejects] == [
        ("duplicate row for the day (identical copy)", date(2025, 2, 10))]


def test_conflicting_duplicates_are_all_rejected_and_the_day_left_missing():
    out = check_candles([row(D), row(D, c=11.9), row(D + DAY_MS)], END)
    assert [k.day for k in out.good] == [date(2025, 2, 11)]
    assert [r.reason for r in out.rejects] == ["conflicting duplicate rows for the day"] * 2
    assert len({r.raw_sha256 for r in out.rejects}) == 2


def test_duplicate_of_a_bad_row_does_not_hide_the_good_copy():
    out = check_candles([row(D), row(D, h=1.0)], END)
    assert [k.day for k in out.good] == [date(2025, 2, 10)]
    assert [r.reason for r in out.rejects] == ["high < low"]


def test_malformed_payload_rows_are_rejected_without_a_day():
    out = check_candles([None, [None] * 6, "x"], END)
    assert out.good == [] and len(out.rejects) == 3
    assert all(r.day is None for r in out.rejects)


def test_reject_digest_is_stable_and_content_based():
    a, b = Reject("r", {"row": [1, 2]}), Reject("r", {"row": [1, 2]})
    assert a.raw_sha256 == b.raw_sha256 != Reject("r", {"row": [1, 3]}).raw_sha256


def test_missing_days():
    first, last = date(2025, 2, 10), date(2025, 2, 14)
    assert missing_days(first, last, {date(2025, 2, 10), date(2025, 2, 12)}) == [
        date(2025, 2, 11), date(2025, 2, 13), date(2025, 2, 14)]
    assert missing_days(first, last, {date(2025, 2, d) for d in range(10, 15)}) == []
    assert missing_days(last, first, set()) == []


def _closes(*closes: float, first: int = 0) -> list:
    """Rows of consecutive days from D + first with the given closes (open = close, a tight valid range)."""
    return [row(D + (first + i) * DAY_MS, c, c * 1.01, c * 0.99, c, 5.0) for i, c in enumerate(closes)]


def test_a_persisting_new_level_is_called_a_level_shift_after_n_days():
    """Issue 20 §4: x0.05 from day D on. Every day stays quarantined, and from the N-th day on the reason says
    the new level has held and how to accept it."""
    ref = {date(2025, 2, 9): 100.0}
    out = check_candles(_closes(5.0, 5.1, 4.9, 5.2), D + 4 * DAY_MS, reference=ref, max_jump=10.0, shift_days=3,
                        coin="SOL")
    assert out.good == [] and [r.day for r in out.rejects] == [date(2025, 2, 10 + i) for i in range(4)]
    assert all(r.reason.startswith("implausible close: x0.0") for r in out.rejects)
    said = ["level shift" in r.reason for r in out.rejects]
    assert said == [False, False, True, True]
    assert "cryptolstm accept-level-shift SOL 2025-02-10" in out.rejects[2].reason
    assert (out.level_shift.day, out.level_shift.days) == (date(2025, 2, 10), 4)
    assert out.level_shift.ratio == pytest.approx(0.05)


def test_a_one_day_spike_stays_quarantined_and_is_no_level_shift():
    ref = {date(2025, 2, 9): 100.0}
    out = check_candles(_closes(100_000.0, 101.0, 99.0, 100.0), D + 4 * DAY_MS, reference=ref, max_jump=10.0,
                        shift_days=3, coin="SOL")
    assert [k.day for k in out.good] == [date(2025, 2, 11), date(2025, 2, 12), date(2025, 2, 13)]
    assert [r.day for r in out.rejects] == [date(2025, 2, 10)] and out.level_shift is None
    assert "level shift" not in out.rejects[0].reason
    # two spikes in a row that do not agree with each other are no level either
    out = check_candles(_closes(100_000.0, 1.0, 99.0), D + 3 * DAY_MS, reference=ref, max_jump=10.0, shift_days=2)
    assert [r.day for r in out.rejects] == [date(2025, 2, 10), date(2025, 2, 11)] and out.level_shift is None


def test_an_accepted_break_starts_a_new_level_that_is_checked_against_itself():
    ref = {date(2025, 2, 8): 101.0, date(2025, 2, 9): 100.0}
    breaks = (date(2025, 2, 10),)
    out = check_candles(_closes(5.0, 5.1, 5000.0, 5.0), D + 4 * DAY_MS, reference=ref, max_jump=10.0, shift_days=3,
                        breaks=breaks)
    assert [k.day for k in out.good] == [date(2025, 2, 10), date(2025, 2, 11), date(2025, 2, 13)]
    assert [r.day for r in out.rejects] == [date(2025, 2, 12)]  # a spike on the new level is still caught
    assert "x980.4 the close of 2025-02-11" in out.rejects[0].reason
    # a correction of a day before the break is still checked against the old level
    out = check_candles(_closes(1.0, first=-1), D, reference=ref, max_jump=10.0, breaks=breaks)
    assert [r.day for r in out.rejects] == [date(2025, 2, 9)]
