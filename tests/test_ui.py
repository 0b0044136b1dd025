"""The "Data mesh" page and its JSON: content, escaping, Airflow authentication, plugin discovery."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURE_MESH, REPO
from markupsafe import escape

JWT_SECRET = "dataproducts-ui-test-secret-" + "x" * 64  # 64+ bytes: no InsecureKeyLengthWarning
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@pytest.fixture(scope="module")
def auth_manager():
    """Airflow's SimpleAuthManager as the api-server would have it, with a known JWT secret.

    Token validation looks the token's id up in Airflow's revoked_token table, so that one table
    is created in the test Airflow home's database (no full migration needed).
    """
    saved = {k: os.environ.get(k) for k in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__AUTH_MANAGER")}
    os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] = JWT_SECRET
    os.environ["AIRFLOW__CORE__AUTH_MANAGER"] = SIMPLE_AUTH_MANAGER
    from airflow import settings
    from airflow.api_fastapi.app import _AuthManagerState, create_auth_manager
    from airflow.models.revoked_token import RevokedToken

    RevokedToken.__table__.create(settings.engine, checkfirst=True)
    _AuthManagerState.instance = None
    manager = create_auth_manager()
    yield manager
    _AuthManagerState.instance = None
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def token(auth_manager, role: str | None = "admin", username: str = "admin") -> str:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return auth_manager.generate_jwt(SimpleAuthManagerUser(username=username, role=role))


def client_for(root: Path):
    """The plugin's app mounted under a parent app at /dataproducts, as Airflow's init_plugins does."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from dataproducts.airflow.ui import create_app

    parent = FastAPI()
    parent.mount("/dataproducts", create_app(root))
    return TestClient(parent)


def get(client, path: str, bearer: str | None = None, **kwargs):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return client.get(path, headers=headers, follow_redirects=False, **kwargs)


def load(root: Path):
    from dataproducts.core.mesh import load_mesh
    from dataproducts.core.project import Project

    return load_mesh(Project(root))


def edit_spec(root: Path, product_id: str, change) -> None:
    domain, name = product_id.split(".")
    path = root / "product_specs" / domain / f"{name}.yaml"
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


# --- content -------------------------------------------------------------------------------


def test_page_lists_every_product_by_domain_with_owner_ports_and_links(compiled_repo, auth_manager):
    mesh = load(compiled_repo)
    assert len(mesh.products) >= 7 and not mesh.broken, [str(e) for e in mesh.errors]
    response = get(client_for(compiled_repo), "/dataproducts/", token(auth_manager))
    assert response.status_code == 200, response.text
    page = response.text.replace("<wbr>", "")  # where long names may wrap (test_long_names_wrap_after_dots...)
    assert "<h1>Data mesh</h1>" in page and "Every spec loads and validates." in page
    for domain in mesh.domains():
        assert f">Domain {domain}</div>" in page
    for pid, spec in mesh.products.items():
        row = page.split(f'<tr id="product-{pid}">', 1)[1].split("</tr>", 1)[0]
        assert spec.owner.team in row and f"mailto:{spec.owner.contact}" in row
        assert f'<a class="airflow-link" href="/dags/{pid}"' in row and f"v{spec.version}" in row
        for port in spec.product_inputs:  # a link to the producer's row
            assert f'<a href="#product-{port.product}">{port.product}</a>' in row
        for port in spec.output_ports:
            assert f"{pid}.{port.name}" in row and f"{spec.domain}.{port.table_name}" in row
            assert f"{len(port.contract.columns)} contract column" in row
        for consumer in mesh.consumers_of(pid):
            assert f'<a href="#product-{consumer}">{consumer}</a>' in row
        assert f'<a class="airflow-link" href="/dags/{pid}" data-product="{pid}">' in page, "a node of the graph"
    assert "when any of pricing.price_ratings.ratings" in page  # advertising.promotion_candidates: trigger any
    assert 'target="_top"' not in page, "Airflow's frame refuses top navigation: links go through data_mesh.js"


