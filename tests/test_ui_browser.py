"""Airflow's UI in a real browser: headless Chromium (Debian's package) driven by Selenium,
against a running api-server (the embedded Airflow in a temporary home, shared by this module).

The mesh here has one broken spec (user_behaviour.listing_engagement), one product whose dbt
model fails (inventory.vehicle_catalog) and one that builds (inventory.listings, 2026-11-03).
A person logs in through Airflow's login form, opens Browse > Data mesh, sees the broken spec
and the failed product, follows a link to a DAG inside Airflow's sandboxed frame, and finds both
failures where Airflow shows problems: the DAG list, the home page, the DAG's own page.
Screenshots are kept in .local/test-artifacts/browser/ (look at them).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from conftest import REPO

from dataproducts.core.project import Project
from dataproducts.ops.embedded import EmbeddedAirflow
from dataproducts.ops.waiting import wait_for_dags, wait_until

pytestmark = pytest.mark.e2e

ARTIFACTS = REPO / ".local" / "test-artifacts" / "browser"
DATE = "2026-11-03"
BUILDS, FAILS, BROKEN = "inventory.listings", "inventory.vehicle_catalog", "user_behaviour.listing_engagement"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def break_the_mesh(root: Path) -> None:
    spec = root / "product_specs" / "user_behaviour" / "listing_engagement.yaml"
    spec.write_text(spec.read_text().replace("version:", "versoin:", 1))
    model = root / "dbt" / "inventory" / "models" / "vehicle_catalog" / "vehicle_catalog.sql"
    model.write_text(model.read_text() + "\nwhere no_such_column = 1\n")


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, compiled_repo):
    """One running Airflow for the module, with a built, a failed and a broken product."""
    root = tmp_path_factory.mktemp("ui") / "project"
    for part in ("dags", "product_specs", "dbt"):
        shutil.copytree(compiled_repo / part, root / part, ignore=shutil.ignore_patterns("logs", "*.duckdb"))
    break_the_mesh(root)
    state = root / ".local"
    mp = pytest.MonkeyPatch()
    mp.setenv("DATAPRODUCTS_STATE_DIR", str(state))
    mp.setenv("DATAPRODUCTS_DUCKDB_PATH", str(state / "warehouse.duckdb"))
    instance = EmbeddedAirflow(Project(root), state / "airflow", port=free_port(), log_port=free_port())
    try:
        instance.prepare()
        with instance:
            instance.wait_until_up()
            api = instance.api
            wait_for_dags(api, {BUILDS, FAILS, BROKEN}, "data-product")
            for dag_id in (BUILDS, FAILS):
                api.trigger(dag_id, {"business_date": DATE})
            wait_for_states(api, {BUILDS: "success", FAILS: "failed", BROKEN: "failed"})
            yield instance
    finally:
        mp.undo()


def wait_for_states(api, expected: dict[str, str], timeout: float = 420) -> None:
    deadline = time.monotonic() + timeout
    while True:
        latest = {}
        for dag_id in expected:
            runs = api.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=1, order_by="-run_after")["dag_runs"]
            latest[dag_id] = runs[0]["state"] if runs else None
        if latest == expected:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"latest runs {latest}, expected {expected}")
        time.sleep(3)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = "Chromium is not installed: apt-get install -y chromium chromium-driver (./run tests does, as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def signed_in(airflow, browser):
    """Logged in through Airflow's own login form, as a person would."""
    from selenium.webdriver.common.by import By

    browser.get(airflow.url + "/")
    wait(browser, lambda: "/auth/login" in browser.current_url and browser.find_elements(By.NAME, "username"))
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(airflow.password())
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, lambda: "/auth/login" not in browser.current_url)
    return browser


def wait(browser, condition, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.25).until(lambda _: condition())


def shot(browser, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def open_data_mesh(browser, airflow):
    """Browse > Data mesh: Airflow's page with ours in its iframe; returns with the driver inside the frame."""
    from selenium.webdriver.common.by import By

    browser.switch_to.default_content()
    browser.get(airflow.url + "/plugin/data-mesh")
    frame = wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "iframe[title='Data mesh']"))[0]
    assert "allow-top-navigation" not in (frame.get_attribute("sandbox") or ""), "the frame we must work in"
    browser.switch_to.frame(frame)
    wait(browser, lambda: browser.find_elements(By.ID, "products"))
    return frame


