"""Issue 26's range round (`cryptolstm evaluate-ranges`): every pre-registered coverage correction
(`evaluation.coverage.CANDIDATES`) on the served range method, on the same cells, per level, on the inner period
and the reported folds; the pick per level by the rule written in docs/ranges.md before the run.

Streams: 1, the random walk (pred = 0) on the served coins' candles (`random_walk_frame`; selects); 2, a
walk-forward predictions file (`predictions_frame`, reported beside). No training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cryptolstm.config import HORIZONS, IntervalConfig
from cryptolstm.evaluation import backtests, coverage, intervals

INNER = ("2021-06-01", "2023-06-20")  # as-of days of the selection (docs/ranges.md)
REPORTED = ("2023-06-27", "2025-02-15")  # the 5 reported folds' as-of days
WINKLER_TOLERANCE = 0.03  # a candidate qualifies with a mean Winkler score <= (1 + this) x none's


def random_walk_frame(panel: pd.DataFrame, config: IntervalConfig = IntervalConfig()) -> pd.DataFrame:
    """[coin, as_of, horizon, pred, realised, vol]: pred = 0, realised = log(close[t + h] / close[t]) (NaN when
    the target day has no candle), vol = the point-in-time volatility of t."""
    p = panel[["coin", "day", "close"]].copy()
    p["as_of"] = pd.to_datetime(p["day"]).dt.date
    close = p.set_index(["coin", "as_of"])["close"]
    out = []
    for h in range(1, HORIZONS + 1):
        target = pd.MultiIndex.from_arrays([p["coin"], p["as_of"] + pd.Timedelta(days=h)])
        y = np.log(close.reindex(target).to_numpy() / p["close"].to_numpy())
        out.append(pd.DataFrame({"coin": p["coin"].to_numpy(), "as_of": p["as_of"].to_numpy(), "horizon": h,
                                 "pred": 0.0, "realised": y}))
    return _with_vol(pd.concat(out, ignore_index=True), panel, config)


def predictions_frame(preds: pd.DataFrame, panel: pd.DataFrame, config: IntervalConfig = IntervalConfig(),
                      candidate: str = "blend_equal", seed_set: int = 0) -> pd.DataFrame:
    """The same frame from a walk-forward predictions file (columns candidate, seed_set, coin, as_of, horizon,
    pred_log_return, realised_log_return), one candidate and seed set."""
    g = preds[(preds["candidate"] == candidate) & (preds["seed_set"] == seed_set)]
    if g.empty:
        raise ValueError(f"no predictions of candidate {candidate!r}, seed set {seed_set}")
    f = pd.DataFrame({"coin": g["coin"].astype(str).to_numpy(), "as_of": pd.to_datetime(g["as_of"]).dt.date.to_numpy(),
                      "horizon": g["horizon"].astype(int).to_numpy(), "pred": g["pred_log_return"].to_numpy(),
                      "realised": g["realised_log_return"].to_numpy()})
    return _with_vol(f, panel, config)


def _with_vol(frame: pd.DataFrame, panel: pd.DataFrame, config: IntervalConfig) -> pd.DataFrame:
    vol = intervals.point_in_time_vol(panel, config.vol_days).rename(columns={"day": "as_of"})
    return frame.merge(vol, on=["coin", "as_of"], how="left")


def run_stream(frame: pd.DataFrame, first: str, last: str, config: IntervalConfig = IntervalConfig(),
               candidates=tuple(coverage.CANDIDATES)) -> dict[str, pd.DataFrame]:
    """{candidate: the ranged cells with as-of day in [first, last]} of the served method; each state starts at
    `first`. Only cells with a realised outcome are kept (the same cells for every candidate)."""
    method = intervals.served_method(config)
    out = {}
    for name in candidates:
        cells = intervals.rolling_intervals(frame, method, config, first=first, last=last,
                                            correction=coverage.by_name(name))
        out[name] = cells[cells["realised"].notna()].reset_index(drop=True)
    return out


def period_table(cells: dict[str, pd.DataFrame], first: str, last: str, levels=IntervalConfig().levels) -> dict:
    """{str(k): {candidate: {coverage per horizon, worst_gap, winkler, winkler_vs_none, n_cells, backtests}}} over
    the cells with as-of day in [first, last]."""
    out = {}
    for L in levels:
        k = str(round(L * 100))
        out[k] = {}
        for name, c in cells.items():
            c = c[(c["as_of"] >= pd.Timestamp(first)) & (c["as_of"] <= pd.Timestamp(last))]
            s = intervals.score_intervals(c, (L,))
            cov = {h: s[h][f"coverage_{k}"] for h in s if h != "all"}
            bt = backtests.backtest_cells(c, (L,))[k]
            out[k][name] = {"n_cells": int(len(c)), "coverage": cov, "coverage_all": s["all"][f"coverage_{k}"],
                            "worst_gap": max(abs(v - L) for v in cov.values()), "width": s["all"][f"width_{k}"],
                            "winkler": s["all"][f"winkler_{k}"],
                            "all_coins_h1": bt["all_coins"],
                            "coins_too_many": sorted(x for x, r in bt["per_coin"].items()
                                                     if backtests.TOO_MANY in backtests.verdict(r)),
                            "coins_too_clustered": sorted(x for x, r in bt["per_coin"].items()
                                                          if backtests.TOO_CLUSTERED in backtests.verdict(r))}
        base = out[k]["none"]["winkler"]
        for r in out[k].values():
            r["winkler_vs_none"] = r["winkler"] / base - 1
    return out


def pick(level_table: dict, tolerance: float = WINKLER_TOLERANCE) -> str:
    """The pre-registered rule for one level: among candidates whose mean Winkler score is <= (1 + tolerance) x
    none's, the smallest worst-horizon |coverage - L|; a tie goes to the smaller Winkler score."""
    base = level_table["none"]["winkler"]
    ok = {n: r for n, r in level_table.items() if r["winkler"] <= (1 + tolerance) * base}
    return min(ok, key=lambda n: (ok[n]["worst_gap"], ok[n]["winkler"]))


