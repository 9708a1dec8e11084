"""5-day price ranges: split-conformal intervals of the log return, and how to score them.

For as-of day t, coin c, horizon h the range at level L is

    [p - q * s, p + q * s],   q = the ceil((n + 1) L)-th smallest score of the calibration set

where p is the point forecast, s the scale of the cell (1 for fixed-width intervals, or
vol_t ** vol_power with vol_t the point-in-time volatility of the coin at t) and the scores are |y - p| / s of the residuals that
matured BEFORE t (target day < t) with an as-of day in the `calib_days` before t, for the same coin
and horizon. A coin with fewer than `min_coin_cells` such residuals borrows the pooled scores of every
coin for that horizon. Nothing after t is read, so a range is the same whenever it is computed.

`vol_t` = standard deviation of the coin's last `vol_days` daily log returns up to t (closes <= t
only), a scale known at t. Whether it helps is measured on the walk-forward (`evaluate`), and the
served method (`IntervalConfig.vol_power`) follows that measurement (docs/ranges.md).

The price range is close[t] * exp(range of the log return). The interval (Winkler) score of
[lo, hi] at level L for outcome y is (hi - lo) + (2 / (1 - L)) * (lo - y if y < lo, y - hi if y > hi):
width plus a penalty for each miss; lower is better. Beside coverage and the interval score, `evaluate`
backtests each method's misses (`evaluation.backtests`): Kupiec and Christoffersen per coin at h = 1, and
the share of repeated misses per horizon.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cryptolstm.config import HORIZONS, LEVELS, IntervalConfig  # noqa: F401 (defined with every other config)
from cryptolstm.evaluation import backtests, coverage


# ---- the pieces -------------------------------------------------------------------------------------

def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) * level)-th smallest score (split conformal); inf when n is too small for it."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    k = math.ceil((len(s) + 1) * level)
    return float(s[k - 1]) if 1 <= k <= len(s) else math.inf


def point_in_time_vol(panel: pd.DataFrame, days: int = IntervalConfig.vol_days) -> pd.DataFrame:
    """[coin, day, vol]: std (ddof 1) of the coin's last `days` daily log returns ending at `day`, from
    closes <= day only (NaN until `days` returns exist; a missing day breaks no rule: returns are
    close-to-previous-close of the rows present)."""
    p = panel[["coin", "day", "close"]].sort_values(["coin", "day"])
    r = np.log(p["close"]).groupby(p["coin"]).diff()
    vol = r.groupby(p["coin"]).transform(lambda x: x.rolling(days, min_periods=days).std())
    return pd.DataFrame({"coin": p["coin"].to_numpy(), "day": pd.to_datetime(p["day"]).dt.date.to_numpy(),
                         "vol": vol.to_numpy()})


def winkler(lo: np.ndarray, hi: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    """Interval score per cell: width + 2/(1-level) * distance outside [lo, hi]."""
    lo, hi, y = (np.asarray(v, dtype=np.float64) for v in (lo, hi, y))
    a = 1 - level
    return (hi - lo) + (2 / a) * np.clip(lo - y, 0, None) + (2 / a) * np.clip(y - hi, 0, None)


def calibrate(resid: pd.DataFrame, config: IntervalConfig = IntervalConfig()) -> dict:
    """Conformal quantiles per (coin, horizon) from residual scores.

    resid: [coin, horizon, score] — the calibration set already restricted to what matured before the
    as-of day. Returns {(coin, horizon): {"q": {level: q}, "n": cells used, "pooled": bool, "scores": the
    sorted scores (for a corrected level, evaluation.coverage)}} for every coin and horizon present, plus
    {("*", horizon): ...} pooled over coins.
    """
    out = {}
    for h, g in resid.groupby("horizon"):
        pooled = g["score"].to_numpy()
        out[("*", int(h))] = {"q": {L: conformal_quantile(pooled, L) for L in config.levels}, "n": len(pooled),
                              "pooled": True, "scores": np.sort(pooled)}
        for c, gc in g.groupby("coin"):
            s = gc["score"].to_numpy()
            if len(s) >= config.min_coin_cells:
                out[(c, int(h))] = {"q": {L: conformal_quantile(s, L) for L in config.levels}, "n": len(s),
                                    "pooled": False, "scores": np.sort(s)}
            else:
                out[(c, int(h))] = out[("*", int(h))]
    return out


def method_name(config: IntervalConfig) -> str:
    """What a stored range was made with (recorded next to it)."""
    scale = {0.0: "", 1.0: f", scaled by vol{config.vol_days}"}.get(
        config.vol_power, f", scaled by vol{config.vol_days}^{config.vol_power:g}")
    return f"split-conformal per coin+horizon{scale}, {config.calib_days}d, pooled below {config.min_coin_cells}"


# ---- walk-forward evaluation -----------------------------------------------------------------------

METHODS = {  # name: (per coin?, power of vol_t in the scale: 0 = fixed width)
    "pooled_fixed": (False, 0.0),  # baseline 1: fixed width, pooled over coins, per horizon
    "per_coin_fixed": (True, 0.0),  # baseline 2: fixed width per coin and horizon
    "per_coin_vol": (True, 1.0),  # candidate: per coin and horizon on vol-scaled residuals
    "per_coin_sqrt_vol": (True, 0.5),  # candidate: half-way (scale = sqrt(vol_t)) -- the served method
}


def rolling_intervals(frame: pd.DataFrame, method: str, config: IntervalConfig = IntervalConfig(),
                      first=None, last=None, min_calib_days: int = 60,
                      correction: coverage.Correction | None = None) -> pd.DataFrame:
    """Ranges of every cell of `frame` with as-of day in [first, last], each calibrated only on the
    frame's residuals matured before its as-of day t (target day < t, as-of day >= t - calib_days) —
    the rule `serving.forecast` applies to the stored walk-forward residuals.

    frame: [coin, as_of, horizon, pred, realised, vol] (as_of a date). Days whose calibration set spans
    fewer than `min_calib_days` as-of days are skipped (burn-in). Returns the scored cells with
    lo_<L> / hi_<L> columns (L = 80, 95).

    With a `correction` (evaluation.coverage), lo_<L> / hi_<L> are the corrected (served) ranges, one state per
    (coin, horizon, level) starting at `first` and fed by the misses of the corrected ranges whose target day is
    before t; the uncorrected ranges of the same cells are lo_<L>_uncorrected / hi_<L>_uncorrected and the state
    used is state_<L> (alpha_t for ACI, theta_t for qt). A cell with NaN realised updates nothing.
    """
    per_coin, power = METHODS[method]
    scaled = power > 0
    f = frame.dropna(subset=["vol"] if scaled else []).copy()
    f["day"] = (pd.to_datetime(f["as_of"]) - pd.Timestamp("1970-01-01")).dt.days.astype(np.int64)
    f["scale"] = f["vol"] ** power if scaled else 1.0
    f["score"] = (f["realised"] - f["pred"]).abs() / f["scale"]
    f = f.sort_values(["horizon", "coin", "day"], kind="stable").reset_index(drop=True)
    lo_day = f["day"].min() if first is None else (pd.Timestamp(first) - pd.Timestamp("1970-01-01")).days
    hi_day = f["day"].max() if last is None else (pd.Timestamp(last) - pd.Timestamp("1970-01-01")).days
    min_n = config.min_coin_cells if per_coin else 10 ** 9
    out = []
    for h, fh in f.groupby("horizon"):
        series = {c: (g["day"].to_numpy(), g["score"].to_numpy()) for c, g in fh.groupby("coin")}
        target = fh[(fh["day"] >= lo_day) & (fh["day"] <= hi_day)]
        trackers: dict = {}  # (coin, level) -> coverage.Tracker, as-of days visited in increasing order
        for t, today in target.groupby("day"):
            # calibration slices: as_of in [t - calib_days, t - h - 1]  (target day as_of + h < t)
            sl = {c: s[np.searchsorted(d, t - config.calib_days):np.searchsorted(d, t - h)]
                  for c, (d, s) in series.items()}
            days = [d[np.searchsorted(d, t - config.calib_days):np.searchsorted(d, t - h)] for d, _ in series.values()]
            if len(np.unique(np.concatenate(days))) < min_calib_days:
                continue
            pooled = np.concatenate(list(sl.values()))
            qp = {L: conformal_quantile(pooled, L) for L in config.levels}
            rows, qs = today.copy(), {}
            for L in config.levels:
                q = qs[L] = np.array([conformal_quantile(sl[c], L) if len(sl[c]) >= min_n else qp[L]
                                      for c in today["coin"]])
                rows[f"lo_{round(L * 100)}"] = today["pred"] - q * today["scale"]
                rows[f"hi_{round(L * 100)}"] = today["pred"] + q * today["scale"]
            if correction is not None:
                _correct(rows, t, int(h), qs, sl, pooled, min_n, correction, trackers)
            out.append(rows)
    if not out:
        return f.iloc[:0]
    res = pd.concat(out, ignore_index=True)
    res["as_of"] = pd.to_datetime(res["as_of"])
    return res.drop(columns=["day"])


def _correct(rows: pd.DataFrame, t: int, h: int, qs: dict, sl: dict, pooled: np.ndarray, min_n: int,
             correction: coverage.Correction, trackers: dict) -> None:
    """Replace the day's lo_/hi_ columns of `rows` (one horizon, as-of day t) by the corrected ranges, keep the
    uncorrected ones beside them, and queue each cell's miss until its target day has passed."""
    srt = {c: np.sort(s) for c, s in sl.items()}
    srt_pooled = np.sort(pooled)
    for L, q0s in qs.items():  # q0s: the uncorrected quantile of each row
        k = round(L * 100)
        lo0, hi0 = rows[f"lo_{k}"].to_numpy(), rows[f"hi_{k}"].to_numpy()
        lo, hi, st = lo0.copy(), hi0.copy(), np.empty(len(rows))
        for i, (c, p, s, y) in enumerate(zip(rows["coin"], rows["pred"], rows["scale"], rows["realised"])):
            tr = trackers.setdefault((c, L), coverage.Tracker(L, correction))
            st[i] = tr.at(t)
            scores = srt[c] if len(srt[c]) >= min_n else srt_pooled
            q = coverage.corrected_quantile(scores, L, st[i], correction, float(q0s[i]))
            if correction.kind != "none":
                lo[i], hi[i] = p - q * s, p + q * s
            if y == y:  # a matured cell: its miss is known at its target day
                tr.record(t, h, not (lo[i] <= y <= hi[i]))
        rows[f"lo_{k}_uncorrected"], rows[f"hi_{k}_uncorrected"] = lo0, hi0
        rows[f"lo_{k}"], rows[f"hi_{k}"], rows[f"state_{k}"] = lo, hi, st