def test_data_mesh_page_shows_runs_failures_and_broken_specs(airflow, signed_in):
    from selenium.webdriver.common.by import By

    browser = signed_in
    open_data_mesh(browser, airflow)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "1 broken spec" in text and "versoin" in text and "did you mean 'version'?" in text
    built = browser.find_element(By.ID, f"product-{BUILDS}").text
    assert "Success" in built and DATE in built and "Fresh" in built and "rows" in built
    failed = browser.find_element(By.ID, f"product-{FAILS}").text
    assert "Failed" in failed and "the last run failed building " + DATE in failed
    stats = browser.find_element(By.CSS_SELECTOR, "nav.stats").text
    assert "1\nBroken specs" in stats and "1\nFailed products" in stats and "1\nOpen incidents" in stats
    graph = browser.find_element(By.CSS_SELECTOR, "section.graph svg")
    nodes = {a.get_attribute("data-product") for a in graph.find_elements(By.CSS_SELECTOR, "a[data-product]")}
    assert {BUILDS, FAILS, BROKEN} <= nodes and len(graph.find_elements(By.CSS_SELECTOR, "path.edge")) >= 5
    font = browser.execute_script("return getComputedStyle(document.body).fontFamily")
    assert font.startswith("Inter"), "Airflow's font"
    browser.switch_to.default_content()
    browser.set_window_size(1440, 2000)
    time.sleep(1)
    print("screenshot:", shot(browser, "01-data-mesh-page"))
    browser.set_window_size(1440, 1000)


def test_a_link_inside_airflows_frame_opens_the_dag_in_airflow(airflow, signed_in):
    from selenium.webdriver.common.by import By

    browser = signed_in
    open_data_mesh(browser, airflow)
    row = browser.find_element(By.ID, f"product-{FAILS}")
    link = row.find_element(By.CSS_SELECTOR, "a.airflow-link")
    assert link.get_attribute("href").endswith(f"/dags/{FAILS}")
    link.click()
    browser.switch_to.default_content()
    wait(browser, lambda: browser.current_url == f"{airflow.url}/dags/{FAILS}")
    wait(
        browser,
        lambda: FAILS in browser.find_element(By.TAG_NAME, "body").text and not browser.find_elements(By.TAG_NAME, "iframe"),
    )
    time.sleep(1)
    print("screenshot:", shot(browser, "02-dag-opened-from-the-frame"))
    browser.back()
    wait(browser, lambda: "/plugin/data-mesh" in browser.current_url)


def test_the_broken_spec_looks_failed_in_airflow_with_its_error_on_its_page(airflow, signed_in):
    from selenium.webdriver.common.by import By

    browser = signed_in
    browser.switch_to.default_content()
    browser.get(f"{airflow.url}/dags/{BROKEN}")
    wait(browser, lambda: "Fix the spec:" in browser.find_element(By.TAG_NAME, "body").text)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Fix the spec: version: required field is missing" in body, "the first error, as the failing task's name"
    assert body.split("Owner\n", 1)[1].split("\n")[0] == "user_behaviour", "owned by the spec's team, not 'airflow'"
    browser.set_window_size(1440, 1300)
    time.sleep(1)
    print("screenshot:", shot(browser, "03-broken-spec-dag"))
    browser.set_window_size(1440, 1000)

    browser.get(airflow.url + "/dags")
    wait(browser, lambda: BROKEN in browser.find_element(By.TAG_NAME, "body").text)
    time.sleep(1)
    print("screenshot:", shot(browser, "04-dag-list"))
    api = airflow.api
    failed = {d["dag_id"] for d in api.get("/api/v2/dags", last_dag_run_state="failed")["dags"]}
    assert {BROKEN, FAILS} <= failed, "the DAG list's 'Last run: failed' filter finds both"

    browser.get(airflow.url + "/")
    wait(browser, lambda: "Failed Dags" in browser.find_element(By.TAG_NAME, "body").text)
    time.sleep(1)
    home = browser.find_element(By.TAG_NAME, "body").text
    print("screenshot:", shot(browser, "05-home"))
    assert "Plugin Import Error" not in home
    # The home page counts DAGs whose latest run with a logical date failed: the broken spec's run
    # has one (its timetable's); a manual run from the REST API has none, so it is not counted.
    assert int(home.split("Failed Dags")[0].strip().split()[-1]) >= 1, home[:300]
    assert api.get("/ui/dashboard/dag_stats")["failed_dag_count"] >= 1


