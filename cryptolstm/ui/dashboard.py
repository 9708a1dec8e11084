"""The "Forecasts" page as a small FastAPI app (no Airflow inside).

The Airflow plugin `plugins/cryptolstm_forecasts.py` mounts `create_app()` under `/cryptolstm`.
Everything is read live from PostgreSQL through the read-only role (`reader_dsn`), and nothing is
served without logging in: every route depends on the `authenticate` dependency the caller passes
(the plugin passes the Airflow UI's own JWT / session-cookie check). An anonymous browser asking for
the page is sent to `login_url`; every other anonymous request gets that dependency's 401.

A page view is one transaction: the tables and the charts' data are read together (`page.load_page`)
and rendered by `templates/forecasts.html`; the page's chart URLs carry a token under which that read
is kept for a short while (`SharedReads`), so its PNGs are drawn from it, not read again one by one.

Routes (relative to the mount point):
    GET /                          the HTML page (optional ?as_of=YYYY-MM-DD)
    GET /charts/{COIN}.png         price history + forecast path with its stored 80 % / 95 % ranges
    GET /charts/live_accuracy.png  rolling live DA / MAE vs the baselines
    GET /api/latest                the latest forecast table as JSON
    GET /icon.svg                  the nav icon
"""

import io
import secrets
import threading
import time
from collections import OrderedDict
from datetime import date
from typing import TYPE_CHECKING, Any, Callable, Mapping

from cryptolstm.environment import load_settings
from cryptolstm.ui import charts
from cryptolstm.ui.page import load_charts_as_of, load_forecasts, load_page, render_page

if TYPE_CHECKING:
    import pandas as pd
    from fastapi import FastAPI

READ_TTL_SECONDS = 120.0  # how long a page's read serves its charts: a browser asks for them within seconds
READ_CACHE_SIZE = 32  # page reads kept for their charts (each ~HISTORY_DAYS closes, ~LOOKBACK_DAYS scores a coin)
ICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24" fill="none" '
            'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
            '<polyline points="3 17 9 11 13 15 21 7"/><polyline points="15 7 21 7 21 13"/></svg>')  # nav icon


def reader_dsn(environ: Mapping[str, str] | None = None) -> str:
    """DSN of the read-only role: CRYPTOLSTM_READER_DSN, else the Airflow connection
    `cryptolstm_reader` (AIRFLOW_CONN_CRYPTOLSTM_READER).

    There is deliberately no fallback to the forecasting DSN: that role can write (locally it is
    the superuser), and a page bug must never be able to change data.
    """
    dsn = load_settings(environ).reader_dsn
    if dsn:
        return dsn
    raise RuntimeError("no read-only database for the Forecasts page: set CRYPTOLSTM_READER_DSN or "
                       "AIRFLOW_CONN_CRYPTOLSTM_READER (role cryptolstm_reader, see sql/migrations/003)")


class SharedReads:
    """The chart data of recent page reads, under a random token that the page puts in its chart URLs.

    The page's charts are then drawn from the page's own read (one transaction per page view, the
    snapshot its tables show) instead of one read per PNG. Bounded and short-lived: a PNG request whose
    token is unknown (expired, answered by another api-server worker, a bookmarked URL) reads for itself.
    """

    def __init__(self, ttl_seconds: float = READ_TTL_SECONDS, size: int = READ_CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic):
        self._reads: OrderedDict[str, tuple[float, date, dict]] = OrderedDict()
        self._lock = threading.Lock()  # routes run in the server's worker threads
        self.ttl_seconds, self.size, self.clock = ttl_seconds, size, clock

    def put(self, as_of: date, data: dict[str, "pd.DataFrame"]) -> str:
        """Keep `data` (read as of `as_of`); return its token."""
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._reads[token] = (self.clock() + self.ttl_seconds, as_of, data)
            while len(self._reads) > self.size:
                self._reads.popitem(last=False)
        return token

    def get(self, token: str | None, as_of: date | None) -> dict[str, "pd.DataFrame"] | None:
        """The data kept under `token` if it is still fresh and was read as of `as_of` (None: any day)."""
        with self._lock:
            expires, day, data = self._reads.get(token or "", (0.0, None, None))
        fresh = self.clock() < expires and (as_of is None or as_of == day)
        return data if fresh else None