def score_intervals(cells: pd.DataFrame, levels=LEVELS) -> dict:
    """Per horizon and overall: coverage, mean width and mean interval score at each level."""
    def one(g):
        d = {"n_cells": int(len(g))}
        for L in levels:
            k = round(L * 100)
            lo, hi, y = g[f"lo_{k}"].to_numpy(), g[f"hi_{k}"].to_numpy(), g["realised"].to_numpy()
            d[f"coverage_{k}"] = float(np.mean((y >= lo) & (y <= hi)))
            d[f"width_{k}"] = float(np.mean(hi - lo))
            d[f"winkler_{k}"] = float(np.mean(winkler(lo, hi, y, L)))
        return d

    out = {str(int(h)): one(g) for h, g in cells.groupby("horizon")}
    out["all"] = one(cells)
    return out


def evaluate(predictions: pd.DataFrame, panel: pd.DataFrame, config: IntervalConfig = IntervalConfig(),
             methods=tuple(METHODS), min_calib_days: int = 60, corrections: tuple[str, ...] = ()) -> dict:
    """Every method on the SAME cells of a walk-forward run: predictions [coin, as_of, horizon,
    pred_log_return, realised_log_return] (e.g. `WalkForwardResult.predictions`), panel = candles for
    the point-in-time volatility. Only cells every method could score are kept (the vol-scaled methods
    need `vol_days` of history, every method its burn-in). With `corrections` (names of
    `coverage.CANDIDATES`), the served method's corrected ranges of those cells are scored and backtested too,
    under res["corrections"] and res["correction_backtests"] (each state starting at the frame's first day)."""
    vol = point_in_time_vol(panel, config.vol_days)
    fr = predictions.rename(columns={"pred_log_return": "pred", "realised_log_return": "realised"})
    fr = fr[["coin", "as_of", "horizon", "pred", "realised"]].merge(
        vol.rename(columns={"day": "as_of"}), on=["coin", "as_of"], how="left")
    runs = {m: rolling_intervals(fr, m, config, min_calib_days=min_calib_days) for m in methods}
    keys = ["coin", "as_of", "horizon"]
    common = None
    for cells in runs.values():
        k = cells[keys]
        common = k if common is None else common.merge(k, on=keys)
    res = {"config": {"calib_days": config.calib_days, "min_coin_cells": config.min_coin_cells,
                      "vol_days": config.vol_days, "min_calib_days": min_calib_days, "served": method_name(config),
                      "served_method": served_method(config)},
           "n_cells": int(len(common)), "n_as_of_days": int(common["as_of"].nunique()),
           "first_as_of": str(common["as_of"].min().date()) if len(common) else None,
           "last_as_of": str(common["as_of"].max().date()) if len(common) else None, "methods": {}}
    res["backtests"] = {}
    for m, cells in runs.items():
        res["methods"][m] = score_intervals(cells.merge(common, on=keys), config.levels)
        res["backtests"][m] = backtests.backtest_cells(cells.merge(common, on=keys), config.levels)
    served = served_method(config)
    if corrections and served is not None:
        res["corrections"], res["correction_backtests"] = {}, {}
        for name in corrections:
            cells = rolling_intervals(fr, served, config, min_calib_days=min_calib_days,
                                      correction=coverage.by_name(name)).merge(common, on=keys)
            res["corrections"][name] = score_intervals(cells, config.levels)
            res["correction_backtests"][name] = backtests.backtest_cells(cells, config.levels)
    return res


