"""Round 8 (issue 26): confidence tiers of the served forecast, every candidate score and cut, next to each
baseline's own confident cells at the same coverage (docs/evaluation.md, round 8).

The members are not trained here: `combination_round` reuses an earlier walk (`--reuse STEM`) and hands over what
the tiers rank (its "inputs"); this module ranks and scores.

    r = tier_round(combination_round.combination_round(cube, config, (0,), 5, 3, reuse=load_reused(stem)))
    r["pick"]   # round 8's rule
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cryptolstm.evaluation import rounds, tiers

KEYS = ["fold", "coin", "as_of", "horizon"]


def rule_forecasts(baselines: pd.DataFrame, cells: pd.DataFrame, rules: dict) -> pd.DataFrame:
    """[KEYS, pred_log_return] of the best rule of each cell's fold ({fold: rule name}), on `cells`' rows."""
    f = cells[KEYS].merge(baselines, on=KEYS, how="left")
    pred = np.array([f.at[i, rules[int(k)]] for i, k in enumerate(f["fold"])], dtype=np.float64)
    return f[KEYS].assign(pred_log_return=pred)


def seed_set_cells(inputs: dict, s: int) -> pd.DataFrame:
    """`tiers.cell_inputs` of seed set s (with the realised returns)."""
    d = inputs["seed_sets"][s]
    rule = rule_forecasts(inputs["baselines"], d["blend_equal"], d["rules"])
    return tiers.cell_inputs(d["ensemble"], d["members"], d["blend_equal"], rule)


def tier_round(result: dict, cuts=tiers.CUTS) -> dict:
    """Every (score, cut) candidate per seed set, every baseline's confident cells at each cut, the overlap of the
    model's top third with each rule's, and round 8's pick on the first seed set (JSON-able)."""
    inputs = result["inputs"]
    seed_sets = sorted(inputs["seed_sets"])
    signals = inputs["signals"][KEYS + ["r_1", "r_3", "r_7"]]
    per_set, base, over, overall = {}, {}, {}, {}
    for s in seed_sets:
        cells = seed_set_cells(inputs, s)
        overall[s] = tiers._da(cells, "served", np.ones(len(cells), bool))
        per_set[s] = {f"{name}@{p}": tiers.tier_figures(cells, name, p) for name in tiers.SCORES for p in cuts}
        over[s] = tiers.overlap(cells, inputs["baselines"], signals)
        if s == seed_sets[0]:  # the baselines do not depend on the seed set
            base = {str(p): tiers.baseline_confident(cells, inputs["baselines"], signals, p) for p in cuts}
    candidates = sorted(per_set[seed_sets[0]])
    mean_da = {c: {t: float(np.mean([per_set[s][c][t]["da"] for s in seed_sets])) for t in tiers.TIERS}
               for c in candidates}
    return {"n_folds": result["n_folds"], "first_as_of": result["first_as_of"], "last_as_of": result["last_as_of"],
            "n_cells": result["n_cells"], "seed_sets": seed_sets, "cuts": list(cuts), "overall": overall,
            "candidates": per_set, "mean_over_seed_sets": mean_da, "baselines": base, "overlap": over,
            "pick": tiers.pick(per_set[seed_sets[0]])}


def render_markdown(r: dict) -> str:
    """The round's tables: per candidate the tiers' DA (first seed set with intervals; the mean over seed sets),
    the baselines' confident cells at each cut, the high tier per horizon and per coin, the overlap, the pick."""
    f = rounds.fmt
    s0 = r["seed_sets"][0]
    pk = r["pick"]
    ci = lambda d: f"{f(d['da'])} [{f(d['ci'][0], 3)}, {f(d['ci'][1], 3)}]" if d.get("ci") else f(d.get("da"))
    lines = [f"# Confidence tiers (issue 26, round 8)", "",
             f"{r['n_folds']} folds, as-of days {r['first_as_of']} .. {r['last_as_of']}, {r['n_cells']} cell-horizons; "
             f"seed sets {r['seed_sets']}. The served forecast's overall DA: "
             + ", ".join(f"set {s} {ci(r['overall'][s])}" for s in r["seed_sets"]) + ".",
             f"Pick by round 8's rule (seed set {s0}): **{pk['candidate']}** (high tier's interval from "
             f"{f(pk['high_ci_low'])}; best lower end {f(pk['best_ci_low'])}, {pk['best']}). Only the inner run's "
             "pick is served; on the reported folds this line chooses nothing.", ""]
    lines += [f"## Tiers per candidate (seed set {s0}: DA [95 % day-block interval], cells)", ""]
    lines += rounds.table(r["candidates"][s0], [
        (t, lambda d, t=t: f"{ci(d[t])} ({d[t]['n']})") for t in tiers.TIERS], first="score@high share")
    if len(r["seed_sets"]) > 1:
        lines += ["", f"## Tiers per candidate, mean DA over seed sets {r['seed_sets']}", ""]
        lines += rounds.table(r["mean_over_seed_sets"], [(t, lambda d, t=t: f(d[t])) for t in tiers.TIERS],
                              first="score@high share")
    lines += ["", "## Each baseline's own confident cells at the same coverage (its top share per fold and horizon)", ""]
    names = sorted(next(iter(r["baselines"].values())))
    rows = {b: {p: r["baselines"][p][b] for p in r["baselines"]} for b in names}
    lines += rounds.table(rows, [(f"top {p}", lambda d, p=p: ci(d[p])) for p in r["baselines"]] +
                          [("ranked by", lambda d: next(iter(d.values()))["ranked_by"])], first="baseline")
    hi = {k: v for k, v in r["candidates"][s0].items() if k.startswith(("mean@", pk["score"] + "@"))}
    lines += ["", f"## High tier per horizon (seed set {s0})", ""]
    hs = sorted(next(iter(hi.values()))["high_per_horizon"], key=int)
    lines += rounds.table(hi, [(f"h={h}", lambda d, h=h: f(d["high_per_horizon"][h])) for h in hs], first="candidate")
    lines += ["", f"## High tier per coin (seed set {s0})", ""]
    coins = sorted(next(iter(hi.values()))["high_per_coin"])
    lines += rounds.table(hi, [(c, lambda d, c=c: f(d["high_per_coin"][c])) for c in coins], first="candidate")
    lines += ["", "## The model's top third by |ensemble mean| against each rule's own top third (per seed set)", ""]
    lines += rounds.table({f"{b} (set {s})": v for s, o in r["overlap"].items() for b, v in o.items()},
                          [("share in the rule's top third", lambda d: f(d["in_its_top"], 3)),
                           ("same sign there", lambda d: f(d["same_sign"], 3))], first="rule")
    return "\n".join(lines) + "\n"