def test_no_process_reports_a_plugin_import_error(airflow):
    """api-server, scheduler, dag-processor, triggerer and the task runner all load plugins."""
    assert airflow.api.get("/api/v2/plugins/importErrors")["total_entries"] == 0
    components = sorted(airflow.home.glob("*.log"))
    assert {log.stem for log in components} >= {"api-server", "execution-api", "scheduler", "dag-processor", "triggerer"}
    logs = [*components, *sorted((airflow.home / "logs").rglob("*.log"))]
    assert len(logs) > len(components) + 3, "task logs are there to read"
    for log in logs:
        text = log.read_text(errors="replace")
        assert "already registered" not in text and "Failed to import plugin" not in text, log


def test_json_endpoint_has_the_same_operations_facts(airflow):
    data = airflow.api.get("/dataproducts/api/mesh")
    products = {p["id"]: p for p in data["products"]}
    assert products[BUILDS]["last_run"]["state"] == "success"
    assert products[BUILDS]["last_built"]["business_date"] == DATE
    assert {port["freshness"]["state"] for port in products[BUILDS]["output_ports"]} == {"fresh"}
    assert products[FAILS]["last_run"]["state"] == "failed" and products[FAILS]["incidents"]
    assert [b["id"] for b in data["broken"]] == [BROKEN] and data["broken"][0]["last_run"]["state"] == "failed"
    assert data["summary"]["failed"] == 1 and "runs_error" not in data


def test_every_run_is_labelled_with_the_business_date_it_built(airflow):
    """The note Airflow shows on a run's page and in its lists, set by the plugin's listener."""
    for dag_id, note in ((BUILDS, f"Business date {DATE}"), (FAILS, f"Business date {DATE}: failed")):
        (run,) = airflow.api.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=1, order_by="-run_after")["dag_runs"]
        assert run["note"] == note, dag_id


def test_the_trigger_form_asks_for_the_business_date_and_a_full_refresh(airflow, signed_in):
    from selenium.webdriver.common.by import By

    browser = signed_in
    browser.switch_to.default_content()
    browser.get(f"{airflow.url}/dags/{BUILDS}")
    wait(browser, lambda: browser.find_elements(By.XPATH, "//button[normalize-space()='Trigger']"))[0].click()
    dialog = wait(
        browser, lambda: [d for d in browser.find_elements(By.CSS_SELECTOR, "[role=dialog]") if "Business date" in d.text]
    )[0]
    assert "Full refresh" in dialog.text and "The day to build" in dialog.text
    assert dialog.find_elements(By.CSS_SELECTOR, "input[type=date]"), "a date picker"
    time.sleep(1)
    print("screenshot:", shot(browser, "06-trigger-form"))


def test_a_component_that_exits_is_started_again_and_runs_the_next_trigger(airflow):
    """The embedded Airflow supervises its components (ops/embedded.py): a scheduler killed as
    "database is locked" once ended one under `airflow standalone`, which left every run queued, is
    started again, and a run triggered afterwards is scheduled and built. Last in the module: it
    rebuilds BUILDS's date."""
    airflow.crash("scheduler")
    wait_until(lambda: True if any(name == "scheduler" for name, _ in airflow.restarts) else None, 60, lambda: "a restart")
    airflow.api.trigger(BUILDS, partition_key=DATE)
    wait_for_states(airflow.api, {BUILDS: "success"}, timeout=300)
    assert [name for name, _ in airflow.restarts] == ["scheduler"]
