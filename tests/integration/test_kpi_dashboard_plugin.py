"""The dashboard as Airflow serves it: the API server app (`create_app("all")`) with the plugin
mounted by Airflow's own plugin loader, behind Airflow's authentication.

Tokens are the ones the UI's login puts in the `_token` cookie (or a client sends as Bearer);
validating one reads the metadata DB (revoked tokens), hence the migrated Airflow home.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from kpi_dashboard_data import seed_kpis
from receivables.warehouse.db import make_engine, upgrade

pytestmark = pytest.mark.xdist_group("airflow_metadata_db")

PAGE = "/receivables-kpis/"


def _reset_plugin_caches() -> None:
    module = sys.modules.get("receivables_dashboard")
    if module is not None:
        module._warehouse_url.cache_clear()
        module._engine.cache_clear()


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    """(a TestClient on Airflow's API server app, the auth manager, the reports folder)."""
    done = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                          capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    folder = tmp_path_factory.mktemp("kpi_dashboard")
    url = f"sqlite:///{folder / 'warehouse.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seed_kpis(engine, report_dir=folder / "runs")
    (folder / "runs" / "not-registered.validation.html").write_text("<h1>secret</h1>", encoding="utf-8")
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        # The warehouse comes from the Airflow connection, as in the daily wave.
        patch.setenv("AIRFLOW_CONN_RECEIVABLES_WAREHOUSE", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
        # Tokens are signed with it; an Airflow home whose airflow.cfg was written earlier may lack one.
        patch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(32))
        from airflow.api_fastapi.app import create_app, get_auth_manager
        from fastapi.testclient import TestClient

        app = create_app(apps="all")
        _reset_plugin_caches()
        with TestClient(app) as client:
            yield client, get_auth_manager(), folder
        _reset_plugin_caches()


def token(auth_manager, role: str = "VIEWER") -> str:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return auth_manager.generate_jwt(SimpleAuthManagerUser(username="alice", role=role))


@pytest.fixture
def logged_in(api_server):
    """The client as a browser after the UI's login: the JWT in the `_token` cookie."""
    client, auth_manager, _ = api_server
    client.cookies.set("_token", token(auth_manager))
    yield client
    client.cookies.clear()


def figure(html: str, kpi: str) -> str:
    start = html.index(f'data-kpi="{kpi}"')
    return html[html.index('class="figure">', start) + len('class="figure">'):html.index("</span>", start)]


@pytest.mark.parametrize("path", [PAGE, f"{PAGE}?segment=PME", f"{PAGE}report?as_of=2025-06-30&source=fec"])
def test_an_anonymous_request_is_refused_on_every_route(api_server, path):
    client, _, _ = api_server
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 401
    assert "Receivables" not in answer.text and "Validation" not in answer.text


def test_a_forged_token_is_refused(api_server):
    client, auth_manager, _ = api_server
    real = token(auth_manager)
    header, payload, _ = real.split(".")
    answer = client.get(PAGE, headers={"Authorization": f"Bearer {header}.{payload}.forged"})
    assert answer.status_code == 403


def test_a_logged_in_viewer_gets_the_page_with_its_charts(logged_in):
    answer = logged_in.get(PAGE)
    assert answer.status_code == 200, answer.text[:500]
    html = answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'self'" in answer.headers["content-security-policy"]
    assert figure(html, "open") == "5,858,814.79"
    assert html.count('<svg class="chart') == 6
    assert html.count("<rect ") >= 6 + 8 and html.count('<path class="line"') == 5


def test_a_bearer_token_works_like_the_cookie(api_server):
    client, auth_manager, _ = api_server
    answer = client.get(PAGE, headers={"Authorization": f"Bearer {token(auth_manager, 'ADMIN')}"})
    assert answer.status_code == 200


def test_the_filters_change_the_figures(logged_in):
    latest = logged_in.get(PAGE).text
    pme = logged_in.get(PAGE, params={"segment": "PME"}).text
    earlier = logged_in.get(PAGE, params={"as_of": "2025-06-27", "segment": "PME"}).text
    assert figure(latest, "open") == "5,858,814.79"
    assert figure(pme, "open") == "2,343,525.91"
    assert figure(earlier, "open") == "2,338,587.64"
    assert figure(pme, "dso") == "71.5" and figure(earlier, "dso") == "70.2"
    assert 'data-as-of="2025-06-27"' in earlier


def test_the_pages_links_start_where_airflow_mounted_it(logged_in):
    html = logged_in.get(PAGE, params={"segment": "GE"}).text
    assert '<form class="filters" method="get" action="/receivables-kpis/">' in html
    assert 'href="/receivables-kpis/report?as_of=2025-06-30&amp;source=fec"' in html


def test_the_validation_report_registered_for_a_run_is_served(logged_in):
    answer = logged_in.get(f"{PAGE}report", params={"as_of": "2025-06-27", "source": "fec"})
    assert answer.status_code == 200
    assert "Validation of 2025-06-27" in answer.text
    assert "default-src 'none'" in answer.headers["content-security-policy"]


@pytest.mark.parametrize("params", [
    {"as_of": "2025-06-28", "source": "fec"},                                   # no run that day
    {"as_of": "2025-06-27", "source": "customers"},                              # no such source
    {"as_of": "2025-06-27", "source": "../not-registered.validation.html"},      # a path is not a source
    {"as_of": "2025-06-27"},
])
def test_a_validation_report_not_registered_is_refused(logged_in, api_server, params):
    _, _, folder = api_server
    params = {k: v.replace("../", f"{folder / 'runs'}/") if k == "source" else v for k, v in params.items()}
    answer = logged_in.get(f"{PAGE}report", params=params)
    assert answer.status_code == 404
    assert "secret" not in answer.text


def test_airflow_lists_the_dashboard_in_the_browse_menu(logged_in):
    answer = logged_in.get("/api/v2/plugins")
    assert answer.status_code == 200
    plugin = next(p for p in answer.json()["plugins"] if p["name"] == "receivables_dashboard")
    assert plugin["external_views"] == [{"name": "Receivables KPIs", "href": "/receivables-kpis/", "destination": "nav",
                                         "url_route": "receivables-kpis", "category": "browse", "icon": None,
                                         "icon_dark_mode": None, "nav_top_level": False}]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/receivables-kpis"]


def test_importing_the_plugin_opens_no_database(tmp_path):
    database = tmp_path / "never" / "warehouse.db"
    code = ("import sys, receivables_dashboard as m; "
            "heavy = sorted(n for n in ('pandas', 'receivables.dashboard.page', 'receivables.warehouse.db') "
            "if n in sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path,
                   env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "plugins"),
                        "RECEIVABLES_WAREHOUSE_URL": f"sqlite:///{database}"})
    assert not database.parent.exists()
