"""`cryptolstm forecast` by hand: a model that cannot be trusted is one line of error, not a traceback."""

from __future__ import annotations

from datetime import date

from cryptolstm import cli, storage
from orchestration_seed import insert_candles, make_champion

CUTOFF, EFFECTIVE, AS_OF = date(2024, 12, 31), date(2025, 1, 1), date(2025, 1, 15)


def test_a_corrupt_model_is_one_line_and_a_non_zero_exit(db, monkeypatch, capsys):
    """Issue 20: a corrupt model in the CLI printed a traceback instead of one line."""
    insert_candles(db, AS_OF)
    make_champion(db, "champ", CUTOFF, EFFECTIVE)
    with storage.transaction(db) as cur:
        cur.execute("UPDATE models SET artifact = overlay(artifact placing 'xx' from 100) WHERE model_id = 'champ'")
    monkeypatch.setenv("CRYPTOLSTM_DSN", db)
    assert cli.main(["forecast", "--as-of", AS_OF.isoformat()]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: no forecast for {AS_OF}: ArtifactError: artifact of champ does not match its sha256")
