"""The seed-ensemble round (docs/evaluation.md, round 6): how many seed members the served model averages.

Every member (seed set s, member i: the seed `TrainConfig.member_seed(i)` of a config whose seed is s) is
walked forward once; a *draw* of size K is K members of one seed set, and its forecast is their mean predicted
log return (what `TrainedModel.predict_cells` serves). Every draw is scored on the same cells as every baseline.

    result = ensemble_round(cube, TrainConfig(), seed_sets=(0,), members=5, sizes=(1, 3, 5), n_folds=3)
    pick(result)  # the pre-registered rule
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, replace
from typing import Callable

import numpy as np

from cryptolstm.config import DEFAULT_COINS, PURGE_DAYS, WF_FOLD_DAYS, TrainConfig
from cryptolstm.evaluation import rounds, scores
from cryptolstm.modelling import windows

TIE = 0.003  # a smaller K within this much of the best score is picked instead (round 6's cost tie-break)


Member = tuple[int, int]  # (seed set s, member i)


def member_configs(config: TrainConfig, seed_sets, members: int) -> dict[Member, TrainConfig]:
    """{(s, i): member i of seed set s}: `config` with the seed `TrainConfig.member_seed(i)` of seed s, one member."""
    return {(s, i): replace(config, seed=replace(config, seed=s).member_seed(i), n_seeds=1)
            for s in seed_sets for i in range(members)}


def draws_of(sizes) -> Callable[[list[Member]], dict[tuple, list[Member]]]:
    """The round's draw rule: every K members of one seed set, for each K in `sizes` ({(K, s, (i, ...)): members})."""
    def rule(names: list[Member]) -> dict[tuple, list[Member]]:
        by_set: dict[int, list[int]] = {}
        for s, i in names:
            by_set.setdefault(s, []).append(i)
        return {(k, s, combo): [(s, i) for i in combo]
                for k in sizes for s, idx in by_set.items() for combo in itertools.combinations(sorted(idx), k)}
    return rule


def figures(x: scores.ModelScores) -> dict:
    """The figures of one model of `walkforward.score` that the round reports (JSON)."""
    o = x.overall
    return {"da": o.da, "mae_ratio_rw": o.mae_ratio_rw, "share_positive": o.share_positive,
            "constant_sign_share": o.constant_sign_share,
            "per_horizon": {h: v.da for h, v in x.per_horizon.items()},
            "per_horizon_mae_ratio_rw": {h: v.mae_ratio_rw for h, v in x.per_horizon.items()},
            "per_coin": {c: v.da for c, v in x.per_coin.items()}}


def score_draws(scored: dict[tuple, scores.Scores], sizes) -> dict:
    """{K: {"draws": [{"seed_set", "members", **figures}], "da_mean", "da_min", "da_max", ...}} and the
    baselines' figures under "baselines", from the round's scores of every draw (`draws_of`)."""
    out: dict = {"sizes": {}}
    for k in sizes:
        draws = []
        for (size, s, combo), m in scored.items():
            if size != k:
                continue
            draws.append({"seed_set": s, "members": list(combo), **figures(m.model),
                          "da_ci": list(m.bootstrap["overall"].da_ci)})
            if "baselines" not in out:
                out["baselines"] = {n: figures(b) for n, b in m.baselines.items()}
                out["n_cells"], out["n_as_of_days"] = m.n_cells, m.n_as_of_days
        da = [d["da"] for d in draws]
        mr = [d["mae_ratio_rw"] for d in draws]
        out["sizes"][k] = {"draws": draws, "da_mean": float(np.mean(da)), "da_min": min(da), "da_max": max(da),
                           "mae_ratio_rw_mean": float(np.mean(mr)),
                           "constant_sign_max": max(d["constant_sign_share"] for d in draws)}
    return out


def pick(scored: dict, tie: float = TIE) -> dict:
    """Round 6's pre-registered rule on the inner draws: eligible = no draw with a constant-sign (fold, horizon)
    and mean MAE/RW < 1; score = the worst draw's DA; the best eligible K, or a smaller K within `tie` of it.
    Falls back to the best score among K without constant sign, then to K = 1."""
    sizes = scored["sizes"]
    no_flat = [k for k, s in sizes.items() if s["constant_sign_max"] == 0]
    eligible = [k for k in no_flat if sizes[k]["mae_ratio_rw_mean"] < 1.0]
    pool, how = (eligible, "eligible") if eligible else (no_flat, "no eligible K: constant sign 0 only")
    if not pool:
        return {"k": 1, "how": "no K without constant sign: K = 1"}
    best = max(pool, key=lambda k: sizes[k]["da_min"])
    k = min(x for x in pool if sizes[x]["da_min"] >= sizes[best]["da_min"] - tie)
    return {"k": int(k), "how": how, "best_score_k": int(best), "score": sizes[k]["da_min"]}


COST_TIE = 0.005  # round 7: a candidate within this much of the best worst-draw DA may win on cost
FITS_PER_MEMBER = 6  # a weekly run fits each member once per walk-forward fold (5) and once on all data


