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
