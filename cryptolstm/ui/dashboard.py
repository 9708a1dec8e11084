"""The "Forecasts" page: queries, HTML rendering and a small FastAPI app (no Airflow inside).

The Airflow plugin `plugins/cryptolstm_forecasts.py` mounts `create_app()` under `/cryptolstm`.
Everything is read live from PostgreSQL through the read-only role (`reader_dsn`), and nothing is
served without logging in: every route depends on the `authenticate` dependency the caller passes
(the plugin passes the Airflow UI's own JWT / session-cookie check). An anonymous browser asking for
the page is sent to `login_url`; every other anonymous request gets that dependency's 401.

Routes (relative to the mount point):
    GET /                          the HTML page (optional ?as_of=YYYY-MM-DD)
    GET /charts/{COIN}.png         price history + 5-day forecast with its stored 80 % / 95 % ranges
    GET /charts/live_accuracy.png  rolling live DA / MAE vs the baselines
    GET /api/latest                the latest forecast table as JSON
    GET /icon.svg                  the nav icon
"""

import html
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping

from cryptolstm.config import LIVE_ACCURACY_DAYS, Settings

if TYPE_CHECKING:
    import pandas as pd
    from fastapi import FastAPI

ACCURACY_WINDOW = LIVE_ACCURACY_DAYS  # days of matured forecasts summarised in the page's accuracy table
PROMOTION_ROWS = 20  # promotion decisions shown, newest first
ICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24" fill="none" '
            'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
            '<polyline points="3 17 9 11 13 15 21 7"/><polyline points="15 7 21 7 21 13"/></svg>')  # nav icon


def reader_dsn(environ: Mapping[str, str] | None = None) -> str:
    """DSN of the read-only role: CRYPTOLSTM_READER_DSN, else the Airflow connection
    `cryptolstm_reader` (AIRFLOW_CONN_CRYPTOLSTM_READER).

    There is deliberately no fallback to the forecasting DSN: that role can write (locally it is
    the superuser), and a page bug must never be able to change data.
    """
    dsn = Settings.from_env(environ).reader_dsn
    if dsn:
        return dsn
    raise RuntimeError("no read-only database for the Forecasts page: set CRYPTOLSTM_READER_DSN or "
                       "AIRFLOW_CONN_CRYPTOLSTM_READER (role cryptolstm_reader, see sql/migrations/003)")


@dataclass
class PageData:
    """Everything the page shows, as of one day."""

    as_of: date | None  # latest forecast as-of day (None: no forecast yet)
    coins: list[str]
    forecasts: "pd.DataFrame"  # coin, as_of, horizon, target_day, model_id, base_close, pred_log_return, pred_close,
    #                            lo80_close, hi80_close, lo95_close, hi95_close (stored ranges, NULL when none)
    accuracy: "pd.DataFrame"  # per horizon: da, da_up, mae, mae_rw, n over the last ACCURACY_WINDOW days
    champion: dict[str, Any] | None
    promotions: list[dict[str, Any]] = field(default_factory=list)


