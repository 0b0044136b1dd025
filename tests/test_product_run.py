"""One product's DAG run for real (Airflow's dag.test(), dbt on DuckDB) and what reaches DataHub.

- a dbt failure fails the run, and the run's metadata still arrives: a FAILURE run event and an
  ACTIVE incident on the product; the next successful run resolves it;
- DataHub being down (a connection to a closed port) does not fail the data: the run succeeds,
  its metadata waits in the outbox, and `dataproducts metadata flush` delivers it once DataHub
  is back. DataHub's GMS needs Docker, absent here, so tests/fake_gms.py speaks its REST API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from fake_gms import FakeGMS

from dataproducts.metadata import urns
from dataproducts.metadata.sinks import open_lite

PRODUCT = "inventory.listings"
DATE = "2026-11-03"

RUN_ONE_DAG = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    assert not bag.import_errors, bag.import_errors
    run = bag.dags[sys.argv[2]].test(run_conf={"business_date": sys.argv[3]})
    print("TASKS", json.dumps({ti.task_id: str(ti.state) for ti in run.get_task_instances()}))
    print("RUN_STATE", run.state)
    """
)


@pytest.fixture
def runner(tmp_path, compiled_repo):
    """A project copy (so its dbt can be broken), a migrated Airflow home and a warehouse with landing data."""
    root = tmp_path / "project"
    for part in ("dags", "product_specs", "dbt"):
        shutil.copytree(compiled_repo / part, root / part, ignore=shutil.ignore_patterns("logs", "run_results.json"))
    state = tmp_path / "state"
    env = {
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATAHUB__ENABLED": "False",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        "DATAPRODUCTS_HOME": str(root),
        "DATAPRODUCTS_STATE_DIR": str(state),
        "DATAPRODUCTS_DUCKDB_PATH": str(state / "warehouse.duckdb"),
    }
    run = _runner(env)
    run([sys.executable, "-m", "airflow", "db", "migrate"])
    run([sys.executable, "-m", "dataproducts.cli", "seed-landing"])

    def run_dag(extra_env=None) -> str:
        out = run([sys.executable, "-c", RUN_ONE_DAG, str(root / "dags" / "inventory.py"), PRODUCT, DATE], extra_env)
        run_dag.tasks = json.loads(out.rsplit("TASKS ", 1)[1].splitlines()[0])
        return out.rsplit("RUN_STATE", 1)[1].split()[0]

    run_dag.root, run_dag.state, run_dag.cli = (
        root,
        state,
        lambda *a, **kw: run([sys.executable, "-m", "dataproducts.cli", *a], **kw),
    )
    return run_dag


def _runner(base_env):
    import os

    def run(args, extra_env=None, check=True):
        env = {**os.environ, **base_env, **(extra_env or {})}
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        if check and done.returncode != 0:
            raise AssertionError(f"{args[:3]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done.stdout + done.stderr

    return run


def lite_aspects(state, urn: str) -> dict:
    lite = open_lite(state / "datahub" / "lite.db", read_only=True)
    try:
        return lite.get(urn, None, typed=False) or {}
    finally:
        lite.close()


def change_listings_model(root, old: str, new: str):
    model = root / "dbt" / "inventory" / "models" / "listings" / "listings.sql"
    original = model.read_text()
    assert old in original
    model.write_text(original.replace(old, new, 1))
    return lambda: model.write_text(original)


def test_failed_run_raises_an_incident_that_the_next_success_resolves(runner):
    repair = change_listings_model(runner.root, "r.listing_id,", "cast(null as varchar) as listing_id,")
    assert runner() == "failed"
    assert runner.tasks == {"build": "failed", "publish": "upstream_failed", "emit_metadata": "success"}
    incident = lite_aspects(runner.state, urns.incident_urn(PRODUCT))["incidentInfo"]
    assert incident["status"]["state"] == "ACTIVE"
    assert "not_null_listings_listing_id" in incident["description"]
    assert urns.data_product_urn(PRODUCT) in incident["entities"]

    repair()
    assert runner() == "success"
    assert lite_aspects(runner.state, urns.incident_urn(PRODUCT))["incidentInfo"]["status"]["state"] == "RESOLVED"
    product = lite_aspects(runner.state, urns.data_product_urn(PRODUCT))
    assert product["dataProductProperties"]["customProperties"]["spec_version"]


def test_a_model_that_drops_a_contract_column_fails_before_publishing(runner):
    change_listings_model(runner.root, "r.city,", "")  # dbt's tests still pass: city has none
    assert runner() == "failed"
    dataset = next(u for u in _lite_ids(runner.state) if u.startswith("urn:li:dataset:") and ".inventory.listings," in u)
    assertion = next(
        u
        for u in _lite_ids(runner.state)
        if u.startswith("urn:li:assertion:")
        and "contract_columns" in json.dumps(lite_aspects(runner.state, u).get("assertionInfo", {}))
    )
    events = lite_aspects(runner.state, assertion)
    assert events["assertionInfo"]["datasetAssertion"]["dataset"] == dataset
    assert (
        "lacks contract column(s) city" in lite_aspects(runner.state, urns.incident_urn(PRODUCT))["incidentInfo"]["description"]
    )
    assert runner.tasks == {"build": "failed", "publish": "upstream_failed", "emit_metadata": "success"}


def _lite_ids(state) -> list[str]:
    lite = open_lite(state / "datahub" / "lite.db", read_only=True)
    try:
        return list(lite.list_ids())
    finally:
        lite.close()


def test_datahub_down_never_fails_the_data_nor_loses_the_metadata(runner):
    gms = FakeGMS().start()
    port = gms.port
    gms.stop()  # DataHub is down: connections are refused
    connection = json.dumps({"conn_type": "datahub-rest", "host": f"http://127.0.0.1:{port}"})
    down = {"AIRFLOW_CONN_DATAPRODUCTS_DATAHUB": connection}

    assert runner(down) == "success"
    status = runner.cli("metadata", "status")
    assert "1 batches" in status, status

    gms.start()  # DataHub is back on the same port
    try:
        runner.cli("metadata", "flush", extra_env=down)
        assert "0 batches" in runner.cli("metadata", "status")
        received = {(p.urn, p.aspect_name) for p in gms.received()}
        assert (urns.data_product_urn(PRODUCT), "dataProductProperties") in received
        assert (urns.incident_urn(PRODUCT), "incidentInfo") in received
        assert any(name == "dataProcessInstanceRunEvent" for _, name in received)
    finally:
        gms.stop()
