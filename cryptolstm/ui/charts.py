"""Charts as PNG files: per-coin price history + 5-day forecast with conformal bands, live accuracy.

The plotting functions are pure (DataFrames in, a PNG out); `render_charts` reads PostgreSQL
through the named queries `sql/queries/charts_*.sql` and writes one file per coin plus
`live_accuracy.png`. matplotlib (Agg backend) is imported inside the functions only.

Price forecast from log returns: for as-of day t and horizon h,
    price_h = close[t] * exp(r̂_h)
Conformal band (split conformal on matured residuals e = r - r̂ of horizon h, n of them):
    q_h = the ceil((n + 1) * coverage)-th smallest |e|        (coverage 0.8 -> an 80 % band)
    band_h = [close[t] * exp(r̂_h - q_h), close[t] * exp(r̂_h + q_h)]
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Union

from cryptolstm.config import ChartConfig

if TYPE_CHECKING:  # pandas is imported lazily: importing this module stays cheap
    import pandas as pd

PngTarget = Union[Path, IO[bytes]]

_DEFAULTS = ChartConfig()  # the numbers are defined (and commented) in cryptolstm.config
HISTORY_DAYS = _DEFAULTS.history_days
LOOKBACK_DAYS = _DEFAULTS.lookback_days
COVERAGE = _DEFAULTS.coverage
MIN_RESIDUALS = _DEFAULTS.min_residuals
ACCURACY_WINDOW = _DEFAULTS.accuracy_window


def conformal_halfwidths(residuals: "pd.DataFrame", coverage: float = COVERAGE,
                         min_count: int = MIN_RESIDUALS) -> "pd.Series":
    """Per-horizon half-width q_h of the conformal band in log-return units.

    `residuals`: columns `horizon` and `residual` (realised - predicted log return), e.g. the
    model's walk-forward residuals or the scored live forecasts. Horizons with fewer than
    `min_count` residuals get NaN (no band rather than a made-up one).
    q_h = k-th smallest |residual|, k = ceil((n + 1) * coverage), capped at n.
    """
    import numpy as np
    import pandas as pd

    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    missing = {"horizon", "residual"} - set(residuals.columns)
    if missing:
        raise ValueError(f"residuals lack columns {sorted(missing)}")
    out = {}
    for h, grp in residuals.dropna(subset=["residual"]).groupby("horizon"):
        a = np.sort(np.abs(grp["residual"].to_numpy(dtype=float)))
        n = len(a)
        if n < min_count:
            out[int(h)] = float("nan")
            continue
        k = min(n, math.ceil((n + 1) * coverage))
        out[int(h)] = float(a[k - 1])
    return pd.Series(out, name="halfwidth", dtype=float).rename_axis("horizon")


def forecast_prices(forecast: "pd.DataFrame", halfwidths: "pd.Series | None" = None) -> "pd.DataFrame":
    """Price path and band from one coin's forecast rows.

    `forecast`: columns `horizon`, `target_day`, `base_close`, `pred_log_return` (one row per horizon).
    Returns columns target_day, horizon, pred_close, lo, hi (lo/hi NaN where no half-width).
    """
    import numpy as np

    f = forecast.sort_values("horizon").reset_index(drop=True)
    q = (halfwidths.reindex(f["horizon"].astype(int)).to_numpy(dtype=float)
         if halfwidths is not None else np.full(len(f), np.nan))
    base = f["base_close"].to_numpy(dtype=float)
    r = f["pred_log_return"].to_numpy(dtype=float)
    return f.assign(pred_close=base * np.exp(r), lo=base * np.exp(r - q),
                    hi=base * np.exp(r + q))[["target_day", "horizon", "pred_close", "lo", "hi"]]


def rolling_live_accuracy(scored: "pd.DataFrame", window: int = ACCURACY_WINDOW) -> "pd.DataFrame":
    """Rolling live accuracy of matured forecasts vs the baselines, one row per target day.

    `scored`: columns `target_day`, `pred_log_return`, `realised_log_return` (any coins/horizons).
    Over the forecasts whose target day lies in the `window` days ending at each day:
      da          = share with sign(r̂) == sign(r)             (r == 0 excluded)
      da_up       = share with r > 0 (the always-up baseline)  (r == 0 excluded)
      mae         = mean |r - r̂|
      mae_rw      = mean |r| (random walk predicts r̂ = 0)
      n           = forecasts in the window
    """
    import numpy as np
    import pandas as pd

    cols = ["da", "da_up", "mae", "mae_rw", "n"]
    if scored.empty:
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], name="day"), dtype=float)
    r = scored["realised_log_return"].to_numpy(dtype=float)
    p = scored["pred_log_return"].to_numpy(dtype=float)
    decided = r != 0
    per = pd.DataFrame({
        "day": pd.to_datetime(scored["target_day"]),
        "hit": np.where(decided, np.sign(p) == np.sign(r), False).astype(float),
        "up": np.where(decided, r > 0, False).astype(float),
        "decided": decided.astype(float),
        "ae": np.abs(r - p),
        "ae_rw": np.abs(r),
        "one": 1.0,
    }).groupby("day").sum()
    per = per.reindex(pd.date_range(per.index.min(), per.index.max(), freq="D", name="day"), fill_value=0.0)
    roll = per.rolling(window, min_periods=1).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame({
            "da": roll["hit"] / roll["decided"],
            "da_up": roll["up"] / roll["decided"],
            "mae": roll["ae"] / roll["one"],
            "mae_rw": roll["ae_rw"] / roll["one"],
            "n": roll["one"],
        })
    return out.replace([np.inf, -np.inf], np.nan)


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def _save(fig, out: PngTarget) -> PngTarget:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out


def plot_coin_forecast(coin: str, history: "pd.DataFrame", forecast: "pd.DataFrame",
                       halfwidths: "pd.Series | None", out: PngTarget, *,
                       coverage: float = COVERAGE, model_id: str | None = None) -> PngTarget:
    """Closing prices (`history`: day, close) and the forecast path with its band, as a PNG."""
    import numpy as np
    import pandas as pd

    fig, ax = _figure(7.5, 3.6)
    h = history.sort_values("day")
    ax.plot(pd.to_datetime(h["day"]), h["close"], color="#1f4e79", lw=1.4, label="close")
    title = f"{coin}"
    if not forecast.empty:
        fp = forecast_prices(forecast, halfwidths)
        as_of = pd.Timestamp(forecast["as_of"].iloc[0]) if "as_of" in forecast else None
        base = float(forecast["base_close"].iloc[0])
        x = [as_of] + list(pd.to_datetime(fp["target_day"])) if as_of is not None else pd.to_datetime(fp["target_day"])
        y = [base] + list(fp["pred_close"]) if as_of is not None else fp["pred_close"]
        ax.plot(x, y, color="#d9480f", lw=1.8, marker="o", ms=3, label="forecast close[t]·exp(r̂)")
        if np.isfinite(fp["lo"]).any():
            ax.fill_between(x, [base] + list(fp["lo"]), [base] + list(fp["hi"]), color="#d9480f",
                            alpha=0.18, lw=0, label=f"{coverage:.0%} conformal band")
        else:
            ax.text(0.01, 0.03, "no band: too few matured forecasts", transform=ax.transAxes,
                    fontsize=8, color="#666")
        if as_of is not None:
            ax.axvline(as_of, color="#888", lw=0.8, ls="--")
            title += f" — as of {as_of.date()}"
        if model_id:
            title += f" — model {model_id}"
    else:
        ax.text(0.5, 0.5, "no forecast", transform=ax.transAxes, ha="center", color="#666")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("price (quote)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    return _save(fig, out)


def plot_live_accuracy(acc: "pd.DataFrame", out: PngTarget, *, window: int = ACCURACY_WINDOW) -> PngTarget:
    """Rolling DA vs always-up and the 50 % line; MAE vs random walk, as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7.5, 4.6), dpi=100, sharex=True)
    if acc.empty:
        ax1.text(0.5, 0.5, "no matured forecasts yet", transform=ax1.transAxes, ha="center", color="#666")
    else:
        ax1.plot(acc.index, acc["da"], color="#1f4e79", lw=1.6, label="model DA")
        ax1.plot(acc.index, acc["da_up"], color="#2b8a3e", lw=1.2, ls="--", label="always-up DA")
        ax1.axhline(0.5, color="#888", lw=0.8, ls=":", label="coin flip")
        ax2.plot(acc.index, acc["mae"], color="#1f4e79", lw=1.6, label="model MAE")
        ax2.plot(acc.index, acc["mae_rw"], color="#c92a2a", lw=1.2, ls="--", label="random-walk MAE")
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("directional acc.")
    ax1.set_title(f"Live accuracy, rolling {window} days of matured forecasts", fontsize=10)
    ax2.set_ylabel("MAE (log return)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    return _save(fig, out)


# ---- reading PostgreSQL -------------------------------------------------------------------------

def _frame(dsn: str, name: str, params: dict) -> "pd.DataFrame":
    import pandas as pd

    from cryptolstm import storage

    with storage.transaction(dsn) as cur:
        cur.execute(storage.query(name), params)
        cols = [d[0] for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)


def load_chart_data(dsn: str, as_of: date, *, history_days: int = HISTORY_DAYS,
                    lookback_days: int = LOOKBACK_DAYS) -> dict[str, "pd.DataFrame"]:
    """What the charts need as of a day (nothing after `as_of` is read).

    history: coin, day, close; forecasts: the latest forecast per coin (as_of <= day);
    scored: matured forecasts (target_day <= day) with their realised log returns.
    """
    return {
        "coins": _frame(dsn, "charts_coins", {}),
        "history": _frame(dsn, "charts_close_history", {"as_of": as_of, "days": history_days}),
        "forecasts": _frame(dsn, "charts_latest_forecasts", {"as_of": as_of}),
        "scored": _frame(dsn, "charts_scored_forecasts", {"as_of": as_of, "days": lookback_days}),
    }


def coin_halfwidths(scored: "pd.DataFrame", coin: str, coverage: float = COVERAGE,
                    min_count: int = MIN_RESIDUALS) -> "pd.Series":
    """Band half-widths for one coin: its own residuals per horizon, pooled over coins where too few."""
    res = scored.assign(residual=scored["realised_log_return"] - scored["pred_log_return"])
    own = conformal_halfwidths(res[res["coin"] == coin], coverage, min_count)
    pooled = conformal_halfwidths(res, coverage, min_count)
    return own.combine_first(pooled) if not own.empty else pooled


def render_coin_chart(data: dict[str, "pd.DataFrame"], coin: str, out: PngTarget,
                      residuals: "pd.DataFrame | None" = None, coverage: float = COVERAGE) -> PngTarget:
    """One coin's chart from `load_chart_data` output.

    `residuals` (columns horizon, residual) overrides the live residuals, e.g. walk-forward ones.
    """
    hist = data["history"][data["history"]["coin"] == coin]
    fc = data["forecasts"][data["forecasts"]["coin"] == coin]
    if residuals is not None:
        q = conformal_halfwidths(residuals, coverage)
    else:
        q = coin_halfwidths(data["scored"], coin, coverage) if not data["scored"].empty else None
    model = str(fc["model_id"].iloc[0]) if not fc.empty else None
    return plot_coin_forecast(coin, hist, fc, q, out, coverage=coverage, model_id=model)


def render_charts(dsn: str, as_of: date, out_dir: Path, *, residuals: "pd.DataFrame | None" = None,
                  coverage: float = COVERAGE, window: int = ACCURACY_WINDOW) -> list[Path]:
    """Write `<COIN>.png` for every coin and `live_accuracy.png` into `out_dir`; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_chart_data(dsn, as_of, lookback_days=max(LOOKBACK_DAYS, window))
    paths = [render_coin_chart(data, coin, out_dir / f"{coin}.png", residuals, coverage)
             for coin in data["coins"]["coin"]]
    paths.append(plot_live_accuracy(rolling_live_accuracy(data["scored"], window), out_dir / "live_accuracy.png",
                                    window=window))
    return paths
