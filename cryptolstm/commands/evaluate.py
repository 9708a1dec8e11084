"""`cryptolstm evaluate` (walk-forward report), `evaluate-ensemble` (round 6), `evaluate-combination` (issue 28),
`evaluate-tiers` (issue 26's round 8), `evaluate-ranges` (issue 26: online coverage correction of the ranges)
and `cryptolstm bench-train` (wall time of 5 folds + final fit;
with `--device`, the device check of commands/bench.py)."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from cryptolstm.commands.bench import add_device_check
from cryptolstm.config import SHARED_DATA_DIR, SHARED_DATA_MORE_DIR, WF_FOLD_DAYS, WF_FOLDS
from cryptolstm.environment import load_settings

DEFAULT_CSV_DIR = SHARED_DATA_DIR  # the served coins
AUX_CSV_DIR = SHARED_DATA_MORE_DIR  # the auxiliary coins


def _panel(args: argparse.Namespace):
    from cryptolstm.market import panel
    from cryptolstm.commands import CommandError

    if args.from_db:
        from cryptolstm.commands.db import forecast_dsn

        p = panel.read_candles(forecast_dsn(load_settings()), until=args.until)
    else:
        import pandas as pd

        dirs = args.csv_dir or [DEFAULT_CSV_DIR, AUX_CSV_DIR]
        p = panel.normalise(pd.concat([panel.load_csv_dir(d) for d in dirs], ignore_index=True))
        if args.until:
            p = panel.until(p, args.until)
    market = load_settings().market
    keep = market.coins if args.served_only else market.universe()
    p = p[p["coin"].isin(keep)].reset_index(drop=True)
    if p.empty:
        raise CommandError("no candles to evaluate on")
    return p


def _progress_to_stderr() -> None:
    """Per-fold and per-epoch training lines ('cryptolstm.training') on stderr, for long runs."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("cryptolstm.training").setLevel(logging.INFO)


def _evaluate(args: argparse.Namespace) -> None:
    from cryptolstm.evaluation import report as evaluate

    _progress_to_stderr()
    names = args.variants.split(",") if args.variants else None
    if args.seeds and names:  # every named variant under each seed: "v", "v@1", "v@2"
        seeds = [int(x) for x in args.seeds.split(",")]
        names = [n if sd == evaluate.variants([n])[n].seed else f"{n}@{sd}" for n in names for sd in seeds]
    configs = evaluate.variants(names)
    if args.max_epochs:
        configs = {k: replace(c, max_epochs=args.max_epochs) for k, c in configs.items()}
    report = evaluate.run_evaluation(_panel(args), configs, n_folds=args.folds, val_days=args.val_days,
                                     final_fit=not args.no_final_fit, score_coins=load_settings().market.coins,
                                     checkpoint=lambda r: evaluate.write_report(r, Path(args.out), args.name))
    jp, mp = evaluate.write_report(report, Path(args.out), args.name)
    print(evaluate.render_markdown(report))
    print(f"wrote {jp} and {mp}")


def _ensemble_round(args: argparse.Namespace) -> None:
    import json

    from cryptolstm.evaluation import ensembles
    from cryptolstm.modelling import train

    _progress_to_stderr()
    panel = _panel(args)
    sizes = tuple(int(x) for x in args.sizes.split(","))
    seed_sets = tuple(int(x) for x in args.seed_sets.split(","))
    config = train.TrainConfig().with_settings(args.set or ())
    result = ensembles.ensemble_round(train.build_cube(panel), config, seed_sets, args.members, sizes,
                                      args.folds, args.val_days, load_settings().market.coins, log=print)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    preds = result.pop("member_predictions")
    pd_members = [p.assign(seed_set=s, member=i) for (s, i), p in preds.items()]
    import pandas as pd

    pd.concat(pd_members, ignore_index=True).to_csv(out / f"{args.name}_members.csv.gz", index=False)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=1, default=str))
    md = ensembles.render_markdown(result)
    (out / f"{args.name}.md").write_text(md)
    print(md)
    print(f"wrote {out / args.name}.json, .md and _members.csv.gz (every member's out-of-sample predictions)")


