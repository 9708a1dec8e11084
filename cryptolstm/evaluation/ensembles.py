"""The seed-ensemble round (docs/evaluation.md, round 6): how many seed members the served model averages.

Every member (seed set s, member i: the seed `TrainConfig.member_seed(i)` of a config whose seed is s) is
walked forward once; a *draw* of size K is K members of one seed set, and its forecast is their mean predicted
log return (what `TrainedModel.predict_cells` serves). Every draw is scored on the same cells as every baseline.

    result = ensemble_round(cube, TrainConfig(), seed_sets=(0,), members=5, sizes=(1, 3, 5), n_folds=3)
    pick(result)  # the pre-registered rule
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from cryptolstm.config import DEFAULT_COINS, PURGE_DAYS, WF_FOLD_DAYS, TrainConfig
from cryptolstm.evaluation import scores, walkforward
from cryptolstm.modelling import windows

TIE = 0.003  # a smaller K within this much of the best score is picked instead (round 6's cost tie-break)


def member_predictions(cube: windows.Cube, config: TrainConfig, seed_sets, members: int, n_folds: int,
                       val_days: int = WF_FOLD_DAYS, score_coins=DEFAULT_COINS, log=lambda *_: None):
    """({(seed set, member): walk-forward predictions sorted by KEYS}, baseline predictions on the same cells,
    {(seed set, member): walk-forward seconds}). Baselines are fit once, with the first member."""
    preds, seconds, base = {}, {}, None
    for s in seed_sets:
        for i in range(members):
            cfg = replace(config, seed=replace(config, seed=s).member_seed(i), n_seeds=1)
            log(f"== seed set {s}, member {i} (seed {cfg.seed})")
            res = walkforward.walk_forward(cube, cfg, n_folds=n_folds, val_days=val_days, log=log,
                                           score_coins=score_coins, with_baselines=base is None)
            if base is None:
                base = res.baseline_predictions.sort_values(walkforward.KEYS, kind="stable").reset_index(drop=True)
            preds[(s, i)] = res.predictions.sort_values(walkforward.KEYS, kind="stable").reset_index(drop=True)
            seconds[(s, i)] = round(res.seconds, 1)
    return preds, base, seconds


def _row(x: scores.ModelScores) -> dict:
    """The figures of one model of `walkforward.score` that the round reports (JSON)."""
    o = x.overall
    return {"da": o.da, "mae_ratio_rw": o.mae_ratio_rw, "share_positive": o.share_positive,
            "constant_sign_share": o.constant_sign_share,
            "per_horizon": {h: v.da for h, v in x.per_horizon.items()},
            "per_horizon_mae_ratio_rw": {h: v.mae_ratio_rw for h, v in x.per_horizon.items()},
            "per_coin": {c: v.da for c, v in x.per_coin.items()}}


def score_draws(preds: dict, base: pd.DataFrame, sizes) -> dict:
    """{K: {"draws": [{"seed_set", "members", **figures}], "da_mean", "da_min", "da_max", ...}} and the
    baselines' figures under "baselines"."""
    out: dict = {"sizes": {}}
    by_set: dict[int, list[int]] = {}
    for s, i in preds:
        by_set.setdefault(s, []).append(i)
    for k in sizes:
        draws = []
        for s, idx in by_set.items():
            for combo in itertools.combinations(sorted(idx), k):
                m = walkforward.score(walkforward.combine([preds[(s, i)] for i in combo]), base)
                draws.append({"seed_set": s, "members": list(combo), **_row(m.model),
                              "da_ci": list(m.bootstrap["overall"].da_ci)})
                if "baselines" not in out:
                    out["baselines"] = {n: _row(b) for n, b in m.baselines.items()}
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