def served_method(config: IntervalConfig = IntervalConfig()) -> str | None:
    """The METHODS entry `serving.forecast` applies under `config` (per coin, scale vol_t ** vol_power);
    None when no evaluated method has that power."""
    return next((name for name, (per_coin, power) in METHODS.items() if per_coin and power == config.vol_power), None)


def render_markdown(res: dict) -> str:
    """Per horizon coverage / mean width / mean interval score of each method (the report's section)."""
    levels = [k.split("_")[1] for k in next(iter(res["methods"].values()))["all"] if k.startswith("coverage_")]
    hs = [h for h in next(iter(res["methods"].values())) if h != "all"] + ["all"]
    lines = [f"## {HORIZONS}-day ranges: split-conformal intervals ({res['n_cells']} cells, as-of days "
             f"{res['first_as_of']} .. {res['last_as_of']})", "",
             "Each as-of day is calibrated only on residuals matured before it (target day < t, as-of day in the "
             f"last {res['config']['calib_days']} days); days with fewer than {res['config']['min_calib_days']} "
             "calibration days are skipped. Interval score = width + 2/(1-L) x miss distance (lower is better). "
             "Targets: 80 % coverage in [0.78, 0.82], 95 % in [0.93, 0.97], interval score <= per_coin_fixed.", ""]
    for L in levels:
        lines += [f"### {L} % ranges: coverage / mean width / mean interval score (log-return units)", "",
                  "| method | " + " | ".join(f"h={h}" if h != "all" else "all" for h in hs) + " |",
                  "|---|" + "---|" * len(hs)]
        for m, r in res["methods"].items():
            lines.append(f"| {m} | " + " | ".join(
                f"{r[h][f'coverage_{L}']:.3f} / {r[h][f'width_{L}']:.4f} / {r[h][f'winkler_{L}']:.4f}" for h in hs)
                + " |")
        lines.append("")
    if res.get("corrections"):
        lines.append(render_corrections(res, hs))
    if res.get("backtests"):
        lines.append(render_backtests(res))
    return "\n".join(lines)