# ---- FastAPI app --------------------------------------------------------------------------------

def create_app(dsn: Callable[[], str] = reader_dsn, *, authenticate: Callable[..., Any],
               login_url: Callable[[str], str | None] = lambda next_url: None) -> "FastAPI":
    """The page as a FastAPI app; `dsn()` is called per request (no connection at creation).

    `authenticate` is a FastAPI dependency run before every route (and before any database
    access): it returns the user or raises HTTPException 401/403. It has no default, so the page
    cannot be built anonymous by omission. `login_url(next_path)` is where an anonymous browser
    asking for the HTML page is redirected (None: answer the 401 as is).
    """
    from fastapi import Depends, FastAPI
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app = FastAPI(title="cryptolstm forecasts", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(authenticate)])
    app.add_exception_handler(StarletteHTTPException, _login_redirect(login_url))
    _add_routes(app, dsn, SharedReads())
    return app


def _login_redirect(login_url: Callable[[str], str | None]) -> Callable:
    """The app's HTTP error handler: a 401 on the page itself, asked for by a browser, goes to `login_url`;
    images, JSON and every other error keep their plain answer."""
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import RedirectResponse

    async def to_login(request, exc):
        page_path = request.scope.get("root_path", "") + "/"
        wants_html = "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and request.url.path == page_path and wants_html:
            target = login_url(page_path + (f"?{request.url.query}" if request.url.query else ""))
            if target:
                return RedirectResponse(target, status_code=303)
        return await http_exception_handler(request, exc)

    return to_login


def _parse_day(value: str | None) -> date | None:
    """The `as_of` query parameter; HTTP 400 unless it is YYYY-MM-DD."""
    from fastapi import HTTPException

    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise HTTPException(400, f"as_of must be YYYY-MM-DD, got {value!r}") from None


def _json_value(v: Any) -> Any:
    """A forecast frame's value as JSON: a day as ISO text, a missing number (NULL read as NaN) as null."""
    if isinstance(v, date):
        return v.isoformat()
    return None if isinstance(v, float) and v != v else v


def _add_routes(app: "FastAPI", dsn: Callable[[], str], reads: SharedReads) -> None:
    """The page, its charts, the JSON and the icon (see the module docstring).

    (This module has no `from __future__ import annotations`: FastAPI resolves the route
    annotations, and `Request` is imported here, inside the function.)
    """
    from fastapi import HTTPException, Query, Request
    from fastapi.responses import HTMLResponse, Response

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, as_of: str | None = Query(None)) -> str:
        d = load_page(dsn(), _parse_day(as_of))
        query = f"?as_of={d.as_of.isoformat()}&read={reads.put(d.as_of, d.charts)}" if d.as_of else ""
        return render_page(d, lambda name: request.url_for("chart", name=name).path + query)

    @app.get("/charts/{name}.png", name="chart")
    def chart(name: str, as_of: str | None = Query(None), read: str | None = Query(None)) -> Response:
        day = _parse_day(as_of)
        data = reads.get(read, day) or load_charts_as_of(dsn(), day)
        if name != charts.LIVE_ACCURACY and name not in set(data["coins"]["coin"]):
            raise HTTPException(404, f"no coin {name!r}")
        buf = io.BytesIO()
        charts.render_chart(data, name, buf)
        return Response(buf.getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/icon.svg", name="icon")
    def icon() -> Response:
        return Response(ICON_SVG, media_type="image/svg+xml")

    @app.get("/api/latest")
    def latest(as_of: str | None = Query(None)) -> dict[str, Any]:
        day, forecasts = load_forecasts(dsn(), _parse_day(as_of))
        return {"as_of": day.isoformat() if day else None,
                "forecasts": [{k: _json_value(v) for k, v in r.items()} for r in forecasts.to_dict(orient="records")]}