def _rows(dsn: str, name: str, params: dict) -> list[dict[str, Any]]:
    from cryptolstm import storage

    with storage.transaction(dsn) as cur:
        cur.execute(storage.query(name), params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def accuracy_by_horizon(scored: "pd.DataFrame", as_of: date, window: int = ACCURACY_WINDOW) -> "pd.DataFrame":
    """DA, always-up DA, MAE and random-walk MAE per horizon over target days in (as_of - window, as_of]."""
    import pandas as pd

    from cryptolstm.ui.charts import rolling_live_accuracy

    if scored.empty:
        return pd.DataFrame(columns=["horizon", "da", "da_up", "mae", "mae_rw", "n"])
    recent = scored[pd.to_datetime(scored["target_day"]) > pd.Timestamp(as_of) - pd.Timedelta(days=window)]
    rows = []
    for h, grp in recent.groupby("horizon"):
        # a window as long as the whole span: the last row summarises every forecast in `recent`
        acc = rolling_live_accuracy(grp, window=window + 1).iloc[-1]
        rows.append({"horizon": int(h), **{k: float(acc[k]) for k in ("da", "da_up", "mae", "mae_rw", "n")}})
    return pd.DataFrame(rows)


def load_page(dsn: str, as_of: date | None = None) -> PageData:
    """Read the page's data; `as_of` defaults to the latest forecast day in the database."""
    from cryptolstm.ui.charts import load_chart_data

    if as_of is None:
        as_of = _rows(dsn, "forecasts_select_latest_as_of", {})[0]["as_of"]
    coins = [r["coin"] for r in _rows(dsn, "coins_select_all", {})]
    promotions = _rows(dsn, "promotion_decisions_select_recent", {"limit": PROMOTION_ROWS})
    if as_of is None:
        import pandas as pd

        return PageData(None, coins, pd.DataFrame(), pd.DataFrame(), None, promotions)
    data = load_chart_data(dsn, as_of, history_days=1, lookback_days=ACCURACY_WINDOW)
    champ = _rows(dsn, "models_select_champion_on", {"as_of": as_of})
    return PageData(as_of, coins, data["forecasts"], accuracy_by_horizon(data["scored"], as_of),
                    champ[0] if champ else None, promotions)


# ---- HTML ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:20px 28px;color:#1d2329;
background:#f7f8fa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:26px 0 8px}
.sub{color:#5c6670;font-size:13px}
table{border-collapse:collapse;background:#fff;font-size:13px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:5px 10px;border-bottom:1px solid #e4e7eb;text-align:right;white-space:nowrap}
th{background:#eef1f4;font-weight:600}td.l,th.l{text-align:left}
.up{color:#2b8a3e}.down{color:#c92a2a}.muted{color:#8a949e}.rng{color:#5c6670;font-size:11px;white-space:nowrap}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:14px}
.grid img{width:100%;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.yes{color:#2b8a3e;font-weight:600}.no{color:#c92a2a}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f} %"


def _num(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or x != x else f"{x:.{digits}f}"


def _price(x: float) -> str:
    return f"{x:,.2f}" if x >= 100 else f"{x:,.4f}" if x >= 1 else f"{x:.6f}"


def _forecast_table(d: PageData) -> str:
    import math

    head = "".join(f"<th>t+{h}</th>" for h in range(1, 6))
    out = [f'<table id="forecasts"><tr><th class="l">coin</th><th>as of</th><th>close</th>{head}'
           '<th class="l">model</th></tr>']
    f = d.forecasts
    for coin in d.coins:
        rows = f[f["coin"] == coin].sort_values("horizon") if not f.empty else f
        if rows.empty:
            out.append(f'<tr><td class="l">{_e(coin)}</td><td colspan="8" class="l muted">no forecast</td></tr>')
            continue
        cells = []
        for r in rows.itertuples():
            ch = math.expm1(r.pred_log_return)
            cls = "up" if ch > 0 else "down" if ch < 0 else ""
            rng = "".join(
                f'<br><span class="rng">{L} %: {_price(lo)} – {_price(hi)}</span>'
                for L, lo, hi in (("80", r.lo80_close, r.hi80_close), ("95", r.lo95_close, r.hi95_close))
                if lo == lo and hi == hi and lo is not None)  # stored ranges; NULL -> none shown
            cells.append(f'<td>{_price(r.pred_close)} <span class="{cls}">({100 * ch:+.2f} %)</span>{rng}</td>')
        first = rows.iloc[0]
        out.append(f'<tr><td class="l"><b>{_e(coin)}</b></td><td>{_e(first["as_of"])}</td>'
                   f'<td>{_price(float(first["base_close"]))}</td>{"".join(cells)}'
                   f'<td class="l">{_e(first["model_id"])}</td></tr>')
    out.append("</table>")
    return "".join(out)


def _accuracy_table(d: PageData) -> str:
    if d.accuracy.empty:
        return '<p class="muted">No matured forecasts in the window yet.</p>'
    out = ['<table id="accuracy"><tr><th>horizon</th><th>model DA</th><th>always-up DA</th><th>model MAE</th>'
           '<th>random-walk MAE</th><th>forecasts</th></tr>']
    for r in d.accuracy.itertuples():
        out.append(f"<tr><td>t+{r.horizon}</td><td>{_pct(r.da)}</td><td>{_pct(r.da_up)}</td>"
                   f"<td>{_num(r.mae)}</td><td>{_num(r.mae_rw)}</td><td>{int(r.n)}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _promotion_table(d: PageData) -> str:
    if not d.promotions:
        return '<p class="muted">No promotion decision recorded yet.</p>'
    out = ['<table id="promotions"><tr><th class="l">decided for</th><th class="l">challenger</th>'
           '<th class="l">champion</th><th>promoted</th><th>challenger DA</th><th>champion DA</th><th>cells</th>'
           '<th>p-value</th><th class="l">reason</th></tr>']
    for p in d.promotions:
        yes = '<span class="yes">yes</span>' if p["promoted"] else '<span class="no">no</span>'
        out.append(f'<tr><td class="l">{_e(p["decided_for"])}</td><td class="l">{_e(p["challenger_id"])}</td>'
                   f'<td class="l">{_e(p["champion_id"] or "–")}</td><td>{yes}</td><td>{_pct(p["challenger_da"])}</td>'
                   f'<td>{_pct(p["champion_da"])}</td><td>{_e(p["n_cells"])}</td><td>{_num(p["p_value"], 3)}</td>'
                   f'<td class="l">{_e(p["reason"])}</td></tr>')
    out.append("</table>")
    return "".join(out)


def render_page(d: PageData, chart_url: Callable[[str], str]) -> str:
    """The whole HTML page; `chart_url(name)` gives the URL of chart `name` ('BTC', 'live_accuracy')."""
    if d.champion:
        c = d.champion
        champ = (f'champion <b>{_e(c["model_id"])}</b> (training cutoff {_e(c["training_cutoff"])}, '
                 f'champion since {_e(c["champion_from"] or "–")})')
    elif d.forecasts is not None and len(d.forecasts):
        ids = ", ".join(sorted({str(m) for m in d.forecasts["model_id"]}))
        champ = ("no champion model yet: forecasts are <b>provisional</b> "
                 f"(newest model trained before the day: {_e(ids)})")
    else:
        champ = "no champion model"
    as_of = f"forecasts as of <b>{_e(d.as_of)}</b>" if d.as_of else "no forecast yet"
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    charts = "".join(f'<img alt="{_e(n)} chart" src="{_e(chart_url(n))}">' for n in ["live_accuracy", *d.coins])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>cryptolstm — Forecasts</title>'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>Forecasts</h1><div class=\"sub\">{as_of} · {champ} · page read {now} · prices are "
        "close[t]·exp(r̂) for the next 5 UTC days</div>"
        f"<h2>Latest 5-day forecast</h2>{_forecast_table(d)}"
        f"<h2>Live accuracy, last {ACCURACY_WINDOW} days of matured forecasts</h2>{_accuracy_table(d)}"
        f'<h2>Charts</h2><div class="grid">{charts if d.as_of else ""}</div>'
        f"<h2>Promotion history</h2>{_promotion_table(d)}"
        "</body></html>"
    )


# ---- FastAPI app --------------------------------------------------------------------------------

def create_app(dsn: Callable[[], str] = reader_dsn, *, authenticate: Callable[..., Any],
               login_url: Callable[[str], str | None] = lambda next_url: None) -> "FastAPI":
    """The page as a FastAPI app; `dsn()` is called per request (no connection at creation).

    `authenticate` is a FastAPI dependency run before every route (and before any database
    access): it returns the user or raises HTTPException 401/403. It has no default, so the page
    cannot be built anonymous by omission. `login_url(next_path)` is where an anonymous browser
    asking for the HTML page is redirected (None: answer the 401 as is).

    (This module has no `from __future__ import annotations`: FastAPI resolves the route
    annotations, and `Request` is imported here, inside the function.)
    """
    from fastapi import Depends, FastAPI, HTTPException, Query, Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import HTMLResponse, RedirectResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app = FastAPI(title="cryptolstm forecasts", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(authenticate)])

    @app.exception_handler(StarletteHTTPException)
    async def to_login(request: Request, exc: StarletteHTTPException) -> Response:
        # Only the page itself, asked for by a browser: images and JSON keep their plain 401.
        page_path = request.scope.get("root_path", "") + "/"
        wants_html = "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and request.url.path == page_path and wants_html:
            target = login_url(page_path + (f"?{request.url.query}" if request.url.query else ""))
            if target:
                return RedirectResponse(target, status_code=303)
        return await http_exception_handler(request, exc)

    def _as_of(value: str | None) -> date | None:
        try:
            return date.fromisoformat(value) if value else None
        except ValueError:
            raise HTTPException(400, f"as_of must be YYYY-MM-DD, got {value!r}") from None

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, as_of: str | None = Query(None)) -> str:
        d = load_page(dsn(), _as_of(as_of))
        day = d.as_of.isoformat() if d.as_of else ""
        return render_page(d, lambda n: request.url_for("chart", name=n).path + f"?as_of={day}")

    @app.get("/charts/{name}.png", name="chart")
    def chart(name: str, as_of: str | None = Query(None)) -> Response:
        from cryptolstm.ui import charts

        db = dsn()
        day = _as_of(as_of) or _rows(db, "forecasts_select_latest_as_of", {})[0]["as_of"] or date.today()
        buf = io.BytesIO()
        if name == "live_accuracy":
            data = charts.load_chart_data(db, day, history_days=1)
            charts.plot_live_accuracy(charts.rolling_live_accuracy(data["scored"]), buf)
        else:
            data = charts.load_chart_data(db, day)
            if name not in set(data["coins"]["coin"]):
                raise HTTPException(404, f"no coin {name!r}")
            charts.render_coin_chart(data, name, buf)
        return Response(buf.getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/icon.svg", name="icon")
    def icon() -> Response:
        return Response(ICON_SVG, media_type="image/svg+xml")

    @app.get("/api/latest")
    def latest(as_of: str | None = Query(None)) -> dict[str, Any]:
        d = load_page(dsn(), _as_of(as_of))
        rows = d.forecasts.to_dict(orient="records") if not d.forecasts.empty else []
        return {"as_of": d.as_of.isoformat() if d.as_of else None,
                "forecasts": [{k: (v.isoformat() if isinstance(v, date) else v) for k, v in r.items()} for r in rows]}

    return app
