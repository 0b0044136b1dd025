"""Freshness under Airflow for real (dag.test(), dbt on DuckDB, the Task SDK's asset events):

- a consumer whose input's latest publication is older than the input's SLA logs it at the start
  of its build (input, age, SLA) and builds anyway;
- the catalogue DAG's check raises a FRESHNESS incident in DataHub (Lite) and tells the owner
  (the log line and a webhook) once, not again ten minutes later; the producer's next
  publication resolves it.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import sys
import textwrap
import threading

from dataproducts.metadata import urns
from dataproducts.metadata.sinks import open_lite

DATE = "2026-11-03"
LISTINGS = "inventory.listings.daily_snapshot"

SCENARIO = textwrap.dedent(
    """
    import datetime as dt, sys
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=sys.argv[1])
    assert not bag.import_errors, bag.import_errors

    def run(dag_id):
        print(f"STEP {dag_id}", flush=True)
        conf = None if dag_id == "dataproducts_catalog_sync" else {"business_date": sys.argv[2]}
        print(f"STATE {dag_id} {bag.dags[dag_id].test(run_conf=conf).state}", flush=True)

    run("inventory.listings")
    run("inventory.vehicle_catalog")
    with create_session() as session:  # listings published three days ago, as far as anyone can tell
        asset = session.query(AssetModel).filter_by(name="inventory.listings.daily_snapshot").one()
        for event in session.query(AssetEvent).filter_by(asset_id=asset.id):
            event.timestamp = event.timestamp - dt.timedelta(days=3)
    run("pricing.market_prices")
    run("dataproducts_catalog_sync")
    run("dataproducts_catalog_sync")  # ten minutes later: still stale
    print("INCIDENTS_OPEN", open(sys.argv[3]).read().replace(chr(10), " "), flush=True)
    run("inventory.listings")  # a fresh publication
    run("dataproducts_catalog_sync")
    """
)


class _Webhook:
    def __init__(self):
        outer, self.bodies = self, []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _environment(tmp_path, root, webhook_url) -> dict[str, str]:
    import os

    home, state = tmp_path / "airflow", tmp_path / "state"
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATAHUB__ENABLED": "False",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        "DATAPRODUCTS_HOME": str(root),
        "DATAPRODUCTS_STATE_DIR": str(state),
        "DATAPRODUCTS_DUCKDB_PATH": str(state / "warehouse.duckdb"),
        "AIRFLOW_CONN_STALE_HOOK": json.dumps({"conn_type": "http", "host": webhook_url}),
        "DATAPRODUCTS_NOTIFY_WEBHOOK_CONN_ID": "stale_hook",
    }


def _run(args, env) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{args[:3]} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def _steps(output: str) -> list[tuple[str, str]]:
    """(dag id, what its run printed) in order."""
    parts = output.split("STEP ")[1:]
    return [(part.split()[0], part) for part in parts]


def test_a_stale_input_is_logged_and_a_stale_port_raises_one_incident_resolved_by_a_fresh_publication(tmp_path, compiled_repo):
    root = tmp_path / "project"
    for part in ("dags", "product_specs", "dbt"):
        shutil.copytree(compiled_repo / part, root / part, ignore=shutil.ignore_patterns("logs", "run_results.json"))
    webhook = _Webhook()
    try:
        env = _environment(tmp_path, root, webhook.url)
        _run([sys.executable, "-m", "airflow", "db", "migrate"], env)
        _run([sys.executable, "-m", "dataproducts.cli", "seed-landing"], env)
        ledger = tmp_path / "state" / "datahub" / "open_incidents.json"
        output = _run([sys.executable, "-c", SCENARIO, str(root / "dags"), DATE, str(ledger)], env)
    finally:
        webhook.close()
    steps = _steps(output)
    assert [dag for dag, _ in steps] == [
        "inventory.listings",
        "inventory.vehicle_catalog",
        "pricing.market_prices",
        "dataproducts_catalog_sync",
        "dataproducts_catalog_sync",
        "inventory.listings",
        "dataproducts_catalog_sync",
    ]
    assert all(f"STATE {dag} success" in text for dag, text in steps), output[-6000:]

    consumer = steps[2][1]
    stale_line = re.search(
        r"pricing\.market_prices: input listings \(inventory\.listings\.daily_snapshot\) is stale: published (7\d\.\d) h ago, SLA 26 h",
        consumer,
    )
    assert stale_line, consumer[-4000:]
    assert "input vehicle_catalog" not in consumer, "a fresh input is not named"

    first, second, resolving = steps[3][1], steps[4][1], steps[6][1]
    notified = f"dataproducts: notifying inventory <inventory-team@example.com>: {LISTINGS} is stale (owner inventory)."
    assert notified in first and notified not in second and notified not in resolving, "told once per stale period"
    assert "incidents raised 1, resolved 0" in first and "incidents raised 0, resolved 0" in second
    assert "incidents raised 0, resolved 1" in resolving
    assert [b["port_id"] for b in webhook.bodies] == [LISTINGS] and webhook.bodies[0]["kind"] == "stale"
    assert f'"freshness:{LISTINGS}"' in output.split("INCIDENTS_OPEN", 1)[1].splitlines()[0]

    lite = open_lite(tmp_path / "state" / "datahub" / "lite.db", read_only=True)
    try:
        found = [u for u in lite.list_ids() if u.startswith("urn:li:incident:")]
        freshness_incidents = {u: lite.get(u, ["incidentInfo"])["incidentInfo"] for u in found}
        freshness_incidents = {u: i for u, i in freshness_incidents.items() if i["type"] == "FRESHNESS"}
        ((urn, incident),) = freshness_incidents.items()
        assert incident["status"]["state"] == "RESOLVED" and incident["title"] == f"{LISTINGS} is stale"
        assertion = lite.get(urns.freshness_assertion_urn(LISTINGS), ["assertionInfo"])["assertionInfo"]
        assert assertion["type"] == "FRESHNESS"
    finally:
        lite.close()
    assert f'"freshness:{LISTINGS}"' not in ledger.read_text(), "resolved: no longer open"

    # the catalogue DAG scores every product after its check: the stale port's open incident costs
    # inventory.listings 5 points until the fresh publication resolves it
    def listings_score(text: str) -> int:
        return int(re.search(r"quality scores: .*inventory\.listings (\d+)", text).group(1))

    assert listings_score(resolving) - listings_score(first) == 5, (first[-3000:], resolving[-3000:])
    lite = open_lite(tmp_path / "state" / "datahub" / "lite.db", read_only=True)
    try:
        scored = [u for u in lite.list_ids() if u.startswith("urn:li:dataProduct:") and lite.get(u, ["structuredProperties"])]
    finally:
        lite.close()
    assert len(scored) == 7, "every product, run or not, has its score in DataHub"