def _combination_round(args: argparse.Namespace) -> None:
    import json

    from cryptolstm.evaluation import combination_round
    from cryptolstm.modelling import train

    _progress_to_stderr()
    panel = _panel(args)
    seed_sets = tuple(int(x) for x in args.seed_sets.split(","))
    config = train.TrainConfig().with_settings(args.set or ())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def save_members(rnd) -> None:  # the hours of training are kept even if the combination step fails
        import pandas as pd

        if not rnd.predictions:  # every member reused: nothing was trained here
            return

        pd.concat([p.assign(variant=v, seed_set=s, member=i) for (v, s, i), p in rnd.predictions.items()],
                  ignore_index=True).to_csv(out / f"{args.name}_members.csv.gz", index=False)
        (out / f"{args.name}_member_folds.json").write_text(json.dumps(
            {"/".join(map(str, k)): list(w.folds) for k, w in rnd.walks.items()}, indent=1, default=str))

    result = combination_round.combination_round(train.build_cube(panel), config, seed_sets, args.members, args.folds,
                                                 args.val_days, load_settings().market.coins, highway=args.highway,
                                                 log=print, on_walked=save_members,
                                                 reuse=combination_round.load_reused(Path(args.reuse)) if args.reuse else None)
    result.pop("inputs")
    result.pop("predictions").to_csv(out / f"{args.name}_predictions.csv.gz", index=False)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=1, default=str))
    md = combination_round.render_markdown(result)
    (out / f"{args.name}.md").write_text(md)
    print(md)
    print(f"wrote {out / args.name}.json, .md, _predictions.csv.gz (every candidate's out-of-sample predictions), "
          "_members.csv.gz and _member_folds.json (every member's predictions and fold records)")


def _tier_round(args: argparse.Namespace) -> None:
    import json

    from cryptolstm.evaluation import combination_round, tier_round
    from cryptolstm.modelling import train

    _progress_to_stderr()
    panel = _panel(args)
    seed_sets = tuple(int(x) for x in args.seed_sets.split(","))
    config = train.TrainConfig().with_settings(args.set or ())
    combined = combination_round.combination_round(train.build_cube(panel), config, seed_sets, args.members,
                                                   args.folds, args.val_days, load_settings().market.coins,
                                                   log=print, reuse=combination_round.load_reused(Path(args.reuse)))
    result = tier_round.tier_round(combined)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=1, default=str))
    md = tier_round.render_markdown(result)
    (out / f"{args.name}.md").write_text(md)
    print(md)
    print(f"wrote {out / args.name}.json and .md")


def _bench(args: argparse.Namespace) -> None:
    from cryptolstm.modelling import train
    from cryptolstm.evaluation import walkforward as validation
    from cryptolstm.evaluation.baselines import challenger_baselines

    _progress_to_stderr()
    panel = _panel(args)
    cfg = train.TrainConfig().with_settings(args.set or ())
    t0 = time.perf_counter()
    cube = train.build_cube(panel)  # once, as the weekly run does
    res = validation.walk_forward(cube, cfg, n_folds=args.folds, val_days=args.val_days, log=print,
                                  score_coins=load_settings().market.coins,
                                  baselines=challenger_baselines())  # what the weekly challenger fits too
    t1 = time.perf_counter()
    model = train.fit(cube, panel["day"].max(), cfg, label="final fit")
    t2 = time.perf_counter()
    print(f"coins {len(cube.coins)} ({', '.join(cube.coins)}); feature cube built once")
    o = res.metrics.model.overall
    print(f"walk-forward {args.folds} folds: {t1 - t0:.1f}s (DA {o.da:.4f}, MAE/RW {o.mae_ratio_rw:.4f}, "
          f"constant sign {o.constant_sign_share:.2f}); final fit: {t2 - t1:.1f}s "
          f"(epochs {model.info['epochs']}, {model.info['n_fit_windows']} windows)")
    print(f"TOTAL walk-forward + final fit: {t2 - t0:.1f}s (target <= 600s)")
    print("baselines on the same cells: " + ", ".join(f"{n} {m.overall.da:.4f}" for n, m in
                                                       res.metrics.baselines.items()))


def _ranges_round(args: argparse.Namespace) -> None:
    import json

    import pandas as pd

    from cryptolstm.evaluation import coverage_round
    from cryptolstm.market import panel

    p = panel.normalise(panel.load_csv_dir(args.csv_dir))
    p = p[p["coin"].isin(load_settings().market.coins)].reset_index(drop=True)
    read = lambda path: pd.read_csv(path) if path else None  # noqa: E731
    res = coverage_round.run_round(p, read(args.inner_predictions), read(args.reported_predictions))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(res, indent=1, default=str))
    md = coverage_round.render_round(res)
    (out / f"{args.name}.md").write_text(md + "\n")
    print(md)
    print(f"wrote {out / (args.name + '.json')} and {out / (args.name + '.md')}")


