"""`make run` says what the weekly run trained: K members and their seeds, the folds, the coins."""

from types import SimpleNamespace

from cryptolstm.commands.run import trained_line


def test_the_trained_line_names_members_seeds_folds_and_coins():
    model = SimpleNamespace(model_id="lstm-20250215-abc", hyperparams={"n_seeds": 3, "seed": 0,
                                                                     "coins": ["BTC", "ETH", "ATOM"]},
                            metrics={"folds": [{"fold": 0}, {"fold": 1}], "eval_start": "2024-10-01",
                                     "eval_end": "2025-02-09"})
    line = trained_line(model)
    assert "K = 3 member(s) (seeds 0, 1000, 2000)" in line
    assert "2 walk-forward folds (2024-10-01 .. 2025-02-09)" in line and "3 coins (BTC ETH ATOM)" in line
