"""The evaluation verbs are discovered by the CLI and parse their options."""

from dataclasses import replace

from cryptolstm.evaluation import report as evaluate
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
    # each ablation differs from the baseline in one field only
    for name, field in [("lstm_plain_huber", "dir_lambda"), ("cnn_lstm", "arch"), ("bilstm", "arch"),
                        ("lstm_per_coin", "per_coin")]:
        assert replace(v[name], **{field: getattr(v["lstm"], field)}) == v["lstm"], name
    # the withdrawn round-2 pick and everything measured on top of it keep delta 0.1
    c = evaluate.variants(["lstm_median", "lstm_median_refit", "lstm_median_seed1", "lstm_median_3seeds_b1024"])
    assert v["lstm"].huber_delta == 1.0 and {x.huber_delta for x in c.values()} == {0.1}


def test_the_ensemble_round_verb_parses_its_options():
    a = build_parser().parse_args(["evaluate-ensemble", "--until", "2023-06-20", "--folds", "3", "--seed-sets", "0,1",
                                   "--members", "3", "--sizes", "1,3", "--name", "r"])
    assert (a.folds, a.seed_sets, a.members, a.sizes, a.name) == (3, "0,1", 3, "1,3", "r") and callable(a.func)


def test_the_combination_round_verb_parses_its_options():
    a = build_parser().parse_args(["evaluate-combination", "--until", "2023-06-20", "--folds", "3", "--seed-sets", "0",
                                   "--members", "5", "--highway", "--set", "window=30", "--name", "r9"])
    assert (a.folds, a.seed_sets, a.members, a.highway, a.set, a.name) == (3, "0", 5, True, ["window=30"], "r9")
    assert callable(a.func) and not build_parser().parse_args(["evaluate-combination"]).highway


def test_the_ranges_round_verb_parses_its_options():
    a = build_parser().parse_args(["evaluate-ranges", "--inner-predictions", "i.csv.gz", "--reported-predictions",
                                   "r.csv.gz", "--out", "o", "--name", "rr"])
    assert (a.inner_predictions, a.reported_predictions, a.out, a.name) == ("i.csv.gz", "r.csv.gz", "o", "rr")
    assert a.csv_dir.endswith("binance-1d") and callable(a.func)