def register(sub: argparse._SubParsersAction) -> None:
    def source(p):
        g = p.add_mutually_exclusive_group()
        g.add_argument("--csv-dir", action="append", help="folder of <COIN>USDT.csv daily candles (repeatable; "
                                                          f"default: {DEFAULT_CSV_DIR.name} and {AUX_CSV_DIR.name})")
        g.add_argument("--from-db", action="store_true", help="read the candles table of the forecasting DB")
        p.add_argument("--until", help="ignore candles after this day (YYYY-MM-DD)")
        p.add_argument("--served-only", action="store_true",
                       help="train on the served coins only (default: the whole training universe)")
        p.add_argument("--folds", type=int, default=WF_FOLDS, help=f"walk-forward folds (default {WF_FOLDS})")
        p.add_argument("--val-days", type=int, default=WF_FOLD_DAYS,
                       help=f"scored as-of days per fold (default {WF_FOLD_DAYS})")

    def members(p):
        p.add_argument("--seed-sets", default="0", help="comma list of seed sets s (member i has seed s + 1000 i)")
        p.add_argument("--members", type=int, default=5, help="K, members per seed set (default 5)")

    def output(p, name: str, func) -> None:
        p.add_argument("--out", default="reports", help="output folder (default reports/)")
        p.add_argument("--name", default=name, help="file stem of the report")
        p.set_defaults(func=func)

    def settings(p):
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="a member configuration: TrainConfig() with this field changed (repeatable; e.g. "
                            "window=30, lstm_units=64,32, train_stride=2: a round's candidate)")

    ev = sub.add_parser("evaluate", help="walk-forward evaluation of the LSTM, ablations and baselines")
    source(ev)
    ev.add_argument("--variants", help="comma list among lstm,lstm_plain_huber,bilstm,cnn_lstm,lstm_per_coin,"
                                       "lstm_lr3e-4,lstm_3seeds,lstm_refit (default: all; the first is the main model)")
    ev.add_argument("--seeds", help="comma list of seeds: each named variant runs once per seed (mean and "
                                    "spread reported)")
    ev.add_argument("--max-epochs", type=int, help="override max_epochs (quick runs)")
    ev.add_argument("--no-final-fit", action="store_true", help="skip the timed final fit on all data")
    output(ev, "evaluation", _evaluate)
    er = sub.add_parser("evaluate-ensemble", help="seed-ensemble round: walk every member forward once, score "
                                                  "every draw of K members next to the baselines (round 6)")
    source(er)
    members(er)
    er.add_argument("--sizes", default="1,3,5", help="ensemble sizes K to score, every draw of K members (default 1,3,5)")
    settings(er)
    output(er, "ensemble_round", _ensemble_round)
    ec = sub.add_parser("evaluate-combination", help="issue 28's round: the K-member ensemble per seed set, combined "
                                                     "with the rules and the classifier (blend_equal, stacked), and with "
                                                     "--highway the highway ensemble, next to the baselines")
    source(ec)
    members(ec)
    ec.add_argument("--highway", action="store_true", help="also walk the ensemble with highway=True (lstm_highway: "
                                                           "twice the training)")
    settings(ec)
    ec.add_argument("--reuse", metavar="STEM",
                    help="take the control's members from an evaluate-ensemble run of the same configuration, seeds and "
                         "folds (STEM.json and STEM_members.csv.gz, e.g. reports/round7_reported) instead of training them")
    output(ec, "combination_round", _combination_round)
    et = sub.add_parser("evaluate-tiers", help="issue 26's round 8: confidence tiers of the served blend, every "
                                               "candidate score and cut, next to each baseline's own confident cells "
                                               "(members reused from an evaluate-combination or evaluate-ensemble run)")
    source(et)
    members(et)
    settings(et)
    et.add_argument("--reuse", metavar="STEM", required=True,
                    help="the members' run (STEM.json, STEM_members.csv.gz[, STEM_member_folds.json]): nothing is trained")
    output(et, "tier_round", _tier_round)
    rr = sub.add_parser("evaluate-ranges", help="issue 26's round: the coverage corrections of the ranges on the "
                                                "random-walk stream (and walk-forward predictions files), no training")
    rr.add_argument("--csv-dir", default=str(DEFAULT_CSV_DIR), help=f"served coins' candles (default {DEFAULT_CSV_DIR.name})")
    rr.add_argument("--inner-predictions", help="walk-forward predictions of the inner period (.csv.gz): stream 2")
    rr.add_argument("--reported-predictions", help="walk-forward predictions of the reported folds (.csv.gz): stream 2")
    output(rr, "ranges_round", _ranges_round)
    bench = sub.add_parser("bench-train", help=f"time walk-forward ({WF_FOLDS} folds) + final fit of the default "
                                               "config; --device: the TensorFlow device (CPU/GPU) and s/step check")
    source(bench)
    settings(bench)
    add_device_check(bench, wall_time=_bench, panel_of=_panel)
