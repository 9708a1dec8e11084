"""The evaluation report: walk-forward of the LSTM and each ablation, every baseline on the same
cells, block-bootstrap intervals, training time; written as JSON + markdown.

    report = run_evaluation(panel, variants(), n_folds=WF_FOLDS)
    write_report(report, Path("reports"))
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from cryptolstm.config import DEFAULT_COINS, PURGE_DAYS, WF_FOLD_DAYS, WF_FOLDS
from cryptolstm.modelling import features as feats_mod
from cryptolstm.modelling import train
from cryptolstm.evaluation import intervals, rounds
from cryptolstm.evaluation.scores import Bootstrap, ModelScores


CANDIDATES = ("lstm_lr3e-4", "lstm_3seeds", "lstm_refit", "lstm_median", "lstm_signdir", "lstm_median_sign",
              "lstm_median_sign_clip2", "lstm_median_refit", "lstm_median_es5", "lstm_median_seed1",
              "lstm_median_seed2", "lstm_median_3seeds_b1024",
              "s_fast", "s_vol", "s_vol_sign", "s_vol_sign_3s")  # named explicitly for selection runs

# Small, fast network for the 20-coin universe (issue 11): 20-day window, narrow layers, big batches.
FAST = dict(window=20, lstm_units=(32, 16), dense_units=16, batch_size=1024, patience=2)


def variants(names=None) -> dict[str, train.TrainConfig]:
    """Named configurations: the default LSTM, the ablations, and the quality candidates of each tuning round.
    Which round tried what, why, and what it measured: docs/evaluation.md (rounds 1-5)."""
    base = train.TrainConfig()
    med = replace(base, huber_delta=0.1)  # withdrawn round-2 pick (a constant-sign model)
    fast = replace(base, **FAST)
    allv = {
        "lstm": base,  # the default
        "lstm_plain_huber": replace(base, dir_lambda=0.0),  # loss ablation
        "cnn_lstm": replace(base, arch="cnn_lstm"),  # architecture ablation
        "lstm_per_coin": replace(base, per_coin=True),  # one model per coin instead of one shared
        "bilstm": replace(base, arch="bilstm"),  # architecture ablation (the slowest: last)
        # quality candidates: selected on the inner walk-forward (`--until 2023-06-20 --folds 3`) only
        "lstm_lr3e-4": replace(base, learning_rate=3e-4),  # round 1
        "lstm_3seeds": replace(base, n_seeds=3),
        "lstm_refit": replace(base, refit_all=True),
        "lstm_median": med,  # round 2
        "lstm_signdir": replace(base, dir_term="sign"),
        "lstm_median_sign": replace(med, dir_term="sign"),
        "lstm_median_sign_clip2": replace(med, dir_term="sign", input_clip=2.0),
        "lstm_median_refit": replace(med, refit_all=True),  # round 3
        "lstm_median_es5": replace(med, es_fraction=0.05),
        "lstm_median_seed1": replace(med, seed=1),  # round 4
        "lstm_median_seed2": replace(med, seed=2),
        "lstm_median_3seeds_b1024": replace(med, n_seeds=3, batch_size=1024),
        "s_fast": fast,  # round 5 (issue 11)
        "s_vol": replace(fast, target_scaling="vol"),
        "s_vol_sign": replace(fast, target_scaling="vol", sign_head=1.0),
        "s_vol_sign_3s": replace(fast, target_scaling="vol", sign_head=1.0, n_seeds=3),
    }
    if names is None:  # the ablation table; quality candidates only when named
        return {n: c for n, c in allv.items() if n not in CANDIDATES}
    out = {}
    for name in names:  # "<variant>@<seed>" = that variant with another seed (seed-spread runs)
        base_name, _, seed = name.partition("@")
        if base_name not in allv:
            raise ValueError(f"unknown variant {base_name!r}; known: {sorted(allv)}")
        out[name] = replace(allv[base_name], seed=int(seed)) if seed else allv[base_name]
    return out


def run_evaluation(panel: pd.DataFrame, configs: dict[str, train.TrainConfig], n_folds: int = WF_FOLDS,
                   val_days: int = WF_FOLD_DAYS, final_fit: bool = True, log=print, checkpoint=None,
                   score_coins: tuple[str, ...] = DEFAULT_COINS) -> dict:
    """Walk-forward every config (first one = the main model) and, right after the first, time a final
    fit on all data. The feature cube is built once; baselines are fit once (with the first config's
    window they score the same cells) and every variant is compared with them. `checkpoint(report)` is
    called after each step so long runs leave partial reports."""
    t0 = time.perf_counter()
    cube = train.build_cube(panel)
    report = {"data": {"coins": sorted(panel["coin"].unique()), "first_day": str(panel["day"].min().date()),
                       "last_day": str(panel["day"].max().date()), "rows": int(len(panel)),
                       "served": [c for c in cube.coins if c in score_coins]},
              "feature_version": feats_mod.FEATURE_VERSION, "n_folds": n_folds, "val_days": val_days,
              "variants": {}, "timing": {"feature_cube_s": round(time.perf_counter() - t0, 1)}}

    def record(name: str, m, rnd: rounds.Round) -> None:  # each variant is a draw of its own, scored once walked
        res, cfg = rnd.walks[name], configs[name]
        if "baselines" not in report:
            report["baselines"] = {k: v.to_json() for k, v in m.baselines.items()}
            report["cells"] = {"n_cells": m.n_cells, "n_as_of_days": m.n_as_of_days,
                               "first_as_of": res.folds[0]["val_start"], "last_as_of": res.folds[-1]["val_end"]}
            # 5-day ranges of the main model on its own walk-forward residuals, beside the two baselines, and the
            # served online corrections of them (issue 26) on the same cells
            served = tuple(dict.fromkeys(c for c in intervals.IntervalConfig().corrections if c != "none"))
            report["intervals"] = intervals.evaluate(res.predictions, panel, corrections=served)
        report["variants"][name] = {"config": asdict(cfg), "metrics": m.model.to_json(),
                                    "bootstrap": {k: b.to_json() for k, b in m.bootstrap.items()}, "folds": res.folds,
                                    "walk_forward_seconds": round(res.seconds, 1)}
        report["timing"][f"walk_forward_{name}_s"] = round(res.seconds, 1)
        log(f"   {name}: DA {m.da:.4f}, MAE/RW {m.mae_ratio_rw:.4f}, "
            f"constant sign {m.model.overall.constant_sign_share:.2f}, {res.seconds:.0f}s")
        if final_fit and "final_fit_s" not in report["timing"]:
            t0 = time.perf_counter()
            model = train.fit(cube, panel["day"].max(), cfg, label="final fit")
            report["timing"]["final_fit_s"] = round(time.perf_counter() - t0, 1)
            report["final_fit"] = {"variant": name, **model.info}
            report["timing"]["walk_forward_plus_final_fit_s"] = round(res.seconds + report["timing"]["final_fit_s"], 1)
            log(f"   final fit of {name}: {report['timing']['final_fit_s']}s")
        report["seeds"] = seed_summary(report)
        if checkpoint:
            checkpoint(report)

    rounds.run_round(cube, configs, rounds.alone, n_folds, val_days, score_coins, log, on_draw=record)
    return report


def seed_summary(report: dict) -> dict:
    """Per variant run under several seeds ("name", "name@1", ...): mean, min and max of DA and MAE/RW."""
    groups: dict[str, list[str]] = {}
    for name in report["variants"]:
        groups.setdefault(name.partition("@")[0], []).append(name)
    out = {}
    for base, names in groups.items():
        if len(names) < 2:
            continue
        da = [report["variants"][n]["metrics"]["overall"]["da"] for n in names]
        mr = [report["variants"][n]["metrics"]["overall"]["mae_ratio_rw"] for n in names]
        cs = [report["variants"][n]["metrics"]["overall"]["constant_sign_share"] for n in names]
        out[base] = {"runs": names, "da_mean": sum(da) / len(da), "da_min": min(da), "da_max": max(da),
                     "mae_ratio_rw_mean": sum(mr) / len(mr), "mae_ratio_rw_max": max(mr),
                     "constant_sign_max": max(cs)}
    return out


def render_markdown(report: dict) -> str:
    """Tables: overall, per horizon DA, bootstrap DA - baseline, per coin DA, timing (of a report as `run_evaluation`
    returns it or as its JSON file stores it)."""
    f = rounds.fmt
    v = report["variants"]
    rows = {**{k: ModelScores.from_json(x["metrics"]) for k, x in v.items()},
            **{k: ModelScores.from_json(x) for k, x in report["baselines"].items()}}
    boots = {k: {h: Bootstrap.from_json(b) for h, b in x["bootstrap"].items()} for k, x in v.items()}
    main = next(iter(v))
    c = report["cells"]
    lines = [f"# Walk-forward evaluation ({report['feature_version']})", "",
             f"Data {report['data']['first_day']} .. {report['data']['last_day']}, coins "
             f"{', '.join(report['data']['coins'])} (scored: {', '.join(report['data'].get('served', []))}; "
             "logit / gbm_clf predict P(up) - 0.5, scaled by the fold's mean |y_h|). "
             f"{report['n_folds']} expanding folds of {report['val_days']} "
             f"as-of days, purge {PURGE_DAYS}; scored as-of days {c['first_as_of']} .. {c['last_as_of']} "
             f"({c['n_as_of_days']} days, {c['n_cells']} cell-horizons). Every row is out-of-sample, on the same cells.",
             "", "## Overall", ""]
    ci = {k: b["overall"].da_ci for k, b in boots.items()}  # variants only
    lines += rounds.table({k: (m.overall, ci.get(k)) for k, m in rows.items()}, [
        ("DA", lambda r: f(r[0].da)),
        ("DA 95% CI (block bootstrap)", lambda r: f"[{f(r[1][0])}, {f(r[1][1])}]" if r[1] else ""),
        ("MAE", lambda r: f(r[0].mae, 5)), ("MAE / RW", lambda r: f(r[0].mae_ratio_rw)),
        ("RMSE", lambda r: f(r[0].rmse, 5)), ("share up", lambda r: f(r[0].share_positive, 3)),
        ("PT p (naive)", lambda r: f(r[0].pt_p, 3)), ("path err", lambda r: f(r[0].path_error, 5)),
        ("constant sign (fold x h)", lambda r: f(r[0].constant_sign_share, 2))])
    if report.get("seeds"):
        lines += ["", "## Across seeds (mean [min, max])", ""]
        lines += rounds.table(report["seeds"], [
            ("runs", lambda sm: str(len(sm["runs"]))),
            ("DA", lambda sm: f"{f(sm['da_mean'])} [{f(sm['da_min'])}, {f(sm['da_max'])}]"),
            ("MAE / RW (mean, max)", lambda sm: f"{f(sm['mae_ratio_rw_mean'])}, {f(sm['mae_ratio_rw_max'])}"),
            ("constant sign (max)", lambda sm: f(sm["constant_sign_max"], 2))], first="variant")
    H = sorted(rows[main].per_horizon, key=int)
    lines += ["", "## Directional accuracy per horizon (MAE / RW in brackets)", ""]
    lines += rounds.table(rows, [(f"h={h}", lambda m, h=h: f"{f(m.per_horizon[h].da)} "
                                                             f"({f(m.per_horizon[h].mae_ratio_rw, 3)})") for h in H])
    for vname, bs in boots.items():
        lines += ["", f"## {vname}: DA minus each baseline, 95% block-bootstrap CI (blocks of "
                      f"{bs['overall'].block} as-of days), one-sided p = P(diff <= 0)", ""]
        lines += rounds.table({b: [bs[k].vs[b] for k in ("overall", *H)] for b in bs["overall"].vs}, [
            (k if k == "overall" else f"h={k}", lambda ds, i=i: f"{ds[i].diff:+.4f} [{ds[i].ci[0]:+.3f}, "
                                                                 f"{ds[i].ci[1]:+.3f}] p={ds[i].p_le_0:.2f}")
            for i, k in enumerate(("overall", *H))], first="baseline")
    coins = sorted(rows[main].per_coin)
    lines += ["", "## Directional accuracy per coin", ""]
    lines += rounds.table(rows, [(k, lambda m, k=k: f(m.per_coin[k].da)) for k in coins])
    lines += ["", f"## Folds ({main})", ""]
    lines += rounds.table({str(fo["fold"]): fo for fo in v[main]["folds"]}, [
        ("train cutoff", lambda fo: fo["cutoff"]), ("scored as-of days", lambda fo: f"{fo['val_start']} .. {fo['val_end']}"),
        ("cells", lambda fo: str(fo["n_cells"])), ("fit s", lambda fo: str(fo["fit_seconds"])),
        ("epochs", lambda fo: str(fo["epochs"])),
        *((f"{n} DA", lambda fo, n=n: f(getattr(rows[n].per_fold.get(str(fo["fold"])), "da", None))) for n in v)],
        first="fold")
    lines += ["", "## Wall time (seconds)", ""]
    lines += rounds.table(report["timing"], [("s", str)], first="step")
    if report.get("intervals"):
        lines += ["", intervals.render_markdown(report["intervals"])]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out_dir: Path, stem: str = "evaluation") -> tuple[Path, Path]:
    """reports/<stem>.json and reports/<stem>.md (the caller decides the folder; created here, not at import)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jp, mp = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    jp.write_text(json.dumps(report, indent=1, default=str))
    mp.write_text(render_markdown(report))
    return jp, mp
