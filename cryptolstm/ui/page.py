"""What the Forecasts page shows: its data, read in one transaction, and its HTML, rendered by the Jinja2
template `templates/forecasts.html` (autoescaped: a value from the database is text, never markup).

`load_page` reads the tables and the charts' data together (`charts.read_chart_data`), so the page's
charts can be drawn from the same snapshot; `render_page` turns a `PageData` into the HTML.
"""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from cryptolstm.config import HORIZONS, LIVE_ACCURACY_DAYS, PAGE_STATEMENT_TIMEOUT
from cryptolstm.ui import charts

if TYPE_CHECKING:
    import jinja2
    import pandas as pd

ACCURACY_WINDOW = LIVE_ACCURACY_DAYS  # days of matured forecasts summarised in the page's accuracy table
PROMOTION_ROWS = 20  # promotion decisions shown, newest first


@dataclass
class PageData:
    """Everything the page shows, as of one day."""

    as_of: date | None  # latest forecast as-of day (None: no forecast yet)
    coins: list[str]
    forecasts: "pd.DataFrame"  # coin, as_of, horizon, target_day, model_id, base_close, pred_log_return, pred_close,
    #                            lo80_close, hi80_close, lo95_close, hi95_close (stored ranges, NULL when none),
    #                            confidence, members_agree, tier (issue 26; NULL without a reference)
    accuracy: "pd.DataFrame"  # per horizon: da, da_up, mae, mae_rw, n over the last ACCURACY_WINDOW days
    champion: dict[str, Any] | None
    promotions: list[dict[str, Any]] = field(default_factory=list)
    charts: dict[str, "pd.DataFrame"] | None = None  # what the charts draw (charts.read_chart_data), same read
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)  # coin -> v_forecast_evidence row
    rules: list[dict[str, Any]] = field(default_factory=list)  # v_live_rule_accuracy rows, rule by rule


