"""Freshness under Airflow for real (dag.test(), dbt on DuckDB, the Task SDK's asset events):

- a consumer whose input's latest publication is older than the input's SLA logs it at the start
  of its build (input, age, SLA) and builds anyway;
- the catalogue DAG's check raises a FRESHNESS incident in DataHub (Lite) and tells the owner
  (the log line and a webhook) once, not again ten minutes later; the producer's next
  publication resolves it.
"""

from __future__ import annotations

import json
import re

from dag_runs import Webhook

from dataproducts.metadata import urns
from dataproducts.metadata.sinks import open_lite

DATE = "2026-11-03"
LISTINGS = "inventory.listings.daily_snapshot"

SCENARIO = """
import datetime as dt
from airflow.models.asset import AssetEvent, AssetModel
from airflow.utils.session import create_session

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


def _steps(output: str) -> list[tuple[str, str]]:
    """(dag id, what its run printed) in order."""
    parts = output.split("STEP ")[1:]
    return [(part.split()[0], part) for part in parts]


def test_a_stale_input_is_logged_and_a_stale_port_raises_one_incident_resolved_by_a_fresh_publication(airflow_project):
    state = airflow_project.state
    ledger = state / "datahub" / "open_incidents.json"
    webhook = Webhook()
    try:
        owner_hook = {
            "AIRFLOW_CONN_STALE_HOOK": json.dumps({"conn_type": "http", "host": webhook.url()}),
            "DATAPRODUCTS_NOTIFY_WEBHOOK_CONN_ID": "stale_hook",
        }
        output = airflow_project.dag_script(SCENARIO, DATE, str(ledger), extra_env=owner_hook, timeout=1200)
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
    bodies = [body for _, body in webhook.posts]
    assert [b["port_id"] for b in bodies] == [LISTINGS] and bodies[0]["kind"] == "stale"
    assert f'"freshness:{LISTINGS}"' in output.split("INCIDENTS_OPEN", 1)[1].splitlines()[0]

    lite = open_lite(state / "datahub" / "lite.db", read_only=True)
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
    lite = open_lite(state / "datahub" / "lite.db", read_only=True)
    try:
        scored = [u for u in lite.list_ids() if u.startswith("urn:li:dataProduct:") and lite.get(u, ["structuredProperties"])]
    finally:
        lite.close()
    assert len(scored) == 7, "every product, run or not, has its score in DataHub"
