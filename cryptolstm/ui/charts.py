"""Charts as PNG files: per-coin price history + 5-day forecast fan (80 % / 95 % ranges), live accuracy.

The plotting functions are pure (DataFrames in, a PNG out); `load_chart_data` reads PostgreSQL
through named queries in one transaction, and `render_charts` writes one file per coin plus
`live_accuracy.png`. matplotlib is imported inside the functions only, and only its object API
(`matplotlib.figure.Figure`, rendered by the Agg canvas): pyplot's global figure state is not
thread-safe, and these charts are also drawn inside the web server's worker threads.

Price forecast from log returns: for as-of day t and horizon h, price_h = close[t] * exp(r̂_h). The
fan is drawn from the ranges STORED with each forecast row (lo80_close .. hi95_close, calibrated by
`serving.forecast`), never recomputed here: the chart shows exactly what SQL serves.
"""

from __future__ import annotations

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
ACCURACY_WINDOW = _DEFAULTS.accuracy_window


RANGES = (("95", "#d9480f", 0.12), ("80", "#d9480f", 0.24))  # level, colour, alpha: the wider range first


def forecast_prices(forecast: "pd.DataFrame") -> "pd.DataFrame":
    """Price path and stored ranges from one coin's forecast rows.

    `forecast`: one row per horizon with `horizon`, `target_day`, `pred_close` and the stored
    `lo80_close`, `hi80_close`, `lo95_close`, `hi95_close` (NULL where the row has no range).
    Returns target_day, horizon, pred_close, lo80, hi80, lo95, hi95 sorted by horizon.
    """
    import numpy as np

    f = forecast.sort_values("horizon").reset_index(drop=True)
    out = f[["target_day", "horizon", "pred_close"]].copy()
    for L in ("80", "95"):
        for side in ("lo", "hi"):
            col = f"{side}{L}_close"
            out[f"{side}{L}"] = f[col].astype(float).to_numpy() if col in f else np.nan
    return out


