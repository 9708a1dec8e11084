"""Issue 28's round, "skill from combination": the K-member ensemble walked forward once per seed set, and the
candidates scored on the same cells as every baseline.

    control        the ensemble as it is served today
    blend_equal    the ensemble and the training period's best rule, equal weights (evaluation/combination.py)
    stacked        the ensemble, r_1, r_3, r_7 and the logistic classifier, nested ridge weights per horizon
    lstm_highway   the same ensemble walked with `TrainConfig.highway` (only with `highway=True`: it trains again)

Every signal of fold k comes from the fold's training period (cutoff_k) and the as-of day: ret_k is a feature of t,
the classifier is fit on the fold's training cells (as `walkforward.fold_baselines` fits it), its training-period
spread and the best rule are computed on those cells, and the LSTM's scale is its members' `pred_scale`
(their early-stopping cells, before the cutoff).

    r = combination_round(cube, TrainConfig(), seed_sets=(0,), members=5, n_folds=3)
    r["pick"]   # issue 28's rule
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from cryptolstm.config import DEFAULT_COINS, HORIZONS, PURGE_DAYS, WF_FOLD_DAYS, CombinationConfig, TrainConfig
from cryptolstm.evaluation import baselines, combination, ensembles, rounds, scores, walkforward
from cryptolstm.modelling import features, train, windows

CANDIDATES = ("control", "blend_equal", "stacked", "lstm_highway")
COST = {"control": 0, "blend_equal": 0, "stacked": 0, "lstm_highway": 1}  # the combiners cost what the control does


def fold_signals(cube: windows.Cube, k: int, fold: windows.Fold, config: TrainConfig,
                 score_coins: tuple[str, ...] = DEFAULT_COINS) -> tuple[pd.DataFrame, dict]:
    """Fold k's signals, [fold, coin, as_of, horizon, r_1, r_3, r_7, prob_up] on its `walkforward.fold_cells`,
    and what its training period says about them (`combination.training_facts`), everything from candles <= the cutoff (training) or <= t (the cell's features)."""
    coin, t = walkforward.fold_cells(cube, fold, config, score_coins)
    tr = train.training_cells(cube, config, fold.cutoff)
    x_tr, x_ev = walkforward._cells_frame(cube, tr.coin, tr.t), walkforward._cells_frame(cube, coin, t)
    y_tr = windows.gather_targets(cube.log_close, tr.coin, tr.t, config.horizons)  # [n, H]
    clf = baselines.LogisticBaseline().fit(x_tr, y_tr)  # the fold's `logit` baseline: same cells, same fit
    lags = [features.FEATURES.index(f"ret_{k}") for k in combination.LAGS]
    r_tr, r_ev = cube.x[tr.coin, tr.t][:, lags], cube.x[coin, t][:, lags]  # [n, 3], [N, 3]
    p_tr = clf.prob_up(x_tr)  # [n, H]
    H = config.horizons
    cols = {f"r_{k}": np.repeat(r_ev[:, [i]], H, axis=1) for i, k in enumerate(combination.LAGS)}
    frame = walkforward._long(k, cube, coin, t, {**cols, "prob_up": clf.prob_up(x_ev)})
    facts = combination.training_facts(r_tr, y_tr, p_tr)
    return frame, facts


def _draws(names):
    """The round's draw rule: all the members of one (variant, seed set) together."""
    out: dict = {}
    for v, s, i in names:
        out.setdefault((v, s), []).append((v, s, i))
    return out


def candidate_figures(m: scores.Scores) -> dict:
    """One candidate's figures (JSON): `ensembles.figures`, its DA interval and the paired comparison with the
    best baseline on the same cells (overall and per horizon)."""
    best, _ = m.best_baseline()
    vs = {h: m.bootstrap[h].vs[best].to_json() for h in m.bootstrap}
    return {**ensembles.figures(m.model), "da_ci": list(m.bootstrap["overall"].da_ci), "best_baseline": best,
            "vs_best_baseline": vs, "per_fold": {f: v.da for f, v in m.model.per_fold.items()}}


def pick(candidates: dict, tie: float = CombinationConfig.tie) -> dict:
    """Issue 28's rule on the candidates' figures ({name: {"da_mean", "mae_ratio_rw_mean", "constant_sign_max"}}):
    the highest DA among those with no constant-sign (fold, horizon) and MAE/RW < 1; a cheaper candidate (COST)
    within `tie` of it wins; if none has MAE/RW < 1, the highest DA among those without constant sign, said so."""
    flat_free = [n for n, c in candidates.items() if c["constant_sign_max"] == 0]
    eligible = [n for n in flat_free if candidates[n]["mae_ratio_rw_mean"] < 1.0]
    pool, how = (eligible, "eligible") if eligible else (flat_free, "none has MAE/RW < 1: constant sign 0 only")
    if not pool:
        return {"candidate": "control", "how": "every candidate has a constant-sign (fold, horizon): the control stays"}
    best = max(pool, key=lambda n: candidates[n]["da_mean"])
    near = [n for n in pool if COST[n] < COST[best] and candidates[n]["da_mean"] >= candidates[best]["da_mean"] - tie]
    chosen = max(near, key=lambda n: (-COST[n], candidates[n]["da_mean"])) if near else best
    return {"candidate": chosen, "how": how, "best_da": best, "da": candidates[chosen]["da_mean"]}


@dataclass(frozen=True)
class Reused:
    """The members of an earlier round (`evaluate-ensemble` or `evaluate-combination` of the same configuration,
    seeds and folds), so a round of combiners does not train them again."""

    config: dict  # asdict(TrainConfig) as that round stored it
    n_folds: int
    val_days: int
    predictions: dict[tuple[int, int], pd.DataFrame]  # (seed set, member) -> its walk-forward predictions
    folds: dict[tuple[int, int], list[dict]]  # (seed set, member) -> its fold records (cutoff, pred_scale, ...)


def load_reused(stem: Path) -> Reused:
    """The members an `evaluate-ensemble` run wrote: `<stem>.json` (config, folds, member_folds) and
    `<stem>_members.csv.gz` (every member's out-of-sample predictions)."""
    doc = json.loads(Path(f"{stem}.json").read_text())
    kept = Path(f"{stem}_member_folds.json")  # an evaluate-combination run keeps them beside ("lstm/s/i" keys)
    if "member_folds" not in doc and kept.exists():
        doc["member_folds"] = {k.split("/", 1)[1]: v for k, v in json.loads(kept.read_text()).items()
                               if k.startswith("lstm/")}
    if "member_folds" not in doc:
        raise ValueError(f"{stem}.json has no member fold records (a run from before they were kept): cannot reuse")
    frame = pd.read_csv(f"{stem}_members.csv.gz")
    if "variant" in frame:
        frame = frame[frame["variant"] == "lstm"]
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    cols = walkforward.KEYS + ["pred_log_return", "realised_log_return"]
    preds = {(int(s), int(i)): g[cols].reset_index(drop=True) for (s, i), g in frame.groupby(["seed_set", "member"])}
    folds = {tuple(int(x) for x in k.split("/")): v for k, v in doc["member_folds"].items()}
    return Reused(doc["config"], int(doc["n_folds"]), int(doc["val_days"]), preds, folds)


def _same_config(stored: dict, config: TrainConfig) -> bool:
    """Whether a stored asdict(config) (JSON: tuples as lists) is `config` with any seed, ensemble size and served
    combination (what the members are combined with is this round's question, not a property of the members)."""
    free = {"seed": 0, "n_seeds": 1, "combination": "none"}
    mine = json.loads(json.dumps(asdict(replace(config, **free))))
    return {**stored, **free} == mine


def adopt(rnd: rounds.Round, reused: Reused, ids: list[tuple], cube: windows.Cube, config: TrainConfig,
          bounds: list[windows.Fold], n_folds: int, val_days: int, score_coins) -> dict[tuple, list[dict]]:
    """Put the reused members `ids` ((variant, seed set, member)) into `rnd` as if walked here: their predictions,
    the baselines on their cells (fit here when no member was walked), each seed set's score; returns their fold
    records. Refuses members of another configuration, other folds or other cells."""
    if not _same_config(reused.config, config) or (reused.n_folds, reused.val_days) != (n_folds, val_days):
        raise ValueError("the reused members are of another configuration or other folds than this round's")
    cutoffs = [str(cube.days[f.cutoff].date()) for f in bounds]
    folds = {}
    for v, s, i in ids:
        if (s, i) not in reused.predictions:
            raise ValueError(f"the reused run has no member {i} of seed set {s}")
        if [f["cutoff"] for f in reused.folds[(s, i)]] != cutoffs:
            raise ValueError(f"member {s}/{i} was walked on other folds: {reused.folds[(s, i)]}")
        rnd.predictions[(v, s, i)] = rounds.sorted_keys(reused.predictions[(s, i)])
        folds[(v, s, i)] = reused.folds[(s, i)]
    if rnd.baselines is None:
        rnd.baselines = rounds.sorted_keys(pd.concat([walkforward.fold_baselines(cube, k, f, config, score_coins)
                                                      for k, f in enumerate(bounds)], ignore_index=True))
    for v, s in {(v, s) for v, s, _ in ids}:  # scoring raises on cells other than the baselines'
        rnd.scores[(v, s)] = walkforward.score(walkforward.combine(
            [rnd.predictions[m] for m in ids if m[:2] == (v, s)]), rnd.baselines)
    return folds


def combination_round(cube: windows.Cube, config: TrainConfig, seed_sets, members: int, n_folds: int,
                      val_days: int = WF_FOLD_DAYS, score_coins=DEFAULT_COINS, highway: bool = False,
                      comb: CombinationConfig = CombinationConfig(), log=lambda *_: None,
                      on_walked=None, reuse: Reused | None = None) -> dict:
    """Walk the ensemble (and with `highway` the highway ensemble) forward per seed set (`rounds.run_round`), compute
    the folds' signals once, score every candidate of every seed set next to the baselines, and apply `pick`
    (JSON-able; every candidate's predictions under "predictions", what the tiers of issue 26 rank under "inputs":
    the baselines, the signals, and per seed set the ensemble, its members, the blend and its rule per fold). `on_walked(round)`: called once every member is
    walked, before anything is combined (the command saves the members' predictions and fold records then).
    `reuse`: the control's members from an earlier run (`load_reused`), not trained again."""
    variants = {"lstm": config, **({"lstm_highway": replace(config, highway=True)} if highway else {})}
    configs = {(v, s, i): c for v, vc in variants.items()
               for (s, i), c in ensembles.member_configs(vc, seed_sets, members).items()}
    walk = {m: c for m, c in configs.items() if reuse is None or m[0] != "lstm"}
    rnd = rounds.run_round(cube, walk, _draws, n_folds, val_days, score_coins, log) if walk else rounds.Round()
    if on_walked is not None:
        on_walked(rnd)
    bounds = walkforward.folds(cube, config, n_folds, val_days=val_days)
    member_folds = {m: list(w.folds) for m, w in rnd.walks.items()}
    if reuse is not None:
        log("== the control's members: reused, not trained")
        member_folds.update(adopt(rnd, reuse, [m for m in configs if m[0] == "lstm"], cube, config, bounds,
                                  n_folds, val_days, score_coins))
    sig, facts = [], {}
    for k, fold in enumerate(bounds):
        frame, facts[k] = fold_signals(cube, k, fold, config, score_coins)
        sig.append(frame)
    signals = pd.concat(sig, ignore_index=True)
    out = {name: {} for name in CANDIDATES if name != "lstm_highway" or highway}
    params, preds = {}, []
    inputs = {"baselines": rnd.baselines, "signals": signals, "seed_sets": {}}  # what issue 26's tiers rank
    for s in seed_sets:
        ids = [(v, si, i) for v, si, i in configs if v == "lstm" and si == s]
        ensemble = walkforward.combine([rnd.predictions[m] for m in ids])
        scales = {k: combination.TrainingScales(
            tuple(np.mean([member_folds[m][k]["pred_scale"] for m in ids], axis=0)), **facts[k])
            for k in range(len(bounds))}
        scored = {"control": (ensemble, rnd.scores[("lstm", s)])}
        for method in combination.COMBINERS:
            p, params[(method, s)] = combination.combine_walk_forward(ensemble, signals, scales, method, comb.ridge)
            scored[method] = (p, walkforward.score(p, rnd.baselines))
        if highway:
            hw = [(v, si, i) for v, si, i in configs if v == "lstm_highway" and si == s]
            scored["lstm_highway"] = (walkforward.combine([rnd.predictions[m] for m in hw]), rnd.scores[("lstm_highway", s)])
        inputs["seed_sets"][s] = {"ensemble": ensemble, "members": [rnd.predictions[m] for m in ids],
                                  "blend_equal": scored["blend_equal"][0],
                                  "rules": {k: v["rule"] for k, v in params[("blend_equal", s)].items()}}
        for name, (p, m) in scored.items():
            out[name][s] = candidate_figures(m)
            preds.append(p.assign(candidate=name, seed_set=s))
        log(f"seed set {s}: " + ", ".join(f"{n} DA {out[n][s]['da']:.4f}" for n in out))
    summary = {n: {"seed_sets": v, "da_mean": float(np.mean([r["da"] for r in v.values()])),
                   "mae_ratio_rw_mean": float(np.mean([r["mae_ratio_rw"] for r in v.values()])),
                   "constant_sign_max": max(r["constant_sign_share"] for r in v.values()), "cost": COST[n]}
               for n, v in out.items()}
    any_scores = rnd.scores[("lstm", seed_sets[0])]
    return {"config": asdict(config), "combination": asdict(comb), "seed_sets": list(seed_sets), "members": members,
            "n_folds": n_folds, "val_days": val_days, "purge": PURGE_DAYS, "n_cells": any_scores.n_cells,
            "n_as_of_days": any_scores.n_as_of_days, "first_as_of": str(min(signals["as_of"])),
            "last_as_of": str(max(signals["as_of"])), "candidates": summary,
            "baselines": {n: ensembles.figures(b) for n, b in any_scores.baselines.items()},
            "parameters": {f"{method}/{s}": {str(k): v for k, v in p.items()} for (method, s), p in params.items()},
            "member_seconds": {"/".join(map(str, k)): round(w.seconds, 1) for k, w in rnd.walks.items()},
            "control_members": "reused from an earlier run (not trained here)" if reuse is not None else "trained here",
            "seconds": round(rnd.seconds, 1), "pick": pick(summary, comb.tie),
            "predictions": pd.concat(preds, ignore_index=True), "inputs": inputs}


def render_markdown(r: dict) -> str:
    """The round's tables: every candidate per seed set and every baseline (DA, interval, MAE/RW, constant sign,
    the paired difference with the best baseline, per horizon), per coin, the stacked weights, the pick."""
    f = rounds.fmt
    cands, base = r["candidates"], r["baselines"]
    pk = r["pick"]
    lines = [f"# Combination round (issue 28): {', '.join(cands)}", "",
             f"{r['n_folds']} folds x {r['val_days']} as-of days ({r['first_as_of']} .. {r['last_as_of']}), purge "
             f"{r['purge']}, {r['n_cells']} cell-horizons; seed sets {r['seed_sets']}, K = {r['members']} members each. "
             f"Pick by issue 28's rule: **{pk['candidate']}** ({pk['how']}).", ""]
    lines += rounds.table(cands, [
        ("DA mean over seed sets", lambda c: f(c["da_mean"])), ("MAE / RW mean", lambda c: f(c["mae_ratio_rw_mean"])),
        ("constant sign (max)", lambda c: f(c["constant_sign_max"], 2)), ("cost (0: the control's)", lambda c: str(c["cost"]))],
                           first="candidate")
    rows = {f"{n} (set {s})": d for n, c in cands.items() for s, d in c["seed_sets"].items()}
    rows.update(base)
    H = [str(h) for h in range(1, HORIZONS + 1)]

    def vs(d):
        v = d.get("vs_best_baseline", {}).get("overall")
        return "" if v is None else f"{v['diff']:+.4f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}] p={v['p_le_0']:.2f} ({d['best_baseline']})"

    lines += ["", "## Every candidate and every baseline, same cells", ""]
    lines += rounds.table(rows, [
        ("DA", lambda d: f(d["da"])),
        ("95 % CI", lambda d: f"[{f(d['da_ci'][0], 3)}, {f(d['da_ci'][1], 3)}]" if d.get("da_ci") else ""),
        ("MAE / RW", lambda d: f(d["mae_ratio_rw"])), ("share up", lambda d: f(d["share_positive"], 3)),
        ("constant sign", lambda d: f(d["constant_sign_share"], 2) if d.get("constant_sign_share") is not None else ""),
        ("DA - best baseline", vs), *((f"h={h}", lambda d, h=h: f(d["per_horizon"][h])) for h in H)])
    coins = sorted(next(iter(base.values()))["per_coin"])
    lines += ["", "## DA per coin", ""]
    lines += rounds.table(rows, [(c, lambda d, c=c: f(d["per_coin"].get(c))) for c in coins])
    folds = sorted(next(iter(next(iter(cands.values()))["seed_sets"].values()))["per_fold"], key=int)
    lines += ["", "## DA per fold (stacked's first fold has equal weights: no earlier fold to fit them on)", ""]
    lines += rounds.table({k: d for k, d in rows.items() if "per_fold" in d},
                          [(f"fold {k}", lambda d, k=k: f(d["per_fold"].get(k))) for k in folds])
    lines += ["", "## Combination parameters per fold (blend_equal: the best rule; stacked: weights on lstm, r_1, r_3, r_7, logit, fit on the earlier folds)", ""]
    for key, per_fold in r["parameters"].items():
        if key.startswith("stacked/"):
            for k, p in per_fold.items():
                w = p["weights"]["weights"]
                lines.append(f"- {key} fold {k} (fitted on {p['weights']['fitted_on'] or 'none: equal'}): "
                             + "; ".join(f"h{h + 1} " + ", ".join(f"{x:+.3f}" for x in wh) for h, wh in enumerate(w)))
        else:
            lines.append(f"- {key}: best rule per fold " + ", ".join(f"{k}: {p['rule']}" for k, p in per_fold.items()))
    lines += ["", "## Wall time", "", f"members' walk-forwards (s): {r['member_seconds']}; round total {r['seconds']} s"]
    return "\n".join(lines) + "\n"