def render_corrections(res: dict, hs: list[str]) -> str:
    """The served method's online-corrected ranges (issue 26) on the same cells: coverage / mean interval score per
    horizon, and the h = 1 backtest over every coin (miss rate, Kupiec p, independence p)."""
    served = res["config"].get("served_method")
    lines = [f"### Online coverage correction of {served} (same cells; docs/ranges.md, issue 26)", "",
             "| correction | level | " + " | ".join(f"h={h}" if h != "all" else "all" for h in hs)
             + " | h=1 every coin: miss rate / Kupiec p / independence p |", "|---|---|" + "---|" * (len(hs) + 1)]
    rows = {"none": (res["methods"][served], res["backtests"][served]),
            **{n: (r, res["correction_backtests"][n]) for n, r in res["corrections"].items()}}
    for name, (r, bt) in rows.items():
        for L in bt:
            a = bt[L]["all_coins"]
            lines.append(f"| {name} | {L} % | " + " | ".join(
                f"{r[h][f'coverage_{L}']:.3f} / {r[h][f'winkler_{L}']:.4f}" for h in hs)
                + (f" | {a['miss_rate']:.3f} / {_p(a['p_uc'])} / {_p(a['p_ind'])} |" if a else " | - |"))
    lines.append("")
    return "\n".join(lines)