def rolling_live_accuracy(scored: "pd.DataFrame", window: int = ACCURACY_WINDOW) -> "pd.DataFrame":
    """Rolling live accuracy of matured forecasts vs the baselines, one row per target day.

    `scored`: columns `target_day`, `pred_log_return`, `realised_log_return` (any coins/horizons).
    Over the forecasts whose target day lies in the `window` days ending at each day:
      da          = mean directional hit (metrics.direction_hits: sign(r̂) == sign(r), 1/2 when r̂ == 0;
                    r == 0 excluded)
      da_up       = share with r > 0 (the always-up baseline)  (r == 0 excluded)
      mae         = mean |r - r̂|
      mae_rw      = mean |r| (random walk predicts r̂ = 0)
      n           = forecasts in the window
    """
    import numpy as np
    import pandas as pd

    from cryptolstm.evaluation import metrics

    cols = ["da", "da_up", "mae", "mae_rw", "n"]
    if scored.empty:
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], name="day"), dtype=float)
    r = scored["realised_log_return"].to_numpy(dtype=float)
    p = scored["pred_log_return"].to_numpy(dtype=float)
    hit, decided = metrics.direction_hits(r, p)
    per = pd.DataFrame({
        "day": pd.to_datetime(scored["target_day"]),
        "hit": hit,
        "up": metrics.direction_hits(r, np.ones_like(r))[0],  # the always-up baseline's hits
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


def _figure(width: float, height: float, rows: int = 1, **subplots):
    """A standalone Figure (no pyplot, no global state) and its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.subplots(rows, 1, **subplots)


def _save(fig, out: PngTarget) -> PngTarget:
    fig.tight_layout()
    fig.savefig(out, format="png")  # no pyplot registry to close: the figure is freed with its last reference
    return out


def plot_coin_forecast(coin: str, history: "pd.DataFrame", forecast: "pd.DataFrame", out: PngTarget, *,
                       model_id: str | None = None) -> PngTarget:
    """Closing prices (`history`: day, close) and the forecast path with its stored 80 % / 95 % fan, as a PNG."""
    import numpy as np
    import pandas as pd

    fig, ax = _figure(7.5, 3.6)
    h = history.sort_values("day")
    ax.plot(pd.to_datetime(h["day"]), h["close"], color="#1f4e79", lw=1.4, label="close")
    title = f"{coin}"
    if not forecast.empty:
        fp = forecast_prices(forecast)
        as_of = pd.Timestamp(forecast["as_of"].iloc[0]) if "as_of" in forecast else None
        base = float(forecast["base_close"].iloc[0])
        x = [as_of] + list(pd.to_datetime(fp["target_day"])) if as_of is not None else pd.to_datetime(fp["target_day"])
        y = [base] + list(fp["pred_close"]) if as_of is not None else fp["pred_close"]
        ax.plot(x, y, color="#d9480f", lw=1.8, marker="o", ms=3, label="forecast close[t]·exp(r̂)")
        if as_of is not None and np.isfinite(fp[["lo80", "hi80", "lo95", "hi95"]].to_numpy(dtype=float)).all():
            for L, colour, alpha in RANGES:
                ax.fill_between(x, [base] + list(fp[f"lo{L}"]), [base] + list(fp[f"hi{L}"]), color=colour,
                                alpha=alpha, lw=0, label=f"{L} % range")
        else:
            ax.text(0.01, 0.03, "no range stored with this forecast (no walk-forward residuals)",
                    transform=ax.transAxes, fontsize=8, color="#666")
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
    fig, (ax1, ax2) = _figure(7.5, 4.6, rows=2, sharex=True)
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

LIVE_ACCURACY = "live_accuracy"  # the name of the live-accuracy chart (the others are named by their coin)


def query_frame(cur, name: str, params: dict) -> "pd.DataFrame":
    """The rows of the named query `sql/queries/<name>.sql` as a DataFrame (columns as the query names them)."""
    import pandas as pd

    from cryptolstm import storage

    cur.execute(storage.query(name), params)
    return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])


def read_chart_data(cur, as_of: date, *, history_days: int = HISTORY_DAYS,
                    lookback_days: int = LOOKBACK_DAYS) -> dict[str, "pd.DataFrame"]:
    """What the charts need as of a day (nothing after `as_of` is read), through the cursor's transaction.

    coins: coin, symbol; history: coin, day, close; forecasts: the latest forecast per coin (as_of <= day)
    with its stored ranges; scored: matured forecasts (target_day <= day) with their realised log returns.
    """
    return {
        "coins": query_frame(cur, "coins_select_all", {}),
        "history": query_frame(cur, "candles_select_close_history", {"as_of": as_of, "days": history_days}),
        "forecasts": query_frame(cur, "forecasts_select_latest", {"as_of": as_of}),
        "scored": query_frame(cur, "forecasts_select_scored", {"as_of": as_of, "days": lookback_days}),
    }


def load_chart_data(dsn: str, as_of: date, *, history_days: int = HISTORY_DAYS,
                    lookback_days: int = LOOKBACK_DAYS) -> dict[str, "pd.DataFrame"]:
    """`read_chart_data` in one transaction of its own (one connection, one snapshot)."""
    from cryptolstm import storage

    with storage.transaction(dsn) as cur:
        return read_chart_data(cur, as_of, history_days=history_days, lookback_days=lookback_days)


def render_coin_chart(data: dict[str, "pd.DataFrame"], coin: str, out: PngTarget) -> PngTarget:
    """One coin's chart from `load_chart_data` output."""
    hist = data["history"][data["history"]["coin"] == coin]
    fc = data["forecasts"][data["forecasts"]["coin"] == coin]
    model = str(fc["model_id"].iloc[0]) if not fc.empty else None
    return plot_coin_forecast(coin, hist, fc, out, model_id=model)


def render_chart(data: dict[str, "pd.DataFrame"], name: str, out: PngTarget, *,
                 window: int = ACCURACY_WINDOW) -> PngTarget:
    """Chart `name` (a coin, or LIVE_ACCURACY) from `load_chart_data` output; KeyError for an unknown coin."""
    if name == LIVE_ACCURACY:
        return plot_live_accuracy(rolling_live_accuracy(data["scored"], window), out, window=window)
    if name not in set(data["coins"]["coin"]):
        raise KeyError(f"no coin {name!r}")
    return render_coin_chart(data, name, out)


def render_charts(dsn: str, as_of: date, out_dir: Path, *, window: int = ACCURACY_WINDOW) -> list[Path]:
    """Write `<COIN>.png` for every coin and `live_accuracy.png` into `out_dir`; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_chart_data(dsn, as_of, lookback_days=max(LOOKBACK_DAYS, window))
    return [render_chart(data, name, out_dir / f"{name}.png", window=window)
            for name in [*data["coins"]["coin"], LIVE_ACCURACY]]