def _rows(cur, name: str, params: dict) -> list[dict[str, Any]]:
    from cryptolstm import storage

    cur.execute(storage.query(name), params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _read(dsn: str):
    """The page's one transaction, on a connection that bounds each query by its own statement timeout
    (the reader role's default can be changed, or raised by any session of the role)."""
    from cryptolstm import storage

    return storage.transaction(dsn, statement_timeout=PAGE_STATEMENT_TIMEOUT)


def _latest_as_of(cur) -> date | None:
    return _rows(cur, "forecasts_select_latest_as_of", {})[0]["as_of"]


def accuracy_by_horizon(scored: "pd.DataFrame", as_of: date, window: int = ACCURACY_WINDOW) -> "pd.DataFrame":
    """DA, always-up DA, MAE and random-walk MAE per horizon over target days in (as_of - window, as_of]."""
    import pandas as pd

    if scored.empty:
        return pd.DataFrame(columns=["horizon", "da", "da_up", "mae", "mae_rw", "n"])
    recent = scored[pd.to_datetime(scored["target_day"]) > pd.Timestamp(as_of) - pd.Timedelta(days=window)]
    rows = []
    for h, grp in recent.groupby("horizon"):
        # a window as long as the whole span: the last row summarises every forecast in `recent`
        acc = charts.rolling_live_accuracy(grp, window=window + 1).iloc[-1]
        rows.append({"horizon": int(h), **{k: float(acc[k]) for k in ("da", "da_up", "mae", "mae_rw", "n")}})
    return pd.DataFrame(rows)


def load_page(dsn: str, as_of: date | None = None) -> PageData:
    """Read the page's data, its charts' included, in one transaction; `as_of` defaults to the latest
    forecast day in the database."""
    import pandas as pd

    with _read(dsn) as cur:
        as_of = as_of or _latest_as_of(cur)
        promotions = _rows(cur, "promotion_decisions_select_recent", {"limit": PROMOTION_ROWS})
        if as_of is None:
            coins = [r["coin"] for r in _rows(cur, "coins_select_all", {})]
            return PageData(None, coins, pd.DataFrame(), pd.DataFrame(), None, promotions)
        data = charts.read_chart_data(cur, as_of)
        champ = _rows(cur, "models_select_champion_on", {"as_of": as_of})
        evidence = {r["coin"]: r for r in _rows(cur, "v_forecast_evidence_select", {"as_of": as_of})}
        rules = _rows(cur, "v_live_rule_accuracy_select", {"as_of": as_of})
    return PageData(as_of, list(data["coins"]["coin"]), data["forecasts"], accuracy_by_horizon(data["scored"], as_of),
                    champ[0] if champ else None, promotions, data, evidence, rules)


def load_forecasts(dsn: str, as_of: date | None = None) -> tuple[date | None, "pd.DataFrame"]:
    """(as-of day, the latest forecast per coin as of it), in one transaction; as for `load_page`."""
    import pandas as pd

    with _read(dsn) as cur:
        as_of = as_of or _latest_as_of(cur)
        if as_of is None:
            return None, pd.DataFrame()
        return as_of, charts.query_frame(cur, "forecasts_select_latest", {"as_of": as_of})


def load_charts_as_of(dsn: str, as_of: date | None) -> dict[str, "pd.DataFrame"]:
    """The charts' data as of `as_of` (default: the latest forecast day, else today), in one transaction."""
    with _read(dsn) as cur:
        return charts.read_chart_data(cur, as_of or _latest_as_of(cur) or date.today())


# ---- HTML ---------------------------------------------------------------------------------------

def fmt_pct(x: float | None) -> str:
    """A share as a percentage with one decimal; '–' for a missing value (None or NaN)."""
    return "–" if x is None or x != x else f"{100 * x:.1f} %"


def fmt_num(x: float | None, digits: int = 4) -> str:
    """A number with `digits` decimals; '–' for a missing value (None or NaN)."""
    return "–" if x is None or x != x else f"{x:.{digits}f}"


def fmt_price(x: float) -> str:
    """A price with as many decimals as its size needs (2 from 100 up, 4 from 1 up, else 6)."""
    return f"{x:,.2f}" if x >= 100 else f"{x:,.4f}" if x >= 1 else f"{x:.6f}"


class ForecastCell(NamedTuple):
    price: float  # close[t]·exp(r̂)
    change: float  # exp(r̂) - 1
    direction: str  # css class: "up", "down" or ""
    ranges: list[tuple[str, float, float]]  # (level, low price, high price) of each stored range
    tier: str | None = None  # issue 26: 'high' / 'medium' / 'low'; None: a model without a confidence reference
    confidence: float | None = None  # percentile of |ensemble mean| among the model's walk-forward cells
    members_agree: float | None = None  # share of the ensemble's members with the mean's sign


class DriftFlag(NamedTuple):
    drifted: bool | None  # None: not assessed (a model without a training description)
    distance: float | None  # None: not assessed, or a NaN / infinite feature in the window
    threshold: float | None
    cause: str | None  # why it is flagged


class ForecastRow(NamedTuple):
    coin: str
    as_of: date | None
    close: float | None  # close[as_of], the base of the price path
    cells: list[ForecastCell]  # one per horizon; empty: no forecast for the coin
    model_id: str | None
    drift: DriftFlag | None = None  # the coin's input window (one per as-of day, whatever the horizon)
    evidence: dict[str, Any] | None = None  # the serving model's record on the coin (v_forecast_evidence)


def forecast_rows(d: PageData) -> list[ForecastRow]:
    """The forecast table: one row per coin, one cell per horizon with its stored ranges (NULL -> none shown)."""
    out = []
    for coin in d.coins:
        rows = d.forecasts[d.forecasts["coin"] == coin].sort_values("horizon") if not d.forecasts.empty else []
        if len(rows) == 0:
            out.append(ForecastRow(coin, None, None, [], None))
            continue
        cells = []
        for r in rows.itertuples():
            change = math.expm1(r.pred_log_return)
            ranges = [(level, lo, hi) for level, lo, hi in (("80", r.lo80_close, r.hi80_close),
                                                            ("95", r.lo95_close, r.hi95_close))
                      if lo is not None and hi is not None and lo == lo and hi == hi]
            tier = getattr(r, "tier", None)
            cells.append(ForecastCell(r.pred_close, change, "up" if change > 0 else "down" if change < 0 else "",
                                      ranges, tier if isinstance(tier, str) else None,
                                      _value(getattr(r, "confidence", None)), _value(getattr(r, "members_agree", None))))
        first = rows.iloc[0]
        ev = d.evidence.get(coin)
        same = ev is not None and ev["model_id"] == first["model_id"] and ev["as_of"] == first["as_of"]
        out.append(ForecastRow(coin, first["as_of"], float(first["base_close"]), cells, first["model_id"],
                               _drift(first), ev if same else None))
    return out


def _value(v):
    """A nullable column's value as read back (None or NaN) as None."""
    return None if v is None or v != v else v


def _drift(row) -> DriftFlag:
    """The drift columns of a forecast row (NULL read back as None or NaN) as a DriftFlag."""
    def value(k):
        v = row.get(k)
        return None if v is None or v != v else v

    drifted = value("input_drifted")
    return DriftFlag(None if drifted is None else bool(drifted), value("input_distance"),
                     value("input_drift_threshold"), value("input_drift_cause"))


@lru_cache(maxsize=1)
def _templates() -> "jinja2.Environment":
    """The page's templates (cryptolstm/ui/templates/), autoescaped; None renders as an empty string."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("cryptolstm.ui", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined, finalize=lambda v: "" if v is None else v)
    env.filters.update(price=fmt_price, pct=fmt_pct, num=fmt_num)
    return env


def render_page(d: PageData, chart_url: Callable[[str], str]) -> str:
    """The whole HTML page; `chart_url(name)` gives the URL of chart `name` ('BTC', 'live_accuracy')."""
    provisional = sorted({str(m) for m in d.forecasts["model_id"]}) if len(d.forecasts) else []
    return _templates().get_template("forecasts.html").render(
        page=d, rows=forecast_rows(d), provisional_models=provisional, horizons=HORIZONS,
        accuracy_window=ACCURACY_WINDOW, now=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        charts=[charts.LIVE_ACCURACY, *d.coins] if d.as_of else [], chart_url=chart_url)