def _p(x: float) -> str:
    """A p-value: 3 decimals, or its order of magnitude below 0.001."""
    return "n/a" if x != x else (f"{x:.3f}" if x >= 0.001 else f"{x:.0e}")


def _share(x: float) -> str:
    return "n/a" if x != x else f"{x:.3f}"


def render_backtests(res: dict) -> str:
    """The backtest section: per coin at h = 1 (misses, Kupiec p, Christoffersen independence and
    conditional-coverage p, what is rejected at 5 %), and the repeated-miss share per horizon."""
    bt = res["backtests"]
    first = next(iter(bt.values()))
    levels = list(first)
    served = res["config"].get("served_method")
    lines = ["## Range backtests", "",
             "A miss: the realised return outside the range. Kupiec: is the miss rate the promised 1 - L? "
             "Christoffersen: is a miss on day t independent of a miss on day t - 1 (independence), and both at once "
             "(conditional coverage)? Tested at h = 1, where consecutive targets do not overlap. p < 0.05 rejects: "
             "'too many' misses (Kupiec, miss rate above 1 - L) or 'too clustered' (independence, "
             "P(miss | miss before) above P(miss | no miss before)).", ""]
    for m, by_level in bt.items():
        if served is not None and m != served:
            continue
        for L in levels:
            t = by_level[L]
            lines += [f"### {m}, {L} % ranges, h = {t['test_horizon']}: per coin", "",
                      "| coin | cells | miss rate | Kupiec p | repeated-miss share | independence p | "
                      "conditional coverage p | rejected at 5 % |", "|---|---|---|---|---|---|---|---|"]
            rows = {**t["per_coin"], **({"all coins": t["all_coins"]} if t["all_coins"] else {})}
            for coin, r in rows.items():
                lines.append(f"| {coin} | {r['n']} | {r['miss_rate']:.3f} | {_p(r['p_uc'])} | {_share(r['pi_11'])} | "
                             f"{_p(r['p_ind'])} | {_p(r['p_cc'])} | {', '.join(backtests.verdict(r)) or '-'} |")
            lines.append("")
    hs = [h for h in first[levels[0]]["repeated_miss_share"] if h != "all"] + ["all"]
    lines += ["### Share of repeated misses per horizon: P(miss on t | miss on t - 1), every coin", "",
              "(Independent misses give about 1 - L; at h > 1 consecutive targets share h - 1 days, so misses "
              "repeat by construction.)", "",
              "| method | level | " + " | ".join(f"h={h}" if h != "all" else "all" for h in hs) + " |",
              "|---|---|" + "---|" * len(hs)]
    for m, by_level in bt.items():
        for L in levels:
            sh = by_level[L]["repeated_miss_share"]
            lines.append(f"| {m} | {L} % | " + " | ".join(_share(sh[h]) for h in hs) + " |")
    lines.append("")
    return "\n".join(lines)
