"""Airflow plugin: the "Forecasts" page inside the Airflow UI.

Mounts the FastAPI app of `cryptolstm.ui.dashboard` on the api-server under /cryptolstm and adds a
"Forecasts" entry to the UI navigation that shows that page (read live from PostgreSQL through the
read-only role: CRYPTOLSTM_READER_DSN or the `cryptolstm_reader` connection).

Airflow does not authenticate plugin apps by itself, so every route of the page runs `airflow_user`:
the same check as Airflow's own REST API and UI (`get_user` of the core API: a JWT from
`POST /auth/token` as `Authorization: Bearer`, else the UI's `_token` session cookie), validated by
the configured auth manager (signature, expiry, revocation). The user must also be allowed to read
the daily DAG whose output the page shows. Anonymous: 401 (the HTML page redirects to the login).
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import HTTPException, Request

from cryptolstm.config import DAILY_DAG_ID  # the page shows this DAG's output: reading it needs read access to it
from cryptolstm.ui.dashboard import create_app

URL_PREFIX = "/cryptolstm"


async def airflow_user(request: Request) -> Any:
    """The logged-in Airflow user allowed to read the daily DAG; raises 401/403 otherwise."""
    # Imported per request: the api-server has initialised its auth manager by then, and other
    # Airflow processes that load plugins (scheduler, tasks) never pay for the core API imports.
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    user = await get_user(request, None, await bearer_scheme(request))
    if not get_auth_manager().is_authorized_dag(method="GET", details=DagDetails(id=DAILY_DAG_ID), user=user):
        raise HTTPException(403, f"Forbidden: reading the forecasts needs read access to the DAG {DAILY_DAG_ID}")
    return user


def login_url(next_path: str) -> str:
    """The auth manager's login page, coming back to `next_path` afterwards."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=next_path)


class CryptolstmForecastsPlugin(AirflowPlugin):
    name = "cryptolstm_forecasts"
    fastapi_apps = [{"app": create_app(authenticate=airflow_user, login_url=login_url),
                     "url_prefix": URL_PREFIX, "name": "cryptolstm forecasts"}]
    external_views = [{
        "name": "Forecasts",
        "href": f"{URL_PREFIX}/",
        "destination": "nav",
        "url_route": "forecasts",  # the page shows inside the UI at /plugin/forecasts
        "nav_top_level": True,  # a top-level entry in the nav bar, not under "Plugins"
        "icon": f"{URL_PREFIX}/icon.svg",
    }]
