"""Airflow plugin: the "Forecasts" page inside the Airflow UI.

Mounts the FastAPI app of `cryptolstm.ui.dashboard` on the api-server under /cryptolstm and adds a
"Forecasts" entry to the UI navigation that shows that page (read live from PostgreSQL through the
read-only role: CRYPTOLSTM_READER_DSN or the `cryptolstm_reader` connection).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from cryptolstm.ui.dashboard import create_app

URL_PREFIX = "/cryptolstm"


class CryptolstmForecastsPlugin(AirflowPlugin):
    name = "cryptolstm_forecasts"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "cryptolstm forecasts"}]
    external_views = [{
        "name": "Forecasts",
        "href": f"{URL_PREFIX}/",
        "destination": "nav",
        "url_route": "forecasts",  # the page shows inside the UI at /plugin/forecasts
        "nav_top_level": True,  # a top-level entry in the nav bar, not under "Plugins"
        "icon": f"{URL_PREFIX}/icon.svg",
    }]
