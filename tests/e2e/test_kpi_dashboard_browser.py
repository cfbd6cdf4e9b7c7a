"""The KPI dashboard in a real headless Chromium, served by a real `airflow api-server`.

A clerk logs in on Airflow's own login page (SimpleAuthManager, a viewer with a known
password), opens Browse → Receivables KPIs, sees the charts drawn inside the UI's iframe,
changes the segment and the business date, opens a run's validation report; a visitor who did
not log in is refused. The API server runs in its own Airflow home (its own SQLite metadata DB)
on a free port, reading a temporary SQLite warehouse through the `receivables_warehouse`
connection, as in production.

Needs Debian's `chromium` at /usr/bin/chromium (.ci/run installs it); Playwright drives it and
downloads no browser of its own.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kpi_dashboard_data import seed_kpis
from receivables.warehouse.db import make_engine, upgrade

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
USER = "clerk"
TOTAL_EUR, PME_EUR, PME_EUR_JUNE_27 = "5,858,814.79", "2,343,525.91", "2,338,587.64"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"),
    # One API server and one browser for the module: its tests stay on one xdist worker.
    pytest.mark.xdist_group("kpi_dashboard_browser"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def _wait_until_healthy(process: subprocess.Popen, base: str, log: Path, deadline_s: float = 180) -> None:
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        if process.poll() is not None:
            pytest.fail(f"airflow api-server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if _status(f"{base}/api/v2/monitor/health") == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"airflow api-server did not answer within {deadline_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory):
    """(base URL, the clerk's password, the folder of the warehouse and its reports)."""
    folder = tmp_path_factory.mktemp("kpi_dashboard_browser")
    home = folder / "airflow"
    home.mkdir()
    url = f"sqlite:///{folder / 'warehouse.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seed_kpis(engine, report_dir=folder / "runs")
    engine.dispose()

    password = secrets.token_urlsafe(12)
    passwords = folder / "passwords.json"
    passwords.write_text(json.dumps({USER: password}), encoding="utf-8")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",   # the least role that may see plugin views
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW_CONN_RECEIVABLES_WAREHOUSE": json.dumps({"conn_type": "generic", "extra": {"url": url}}),
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run([airflow, "db", "migrate"], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    log = folder / "api-server.log"
    with log.open("wb") as output:
        server = subprocess.Popen([airflow, "api-server", "-H", "127.0.0.1", "-p", str(port), "--apps", "core",
                                   "-w", "1"], stdout=output, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)
    try:
        _wait_until_healthy(server, base, log)
        yield base, password, folder
    finally:
        # The server and the worker it forked share the session started above: end both.
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def clerk(airflow_ui, browser):
    """The clerk's browser tab, logged in on Airflow's login page, on Browse → Receivables KPIs."""
    from playwright.sync_api import expect

    base, password, _ = airflow_ui
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    page.goto(f"{base}/")
    page.wait_for_url("**/auth/login**")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Receivables KPIs").click()
    page.wait_for_url("**/plugin/receivables-kpis**")
    frame = page.frame_locator("iframe[title='Receivables KPIs']")
    expect(frame.locator("h1")).to_have_text("Receivables KPIs")
    yield page, frame
    context.close()


def shown(frame, kpi: str) -> str:
    return frame.locator(f"[data-kpi={kpi}] .figure").inner_text()


def test_a_clerk_opens_the_dashboard_from_the_browse_menu_after_logging_in(clerk, tmp_path):
    page, frame = clerk
    assert "/plugin/receivables-kpis" in page.url
    assert shown(frame, "open") == TOTAL_EUR
    assert frame.locator("[data-as-of]").get_attribute("data-as-of") == "2025-06-30"
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)


def test_the_charts_are_drawn_with_visible_bars_and_lines(clerk):
    _, frame = clerk
    charts = frame.locator("svg.chart")
    assert charts.count() == 6
    for chart in charts.all():
        box = chart.bounding_box()
        assert box["width"] > 200 and box["height"] > 100
    bars = [bar.bounding_box() for bar in frame.locator("svg.chart .bar rect").all()]
    assert len(bars) >= 6 + 8 + 6 + 8   # aged buckets, forecast weeks, step ratios, channel counts
    assert all(box["width"] > 0 and box["height"] > 0 for box in bars)
    lines = [line.bounding_box() for line in frame.locator("svg.chart path.line").all()]
    assert len(lines) == 5 and all(box["width"] > 100 for box in lines)


def test_changing_the_segment_and_the_business_date_changes_the_figures(clerk):
    from playwright.sync_api import expect

    page, frame = clerk
    frame.locator("select[name=segment]").select_option("PME")
    frame.get_by_role("button", name="Apply").click()
    expect(frame.locator("[data-kpi=open] .figure")).to_have_text(PME_EUR)
    frame.locator("input[name=as_of]").fill("2025-06-27")
    frame.get_by_role("button", name="Apply").click()
    expect(frame.locator("[data-kpi=open] .figure")).to_have_text(PME_EUR_JUNE_27)
    expect(frame.locator("[data-as-of]")).to_have_attribute("data-as-of", "2025-06-27")
    assert "segment=PME" in page.url     # the UI mirrors the iframe's address: the view can be bookmarked
    page.reload()
    expect(frame.locator("[data-kpi=open] .figure")).to_have_text(PME_EUR_JUNE_27)


def test_a_runs_validation_report_opens_from_the_dashboard(clerk):
    from playwright.sync_api import expect

    _, frame = clerk
    frame.locator("a.report[href*='as_of=2025-06-27']").click()
    expect(frame.locator("h1")).to_have_text("Validation of 2025-06-27")


def test_a_visitor_who_did_not_log_in_is_refused(airflow_ui, browser):
    base, _, _ = airflow_ui
    context = browser.new_context()
    try:
        page = context.new_page()
        answer = page.goto(f"{base}/receivables-kpis/?segment=PME")
        assert answer.status == 401
        assert "Receivables KPIs" not in page.content()
        assert page.goto(f"{base}/receivables-kpis/report?as_of=2025-06-27&source=fec").status == 401
    finally:
        context.close()
    assert _status(f"{base}/receivables-kpis/") == 401
