"""The evaluation verbs are discovered by the CLI and parse their options."""

from cryptolstm import evaluate
from cryptolstm.cli import build_parser


def test_verbs_are_registered():
    p = build_parser()
    a = p.parse_args(["evaluate", "--csv-dir", "/x", "--folds", "3", "--variants", "lstm,bilstm"])
    assert a.folds == 3 and a.variants == "lstm,bilstm" and callable(a.func)
    b = p.parse_args(["bench-train", "--from-db"])
    assert b.from_db and callable(b.func)


def test_variants_are_the_baseline_and_its_ablations():
    v = evaluate.variants()
    assert next(iter(v)) == "lstm"
    assert v["lstm"].arch == "lstm" and v["bilstm"].arch == "bilstm" and v["cnn_lstm"].arch == "cnn_lstm"
    assert v["lstm_plain_huber"].dir_lambda == 0 and v["lstm_per_coin"].per_coin