def pick_by_cost(rounds_by_config: dict[str, dict], member_seconds: dict[str, float], sizes=(3, 5),
                 tie: float = COST_TIE) -> dict:
    """Round 7's pre-registered rule. Candidates are (configuration, K) for K in `sizes`, scored on their
    configuration's `ensemble_round` result: eligible = no draw with a constant-sign (fold, horizon) and a worst
    draw's DA within `tie` of the best such candidate's; the pick = the eligible candidate of the lowest weekly
    cost, FITS_PER_MEMBER x K x its member's seconds (`member_seconds`: one quiet final fit per configuration).
    Without any candidate free of constant sign: None (the default stays)."""
    by_k = {c: {int(k): v for k, v in r["sizes"].items()} for c, r in rounds_by_config.items()}  # JSON keys: str
    rows = [{"config": c, "k": k, "score": s[k]["da_min"], "da_mean": s[k]["da_mean"],
             "constant_sign_max": s[k]["constant_sign_max"], "weekly_cost": FITS_PER_MEMBER * k * member_seconds[c]}
            for c, s in by_k.items() for k in sizes]
    clean = [x for x in rows if x["constant_sign_max"] == 0]
    best = max((x["score"] for x in clean), default=None)
    for x in rows:
        x["eligible"] = best is not None and x in clean and x["score"] >= best - tie
    eligible = [x for x in rows if x["eligible"]]
    pick = min(eligible, key=lambda x: (x["weekly_cost"], -x["score"])) if eligible else None
    return {"candidates": rows, "best_score": best, "pick": pick}


def ensemble_round(cube: windows.Cube, config: TrainConfig, seed_sets, members: int, sizes, n_folds: int,
                   val_days: int = WF_FOLD_DAYS, score_coins=DEFAULT_COINS, log=lambda *_: None) -> dict:
    """Walk every member forward (`rounds.run_round`), score every draw of every size in `sizes`, and apply `pick`
    (JSON-able, with every member's predictions under "member_predictions")."""
    if max(sizes) > members:
        raise ValueError(f"a draw of {max(sizes)} needs at least that many members, got {members}")
    rnd = rounds.run_round(cube, member_configs(config, seed_sets, members), draws_of(sizes), n_folds, val_days,
                           score_coins, log)
    scored = score_draws(rnd.scores, sizes)
    first = next(iter(rnd.predictions.values()))
    return {"config": asdict(config), "seed_sets": list(seed_sets), "members": members,
            "n_folds": n_folds, "val_days": val_days, "purge": PURGE_DAYS,
            "first_as_of": str(min(first["as_of"])), "last_as_of": str(max(first["as_of"])),
            "member_seconds": {f"{s}/{i}": round(w.seconds, 1) for (s, i), w in rnd.walks.items()},
            # each member's fold records (cutoff, epochs, its training-period prediction scale when it has one): what
            # a later round that reuses the members' predictions needs besides them
            "member_folds": {f"{s}/{i}": list(w.folds) for (s, i), w in rnd.walks.items()},
            "seconds": round(rnd.seconds, 1), **scored, "pick": pick(scored), "member_predictions": rnd.predictions}


def render_markdown(r: dict) -> str:
    """The round's tables: per K (mean [min, max] over draws, eligibility), every draw, every baseline, per horizon
    and per coin."""
    f = rounds.fmt
    sizes, base = r["sizes"], r["baselines"]
    lines = [f"# Seed-ensemble round: K in {list(sizes)}", "",
             f"{r['n_folds']} folds x {r['val_days']} as-of days ({r['first_as_of']} .. {r['last_as_of']}), purge "
             f"{r['purge']}, {r['n_cells']} cell-horizons; seed sets {r['seed_sets']}, {r['members']} members each "
             f"(member i of set s: seed s + 1000 i). Pick by the pre-registered rule: **K = {r['pick']['k']}** "
             f"({r['pick']['how']}).", ""]
    lines += rounds.table(sizes, [
        ("draws", lambda s: str(len(s["draws"]))),
        ("DA mean [min, max]", lambda s: f"{f(s['da_mean'])} [{f(s['da_min'])}, {f(s['da_max'])}]"),
        ("MAE / RW mean", lambda s: f(s["mae_ratio_rw_mean"])),
        ("constant sign (max)", lambda s: f(s["constant_sign_max"], 2))], first="K")
    H = sorted(next(iter(base.values()))["per_horizon"], key=int)
    coins = sorted(next(iter(base.values()))["per_coin"])
    rows = {f"K={k} set {d['seed_set']} members {d['members']}": d for k, s in sizes.items() for d in s["draws"]}
    rows.update(base)
    lines += ["", "## Every draw and every baseline, same cells (DA per horizon)", ""]
    lines += rounds.table(rows, [
        ("DA", lambda d: f(d["da"])),
        ("95 % CI", lambda d: f"[{f(d['da_ci'][0], 3)}, {f(d['da_ci'][1], 3)}]" if d.get("da_ci") else ""),
        ("MAE / RW", lambda d: f(d["mae_ratio_rw"])), ("share up", lambda d: f(d["share_positive"], 3)),
        ("constant sign", lambda d: f(d["constant_sign_share"], 2) if "constant_sign_share" in d else ""),
        *((f"h={h}", lambda d, h=h: f(d["per_horizon"][h])) for h in H)])
    lines += ["", "## DA per coin", ""]
    lines += rounds.table(rows, [(c, lambda d, c=c: f(d["per_coin"].get(c))) for c in coins])
    lines += ["", "## Wall time", "", f"members' walk-forwards (s): {r['member_seconds']}; round total {r['seconds']} s"]
    return "\n".join(lines) + "\n"
