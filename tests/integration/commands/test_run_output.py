"""What `make run` prints at the end: the weekly decision, then every coin's price path with the
stored 80 % and 95 % price ranges under it."""

from __future__ import annotations

from datetime import timedelta

from dashboard_seed import AS_OF, seed

from cryptolstm.commands.run import _print_outcome


def test_printed_forecasts_carry_the_stored_ranges(db, capsys):
    seed(db)
    _print_outcome(db, AS_OF, AS_OF - timedelta(days=1))
    out = capsys.readouterr().out
    assert f"forecasts as of {AS_OF}" in out and "model m2 (champion)" in out
    lines = out.splitlines()
    btc = next(i for i, l in enumerate(lines) if l.startswith("BTC "))
    assert lines[btc + 1].split()[:2] == ["80", "%"] and lines[btc + 2].split()[:2] == ["95", "%"]
    assert len(lines[btc + 1].split()) == 2 + 5 and "–" in lines[btc + 1]
    assert sum(l.split()[:2] == ["80", "%"] for l in lines) == 9


def test_printed_forecasts_carry_the_input_drift_flag(db, capsys):
    from dashboard_seed import DRIFTED

    seed(db)
    _print_outcome(db, AS_OF, AS_OF - timedelta(days=1))
    lines = capsys.readouterr().out.splitlines()
    flagged = [lines[i - 3].split()[0] for i, l in enumerate(lines) if l.split()[:2] == ["INPUT", "DRIFT"]]
    assert flagged == list(DRIFTED)  # under each flagged coin's two range lines, with its cause
    assert f"input drift: {len(DRIFTED)} of 9 coins have an input window unlike" in "\n".join(lines)
    assert any("distance 3.70 > threshold 2.50" in l for l in lines)


def test_printed_forecasts_say_when_drift_was_not_assessed(db, capsys):
    seed(db)
    from cryptolstm import storage

    with storage.transaction(db) as cur:  # a model registered before drift was recorded: NULL columns
        cur.execute("UPDATE forecasts SET input_distance = NULL, input_drift_threshold = NULL, input_drifted = NULL, "
                    "input_drift_cause = NULL")
    _print_outcome(db, AS_OF, AS_OF - timedelta(days=1))
    out = capsys.readouterr().out
    assert "input drift: not assessed" in out and "INPUT DRIFT" not in out


def test_printed_forecasts_carry_their_confidence_tiers(db, capsys):
    from dashboard_seed import seeded_tier

    seed(db)
    _print_outcome(db, AS_OF, AS_OF - timedelta(days=1))
    lines = capsys.readouterr().out.splitlines()
    tier_lines = [l.split() for l in lines if l.split()[:1] == ["tier"]]
    assert len(tier_lines) == 9 and all(len(t) == 1 + 5 for t in tier_lines)
    btc = next(i for i, l in enumerate(lines) if l.startswith("BTC "))
    below = next(l.split() for l in lines[btc + 1:] if l.split()[:1] == ["tier"])  # under its range lines
    assert below[1:] == [seeded_tier(0, h) for h in range(1, 6)]  # BTC: coin_index 0
    assert "confidence tiers: 15 high, 15 medium, 15 low" in "\n".join(lines)


def test_printed_forecasts_say_when_a_model_has_no_tiers(db, capsys):
    seed(db)
    from cryptolstm import storage

    with storage.transaction(db) as cur:  # a model registered before issue 26
        cur.execute("UPDATE forecasts SET confidence = NULL, members_agree = NULL, tier = NULL")
    _print_outcome(db, AS_OF, AS_OF - timedelta(days=1))
    out = capsys.readouterr().out
    assert "confidence tiers: none" in out and not any(l.split()[:1] == ["tier"] for l in out.splitlines())