def ensemble_round(cube: windows.Cube, config: TrainConfig, seed_sets, members: int, sizes, n_folds: int,
                   val_days: int = WF_FOLD_DAYS, score_coins=DEFAULT_COINS, log=lambda *_: None) -> dict:
    """Walk every member forward, score every draw of every size in `sizes`, and apply `pick` (JSON-able)."""
    if max(sizes) > members:
        raise ValueError(f"a draw of {max(sizes)} needs at least that many members, got {members}")
    t0 = time.perf_counter()
    preds, base, seconds = member_predictions(cube, config, seed_sets, members, n_folds, val_days, score_coins, log)
    scored = score_draws(preds, base, sizes)
    first = next(iter(preds.values()))
    return {"config": asdict(config), "seed_sets": list(seed_sets), "members": members,
            "n_folds": n_folds, "val_days": val_days, "purge": PURGE_DAYS,
            "first_as_of": str(min(first["as_of"])), "last_as_of": str(max(first["as_of"])),
            "member_seconds": {f"{s}/{i}": v for (s, i), v in seconds.items()},
            "seconds": round(time.perf_counter() - t0, 1), **scored, "pick": pick(scored),
            "member_predictions": preds}


def render_markdown(r: dict) -> str:
    """The round's tables: per K (mean [min, max] over draws, eligibility), every draw, every baseline, per horizon
    and per coin."""
    f = lambda x, nd=4: "n/a" if x is None or x != x else f"{x:.{nd}f}"  # noqa: E731
    sizes, base = r["sizes"], r["baselines"]
    lines = [f"# Seed-ensemble round: K in {list(sizes)}", "",
             f"{r['n_folds']} folds x {r['val_days']} as-of days ({r['first_as_of']} .. {r['last_as_of']}), purge "
             f"{r['purge']}, {r['n_cells']} cell-horizons; seed sets {r['seed_sets']}, {r['members']} members each "
             f"(member i of set s: seed s + 1000 i). Pick by the pre-registered rule: **K = {r['pick']['k']}** "
             f"({r['pick']['how']}).", "",
             "| K | draws | DA mean [min, max] | MAE / RW mean | constant sign (max) |", "|---|---|---|---|---|"]
    for k, s in sizes.items():
        lines.append(f"| {k} | {len(s['draws'])} | {f(s['da_mean'])} [{f(s['da_min'])}, {f(s['da_max'])}] | "
                     f"{f(s['mae_ratio_rw_mean'])} | {f(s['constant_sign_max'], 2)} |")
    H = sorted(next(iter(base.values()))["per_horizon"], key=int)
    coins = sorted(next(iter(base.values()))["per_coin"])
    head = "| model | DA | 95 % CI | MAE / RW | share up | constant sign | " + " | ".join(f"h={h}" for h in H) + " | "
    lines += ["", "## Every draw and every baseline, same cells (DA per horizon)", "", head,
              "|---|---|---|---|---|---|" + "---|" * len(H)]
    rows = [(f"K={k} set {d['seed_set']} members {d['members']}", d) for k, s in sizes.items() for d in s["draws"]]
    rows += [(n, b) for n, b in base.items()]
    for name, d in rows:
        ci = f"[{f(d['da_ci'][0], 3)}, {f(d['da_ci'][1], 3)}]" if d.get("da_ci") else ""
        lines.append(f"| {name} | {f(d['da'])} | {ci} | {f(d['mae_ratio_rw'])} | {f(d['share_positive'], 3)} | "
                     f"{f(d['constant_sign_share'], 2) if 'constant_sign_share' in d else ''} | "
                     + " | ".join(f(d["per_horizon"][h]) for h in H) + " |")
    lines += ["", "## DA per coin", "", "| model | " + " | ".join(coins) + " |", "|---|" + "---|" * len(coins)]
    for name, d in rows:
        lines.append(f"| {name} | " + " | ".join(f(d["per_coin"].get(c)) for c in coins) + " |")
    lines += ["", "## Wall time", "", f"members' walk-forwards (s): {r['member_seconds']}; round total {r['seconds']} s"]
    return "\n".join(lines) + "\n"