def test_json_endpoint_returns_the_same_data(compiled_repo, auth_manager):
    mesh = load(compiled_repo)
    response = get(client_for(compiled_repo), "/dataproducts/api/mesh", token(auth_manager))
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) >= {"products", "broken", "backlog"}
    assert [p["id"] for p in data["products"]] == sorted(mesh.products)
    assert data["broken"] == []
    assert set(data["backlog"]) >= {"batches", "mcps"} and isinstance(data["backlog"]["mcps"], int)
    by_id = {p["id"]: p for p in data["products"]}
    for pid, spec in mesh.products.items():
        product = by_id[pid]
        assert product["owner"] == {"team": spec.owner.team, "contact": spec.owner.contact}
        assert product["dag_url"] == f"/dags/{pid}" and product["version"] == spec.version
        assert product["consumers"] == mesh.consumers_of(pid)
        assert [p["asset"] for p in product["output_ports"]] == [f"{pid}.{p.name}" for p in spec.output_ports]
    schedule = by_id["advertising.campaign_performance"]["schedule"]
    assert schedule["cron"] and "or" in schedule["summary"]  # cron or assets


def test_backlog_counts_the_outbox(compiled_repo, auth_manager, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    from datahub.emitter.mcp import MetadataChangeProposalWrapper
    from datahub.metadata.schema_classes import StatusClass

    from dataproducts.core.project import Project
    from dataproducts.metadata.delivery import outbox_for

    mcps = [MetadataChangeProposalWrapper(entityUrn=f"urn:li:corpuser:u{i}", aspect=StatusClass(removed=False)) for i in range(3)]
    outbox = outbox_for(Project(compiled_repo))
    outbox.write("ui-test", mcps)
    data = get(client_for(compiled_repo), "/dataproducts/api/mesh", token(auth_manager)).json()
    assert data["backlog"] == {"batches": 1, "mcps": 3, "quarantined": []}
    page = get(client_for(compiled_repo), "/dataproducts/", token(auth_manager)).text
    assert "1 metadata batches (3 MCPs) wait in the outbox" in page

    # a batch that cannot be read back is quarantined: shown with its reason, never silently gone
    torn = outbox.write("catalog-<b>torn</b>", mcps)
    torn.write_bytes(torn.read_bytes()[:40])

    class Accepting:
        def emit(self, mcps): ...
        def close(self): ...
        def describe(self):
            return "test sink"

    outbox.flush(Accepting())
    data = get(client_for(compiled_repo), "/dataproducts/api/mesh", token(auth_manager)).json()
    (quarantined,) = data["backlog"]["quarantined"]
    assert quarantined["batch"] == torn.name and quarantined["mcps"] == 3 and "JSONDecodeError" in quarantined["reason"]
    assert data["backlog"]["batches"] == 0
    page = get(client_for(compiled_repo), "/dataproducts/", token(auth_manager)).text
    assert "0 batches, 0 MCPs waiting, 1 quarantined" in page and torn.name in page and "JSONDecodeError" in page


def test_broken_spec_is_shown_first_with_every_error(project_copy, auth_manager):
    def break_it(doc):
        doc["output_ports"][0]["contract"]["columns"][0]["type"] = "strng"
        doc["owner"]["contact"] = "nobody"

    edit_spec(project_copy, "pricing.market_prices", break_it)
    errors = load(project_copy).broken["pricing.market_prices"].errors
    assert len(errors) == 2
    client = client_for(project_copy)
    page = get(client, "/dataproducts/", token(auth_manager)).text
    assert "1 broken spec</h2>" in page
    assert page.index("broken spec</h2>") < page.index(">Domain ")  # at the top
    broken = page.split('<section id="broken-specs">', 1)[1].split("</section>", 1)[0]
    for error in errors:
        assert error.line, "a spec error knows where it was written"
        for part in (f"{error.file}:{error.line}:{error.column}", error.field, error.problem, error.fix):
            assert str(escape(part)) in broken
    assert 'href="/dags/pricing.market_prices"' in broken
    products = page.split('<section id="products">', 1)[1]
    assert 'id="product-pricing.market_prices"' not in products  # not among the working products
    # its consumer still lists it as input, linked to the broken row
    assert '<a href="#product-pricing.market_prices">pricing.market_prices</a>' in products
    assert 'data-product="pricing.market_prices"' in page, "a (broken) node of the graph, with its consumers' edges"

    data = get(client, "/dataproducts/api/mesh", token(auth_manager)).json()
    assert [b["id"] for b in data["broken"]] == ["pricing.market_prices"]
    assert [e["message"] for e in data["broken"][0]["errors"]] == [str(e) for e in errors]
    assert "pricing.market_prices" not in {p["id"] for p in data["products"]}


def test_spec_text_is_escaped(project_copy, auth_manager):
    edit_spec(project_copy, "inventory.listings", lambda d: d.update(description="<script>alert('x')</script> & more"))
    edit_spec(project_copy, "pricing.price_ratings", lambda d: d["owner"].update(team="<img src=x onerror=alert(1)>"))
    page = get(client_for(project_copy), "/dataproducts/", token(auth_manager)).text
    assert "<script>alert" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # in the broken spec's error text


def test_missing_manifests_and_specs_render_instead_of_failing(tmp_path, auth_manager):
    (tmp_path / "product_specs").mkdir()
    response = get(client_for(tmp_path), "/dataproducts/", token(auth_manager))
    assert response.status_code == 200 and "No products to show" in response.text
    import shutil

    shutil.copytree(FIXTURE_MESH / "product_specs", tmp_path / "product_specs", dirs_exist_ok=True)  # no dbt manifests here
    data = get(client_for(tmp_path), "/dataproducts/api/mesh", token(auth_manager)).json()
    assert data["broken"] and all(b["errors"] for b in data["broken"])


# --- authentication and authorisation ------------------------------------------------------


def test_unauthenticated_requests_are_refused(compiled_repo, auth_manager):
    client = client_for(compiled_repo)
    assert get(client, "/dataproducts/api/mesh").status_code == 401
    page = get(client, "/dataproducts/")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/auth/login?next=") and "dataproducts" in page.headers["location"]
    assert "product" not in page.text

    from airflow.api_fastapi.auth.tokens import JWTGenerator

    foreign = JWTGenerator(secret_key="another-secret" * 8, valid_for=600, audience="apache-airflow").generate(
        {"sub": "admin", "role": "admin"}
    )
    for bad in ("not-a-jwt", foreign):
        assert get(client, "/dataproducts/api/mesh", bad).status_code in (401, 403)
        assert get(client, "/dataproducts/", bad).status_code == 303
        assert get(client, "/dataproducts/api/mesh", cookies={"_token": bad}).status_code in (401, 403)


def test_users_without_dag_read_access_are_forbidden(compiled_repo, auth_manager):
    client = client_for(compiled_repo)
    no_role = token(auth_manager, role=None, username="nobody")
    assert get(client, "/dataproducts/api/mesh", no_role).status_code == 403
    page = get(client, "/dataproducts/", no_role)
    assert page.status_code == 403 and "read access to DAGs" in page.text and "inventory" not in page.text


def test_authenticated_users_get_in_by_header_or_by_the_ui_cookie(compiled_repo, auth_manager):
    client = client_for(compiled_repo)
    viewer = token(auth_manager, role="viewer", username="vera")
    assert get(client, "/dataproducts/api/mesh", viewer).status_code == 200
    client.cookies.set("_token", viewer)  # what the browser sends after logging in to Airflow's UI
    response = get(client, "/dataproducts/")
    assert response.status_code == 200 and "signed in as vera" in response.text


def test_only_products_whose_dag_the_user_may_read_are_shown(project_copy, auth_manager, monkeypatch):
    edit_spec(project_copy, "inventory.vehicle_catalog", lambda d: d.update(version="not-semver"))  # broken
    allowed = {"pricing.market_prices", "pricing.price_ratings"}
    seen = []

    def only_pricing(*, dag_ids, user, method="GET", team_name=None):
        seen.append((set(dag_ids), method))
        return set(dag_ids) & allowed

    monkeypatch.setattr(auth_manager, "filter_authorized_dag_ids", only_pricing)
    client = client_for(project_copy)
    data = get(client, "/dataproducts/api/mesh", token(auth_manager)).json()
    assert {p["id"] for p in data["products"]} == allowed
    assert data["broken"] == []  # inventory.vehicle_catalog's DAG is not readable either
    assert seen[0][1] == "GET" and "inventory.vehicle_catalog" in seen[0][0]
    market = next(p for p in data["products"] if p["id"] == "pricing.market_prices")
    assert market["consumers"] == ["pricing.price_ratings"]  # not advertising.promotion_candidates
    assert not any(i["producer_visible"] for i in market["input_ports"])
    page = get(client, "/dataproducts/", token(auth_manager)).text
    assert '<a href="#product-inventory.listings">' not in page and "inventory.listings" in page  # named, not linked
    assert '<tr id="product-advertising' not in page and "not-semver" not in page


# --- the plugin ----------------------------------------------------------------------------


def test_plugin_class_has_the_app_and_the_nav_entry():
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse, FastAPIAppResponse
    from airflow.plugins_manager import is_valid_plugin

    from dataproducts.airflow import ui
    from dataproducts.airflow.plugin import DataProductsPlugin

    assert is_valid_plugin(DataProductsPlugin) and DataProductsPlugin.name == "dataproducts"
    (app,) = DataProductsPlugin.fastapi_apps
    assert app["app"] is ui.app and app["url_prefix"] == "/dataproducts" and app["name"] == "Data products"
    FastAPIAppResponse.model_validate({**app, "app": "x"})
    (view,) = DataProductsPlugin.external_views
    parsed = ExternalViewResponse.model_validate(view)
    assert parsed.name == "Data mesh" and parsed.destination == "nav" and parsed.href == "/dataproducts/"
    assert parsed.url_route and parsed.category == "browse"


# Runs in a fresh interpreter: Airflow's folder scan executes every plugins/ file as a top-level
# module, which should not leak into this test process.
REAL_AIRFLOW = textwrap.dedent(
    """
    import json, sys
    from unittest import mock

    # Both modes decide what the `airflow.plugins` entry-point group holds: nothing ("folder-only",
    # as where the package is not installed) or this package's entry point ("with-entry-point").
    from importlib.metadata import EntryPoint
    import importlib.metadata
    import airflow._shared.module_loading as core_loading
    import airflow.sdk._shared.module_loading as sdk_loading

    ep = EntryPoint("dataproducts", "dataproducts.airflow.plugin:DataProductsPlugin", "airflow.plugins")
    ours = [ep] if sys.argv[1] == "with-entry-point" else []

    class Dist:
        metadata = {"Name": "dataproducts"}
        version = "0.1.0"

    def only_ours(real):
        return lambda group: iter([(e, Dist()) for e in ours]) if group == "airflow.plugins" else real(group)

    real = importlib.metadata.entry_points
    patches = [
        mock.patch("importlib.metadata.entry_points", lambda **kw: ours if kw.get("group") == "airflow.plugins" else real(**kw)),
        mock.patch("airflow._shared.module_loading.entry_points_with_dist", only_ours(core_loading.entry_points_with_dist)),
        mock.patch("airflow.sdk._shared.module_loading.entry_points_with_dist", only_ours(sdk_loading.entry_points_with_dist)),
    ]
    if sys.argv[1] != "installed":  # "installed": whatever this environment really holds, no patches
        for p in patches:
            p.start()

    from airflow import plugins_manager, settings
    from airflow.sdk import plugins_manager as sdk_plugins_manager

    plugins, errors = plugins_manager._get_plugins()
    sdk_plugins, _ = sdk_plugins_manager._get_plugins()
    ours = [p for p in plugins if p.name == "dataproducts"]
    result = {
        "count": len(ours),
        "sdk_count": len([p for p in sdk_plugins if p.name == "dataproducts"]),
        "source": str(ours[0].source) if ours else None,
        "errors": errors,
    }

    from fastapi.testclient import TestClient
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models.revoked_token import RevokedToken

    RevokedToken.__table__.create(settings.engine, checkfirst=True)
    client = TestClient(create_app())
    jwt = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    bearer = {"Authorization": "Bearer " + jwt}
    result["anonymous_json"] = client.get("/dataproducts/api/mesh").status_code
    anonymous_page = client.get("/dataproducts/", follow_redirects=False)
    result["anonymous_page"] = [anonymous_page.status_code, anonymous_page.headers.get("location")]
    mesh = client.get("/dataproducts/api/mesh", headers=bearer)
    result["json"] = [mesh.status_code, len(mesh.json().get("products", []))]
    client.cookies.set("_token", jwt)
    page = client.get("/dataproducts/", follow_redirects=False)
    result["cookie_page"] = [page.status_code, "Data mesh" in page.text]
    client.cookies.clear()
    listed = client.get("/api/v2/plugins", headers=bearer).json()["plugins"]
    result["api_plugins"] = [p for p in listed if p["name"] == "dataproducts"]
    print("RESULT" + json.dumps(result))
    """
)


@pytest.mark.parametrize("mode", ["folder-only", "with-entry-point", "installed"])
def test_airflow_loads_the_plugin_from_the_plugins_folder_and_serves_it(compiled_repo, tmp_path, mode):
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
        "AIRFLOW__DATAHUB__ENABLED": "False",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        "DATAPRODUCTS_HOME": str(compiled_repo),
        "DATAPRODUCTS_STATE_DIR": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [sys.executable, "-c", REAL_AIRFLOW, mode], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert "RESULT" in done.stdout, done.stdout[-3000:] + done.stderr[-5000:]
    result = json.loads(done.stdout.rsplit("RESULT", 1)[1])
    assert result["count"] == 1 and result["sdk_count"] == 1, result
    assert not any("dataproducts" in k or "dataproducts" in v for k, v in result["errors"].items()), result["errors"]
    if mode == "folder-only":
        assert result["source"] == "$PLUGINS_FOLDER/dataproducts_plugin.py"
    else:  # "installed": the entry point of the editable install, found once although plugins/ is on sys.path
        assert result["source"].startswith("dataproducts==0.1.0: ")
    assert result["errors"] == {}, "no plugin import error of any plugin"
    assert result["anonymous_json"] == 401
    assert result["anonymous_page"][0] == 303 and result["anonymous_page"][1].startswith("/auth/login?next=")
    assert result["json"] == [200, len(load(compiled_repo).products)]
    assert result["cookie_page"] == [200, True]
    (listed,) = result["api_plugins"]
    assert listed["fastapi_apps"][0]["url_prefix"] == "/dataproducts"
    assert listed["external_views"][0]["url_route"] == "data-mesh"


# --- the operations view ---------------------------------------------------------------------


def _run(run_id, state, build_state, business_date, hours_ago, now):
    at = (now - dt.timedelta(hours=hours_ago)).isoformat()
    return {
        "run_id": run_id,
        "state": state,
        "run_type": "manual",
        "run_after": at,
        "start_date": at,
        "end_date": at,
        "partition_key": None,
        "conf_business_date": None,
        "note": None,
        "build_state": build_state,
        "business_date": business_date,
    }


def test_airflow_facts_become_last_run_business_date_freshness_and_incidents(compiled_repo):
    from dataproducts.airflow import operations, ui

    now = dt.datetime(2026, 11, 4, 12, tzinfo=dt.UTC)
    data = ui.mesh_data(compiled_repo)
    by_id = {p["id"]: p for p in data["products"]}
    market, listings = by_id["pricing.market_prices"], by_id["inventory.listings"]
    market_port, listings_port = market["output_ports"][0], listings["output_ports"][0]
    assert market_port["freshness_hours"] is not None, "the fixture declares an SLA"
    facts = {
        "runs": {
            "pricing.market_prices": [
                _run("r2", "failed", "failed", "2026-11-04", 1, now),
                _run("r1", "success", "success", "2026-11-03", 30, now),
            ],
            "advertising.promotion_candidates": [_run("r3", "success", "skipped", None, 2, now)],
        },
        "publications": {
            market_port["asset"]: {
                "published_at": (now - dt.timedelta(hours=30)).isoformat(),
                "business_date": "2026-11-03",
                "rows": 71,
            },
            listings_port["asset"]: {
                "published_at": (now - dt.timedelta(hours=1)).isoformat(),
                "business_date": "2026-11-04",
                "rows": 411,
            },
        },
    }
    operations.attach(data, facts, now, airflow_base="/airflow")
    assert market["last_run"]["state"] == "failed" and market["last_run"]["url"] == "/airflow/dags/pricing.market_prices/runs/r2"
    assert market["last_built"]["business_date"] == "2026-11-03", "the date it last built, not the one that failed"
    assert [i["title"] for i in market["incidents"]] == ["the last run failed building 2026-11-04"]
    assert market_port["freshness"]["state"] == ("stale" if market_port["freshness_hours"] < 30 else "fresh")
    assert listings_port["freshness"]["state"] == "fresh" and listings_port["freshness"]["rows"] == 411
    assert by_id["inventory.vehicle_catalog"]["output_ports"][0]["freshness"]["state"] == "never"
    candidates = by_id["advertising.promotion_candidates"]
    assert candidates["last_built"] is None and candidates["incidents"] == [], "a skipped build is neither built nor failed"
    assert data["summary"]["failed"] == 1 and data["summary"]["incidents"] == 1
    page = ui.render_page(data, "admin", now)
    assert 'href="/airflow/dags/pricing.market_prices/runs/r2"' in page and "build skipped (waiting for inputs)" in page


def test_the_page_still_shows_the_mesh_when_airflows_database_cannot_be_read(compiled_repo, auth_manager, monkeypatch):
    from dataproducts.airflow import operations

    def unreadable(*args):
        raise RuntimeError("no such table: dag_run")

    monkeypatch.setattr(operations, "read_facts", unreadable)
    client = client_for(compiled_repo)
    response = get(client, "/dataproducts/", token(auth_manager))
    assert response.status_code == 200 and "Run states are not shown" in response.text and "no such table" in response.text
    data = get(client, "/dataproducts/api/mesh", token(auth_manager)).json()
    assert "no such table" in data["runs_error"] and len(data["products"]) == len(load(compiled_repo).products)
    assert all(p["last_run"] is None for p in data["products"])


def test_quality_scores_are_shown_where_they_exist(compiled_repo):
    from dataproducts.airflow import ui

    data = ui.mesh_data(compiled_repo)
    assert all(isinstance(p["quality"]["score"], int) for p in data["products"]), "every product is scored"
    for product in data["products"]:  # as when the scores could not be computed (quality_error)
        del product["quality"]
    assert "<th>Quality</th>" not in ui.render_page(data), "no column without any score"
    data["products"][0]["quality"] = {"score": 0.87, "parts": {"ownership": 1.0}}
    page = ui.render_page(data)
    assert "<th>Quality</th>" in page and "0.87" in page and "ownership: 1.0" in page


def test_each_output_port_shows_who_may_read_it(compiled_repo):
    from dataproducts.airflow import ui

    page = ui.render_page(ui.mesh_data(compiled_repo))
    assert '<span class="access restricted">restricted to domain pricing and domains advertising</span>' in page
    assert '<span class="access restricted">only products of domain advertising</span>' in page
    assert '<span class="access">open to all products</span>' in page


def test_long_names_wrap_after_dots_underscores_and_at_signs_not_mid_word(compiled_repo):
    from dataproducts.airflow import ui

    page = ui.render_page(ui.mesh_data(compiled_repo))
    row = page.split('<tr id="product-advertising.promotion_candidates">', 1)[1].split("</tr>", 1)[0]
    assert "pricing.<wbr>price_<wbr>ratings.<wbr>ratings" in row, "the schedule's asset names"
    contact = load(compiled_repo).products["advertising.promotion_candidates"].owner.contact
    local, host = contact.split("@")
    assert f">{local.replace('_', '_<wbr>').replace('.', '.<wbr>')}@<wbr>" in row, "the owner's address"
    assert ui._breakable("<b>a.b</b>") == "&lt;b&gt;a.<wbr>b&lt;/<wbr>b&gt;", "each part escaped"


def test_every_products_column_has_its_share_of_the_fixed_width_table(compiled_repo):
    """The products table's layout is fixed: a column without a width gets only what the others
    leave, which squeezed Schedule until its text wrapped letter by letter."""
    import re

    from dataproducts.airflow import ui

    data = ui.mesh_data(compiled_repo)
    for scored in (True, False):
        if not scored:
            for product in data["products"]:
                del product["quality"]
        page = ui.render_page(data)
        table = page[page.index('<table class="products">') : page.index("</thead>")]
        headers = re.findall(r"<th>([^<]+)</th>", table)
        widths = [float(w) for w in re.findall(r'<col style="width: ([\d.]+)%">', table)]
        assert ("Quality" in headers) is scored and headers[-1] == "Schedule"
        assert len(widths) == len(headers) == table.count("<col "), "one width per column, none left out"
        assert sum(widths) == pytest.approx(100, abs=0.1)
        assert widths[-1] >= 14, "Schedule's summaries (crons, the inputs it waits for) wrap at words"