def render(title: str, table: dict, picks: dict | None = None) -> str:
    """One markdown table per level: coverage h = 1..5 / all, worst gap, width, Winkler (vs none), the h = 1
    backtest over every coin, the coins rejected per test."""
    lines = [f"### {title}", ""]
    for k, by_name in table.items():
        n = next(iter(by_name.values()))["n_cells"]
        lines += [f"{k} % ranges ({n} cells" + (f"; pick: **{picks[k]}**" if picks else "") + ")", "",
                  "| candidate | cov h=1..5 | all | worst gap (pp) | width | Winkler (vs none) | h=1 all coins: miss rate"
                  " / Kupiec p / P(miss\\|miss) / indep. p | coins too many ; too clustered |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, r in by_name.items():
            a = r["all_coins_h1"]
            lines.append(
                f"| {name} | {', '.join(f'{v:.3f}' for v in r['coverage'].values())} | {r['coverage_all']:.3f} | "
                f"{100 * r['worst_gap']:.2f} | {r['width']:.4f} | {r['winkler']:.4f} ({100 * r['winkler_vs_none']:+.1f} %) | "
                f"{a['miss_rate']:.3f} / {intervals._p(a['p_uc'])} / {intervals._share(a['pi_11'])} / "
                f"{intervals._p(a['p_ind'])} | {len(r['coins_too_many'])} ; {len(r['coins_too_clustered'])} |")
        lines.append("")
    return "\n".join(lines)


def run_round(panel: pd.DataFrame, inner_predictions: pd.DataFrame | None = None,
              reported_predictions: pd.DataFrame | None = None, config: IntervalConfig = IntervalConfig()) -> dict:
    """The round: stream 1 (random walk on `panel`) from INNER[0] to REPORTED[1], one state path through both
    periods, the pick per level on its inner period; stream 2 (a predictions file per period) beside it."""
    rw = run_stream(random_walk_frame(panel, config), INNER[0], REPORTED[1], config)
    res = {"periods": {"inner": INNER, "reported": REPORTED}, "winkler_tolerance": WINKLER_TOLERANCE,
           "random_walk": {"inner": period_table(rw, *INNER, config.levels),
                           "reported": period_table(rw, *REPORTED, config.levels)}}
    res["picks"] = {k: pick(t) for k, t in res["random_walk"]["inner"].items()}
    for period, preds, (first, last) in (("inner", inner_predictions, INNER),
                                         ("reported", reported_predictions, REPORTED)):
        if preds is not None:
            cells = run_stream(predictions_frame(preds, panel, config), first, last, config)
            res.setdefault("served_model", {})[period] = period_table(cells, first, last, config.levels)
    return res


def render_round(res: dict) -> str:
    """The round's tables: stream 1 inner (with the picks) and reported, stream 2 where given."""
    out = ["## Online coverage correction (issue 26)", "",
           f"Pick per level on stream 1's inner period: the smallest worst-horizon gap among candidates within "
           f"{100 * res['winkler_tolerance']:.0f} % of none's Winkler score: "
           + ", ".join(f"{k} %: {v}" for k, v in res["picks"].items()), ""]
    names = {"inner": f"inner period {INNER[0]} .. {INNER[1]}", "reported": f"reported folds {REPORTED[0]} .. {REPORTED[1]}"}
    for period, t in res["random_walk"].items():
        out.append(render(f"Random-walk stream, {names[period]}", t, res["picks"] if period == "inner" else None))
    for period, t in res.get("served_model", {}).items():
        out.append(render(f"Served model's walk-forward stream (blend_equal, seed set 0), {names[period]}", t))
    return "\n".join(out)
