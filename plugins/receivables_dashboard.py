"""The KPI dashboard, in the Airflow UI: Browse → Receivables KPIs.

    GET /receivables-kpis/?as_of=2025-06-30&from=2025-04-01&segment=PME&currency=EUR&collector=
        the page: headline figures, aged balance, DSO trend, cash forecast, channel
        effectiveness, exceptions and call list, and the runs' validation reports
    GET /receivables-kpis/report?as_of=2025-06-30&source=<source>
        a validation report the daily wave registered in `validation_reports` for that
        business date and source; nothing else on disk can be reached (a request names a run,
        never a path)

Airflow mounts a plugin's FastAPI app without its authentication (apache/airflow #72655), so
this app requires it on every route: `requires_access_view(AccessView.PLUGINS)`. That reads the
caller's Airflow JWT from an `Authorization: Bearer` header or, in a browser, from the `_token`
cookie the UI's login sets (HttpOnly, same origin): the page opened from the UI, in its iframe,
carries it; an anonymous request gets 401, a bad token 403.

The warehouse is found as the daily wave finds it: the connection `receivables_warehouse`
(extra `url`), else the Variable or environment variable RECEIVABLES_WAREHOUSE_URL. The page is
rendered by `receivables.dashboard` (no Airflow there); SQLAlchemy and Jinja wait for the
first request, and importing this file opens no connection.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import requires_access_view
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

__all__ = ["ReceivablesDashboardPlugin", "app"]

log = logging.getLogger(__name__)

URL_PREFIX = "/receivables-kpis"
# Self-contained pages: inline styles and SVG, no script, no remote resource; framed only by
# the Airflow UI of the same origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

app = FastAPI(title="receivables KPI dashboard", docs_url=None, redoc_url=None, openapi_url=None,
              dependencies=[Depends(requires_access_view(AccessView.PLUGINS))])


@lru_cache(maxsize=1)
def _warehouse_url() -> str:
    # Looked up once per API server process, like the plugin itself: restart it after a change.
    from receivables.pipeline.tasks import settings_from_airflow

    return settings_from_airflow().warehouse_url


@lru_cache(maxsize=4)
def _engine(url: str):  # noqa: ANN202 - one pool per warehouse URL, made at the first request
    from receivables.warehouse.db import make_engine

    return make_engine(url)


def _warehouse():  # noqa: ANN202
    return _engine(_warehouse_url())


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


@app.get("/", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    from receivables.dashboard.page import render_dashboard

    # Links start from where Airflow mounted the app (its base URL's path included), so they
    # hold with or without a trailing slash in the address.
    base = request.scope.get("root_path", "").rstrip("/") + "/"
    with _warehouse().connect() as conn:
        return _page(render_dashboard(conn, dict(request.query_params), base=base))


@app.get("/report", response_class=HTMLResponse)
def validation_report(as_of: str = "", source: str = "") -> Response:
    from receivables.dashboard.queries import registered_report

    with _warehouse().connect() as conn:
        registered = registered_report(conn, as_of, source)
    path = Path(registered) if registered else None
    if path is None or path.suffix.lower() != ".html" or not path.is_file():
        log.warning("validation report refused: none registered for as_of=%r source=%r", as_of[:20], source[:200])
        return JSONResponse({"detail": "no validation report registered for this business date and source"},
                            status_code=404)
    return _page(path.read_text(encoding="utf-8", errors="replace"))


class ReceivablesDashboardPlugin(AirflowPlugin):
    name = "receivables_dashboard"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "receivables KPI dashboard"}]
    external_views = [{
        "name": "Receivables KPIs",
        "href": f"{URL_PREFIX}/",
        "destination": "nav",
        "url_route": "receivables-kpis",
        "category": "browse",
    }]
