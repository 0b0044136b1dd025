"""One product's DAG run for real (Airflow's dag.test(), dbt on DuckDB) and what reaches DataHub.

- a successful run records no incident; a dbt failure fails the run, and the run's metadata still
  arrives: a FAILURE run event and an ACTIVE incident on the product; the next success resolves it;
- a run whose metadata cannot be built (here: a manifest without an adapter type) leaves its raw
  record in the outbox, and the next flush builds and sends it;
- DataHub being down (a connection to a closed port) does not fail the data: the run succeeds,
  its metadata waits in the outbox, and `dataproducts metadata flush` delivers it once DataHub
  is back. DataHub's GMS needs Docker, absent here, so tests/fake_gms.py speaks its REST API.
"""

from __future__ import annotations

import email
import json

import pytest
from dag_runs import Webhook
from fake_gms import FakeGMS

from dataproducts.metadata import urns
from dataproducts.metadata.sinks import open_lite

PRODUCT = "inventory.listings"
DATE = "2026-11-03"

RUN_ONE_DAG = """
conf = {"business_date": sys.argv[3], **json.loads(sys.argv[4])}
run = bag.dags[sys.argv[2]].test(run_conf=conf)
print("TASKS", json.dumps({ti.task_id: str(ti.state) for ti in run.get_task_instances()}))
print("RUN_STATE", run.state)
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session
with create_session() as session:
    print("NOTE", json.dumps(session.query(DagRun).filter_by(dag_id=run.dag_id, run_id=run.run_id).one().note))
from airflow.models.asset import AssetEvent
with create_session() as session:
    events = session.query(AssetEvent).filter_by(source_dag_id=run.dag_id, source_run_id=run.run_id).all()
    print("EVENTS", json.dumps([e.extra for e in events]))
"""


@pytest.fixture
def runner(airflow_project):
    """Runs the product's DAG for DATE in the test's own project copy (so its dbt can be broken),
    Airflow database and warehouse (tests/dag_runs.py); returns the run's state."""
    project = airflow_project

    def run_dag(extra_env=None, conf=None) -> str:
        out = project.dag_script(RUN_ONE_DAG, PRODUCT, DATE, json.dumps(conf or {}), dags="inventory.py", extra_env=extra_env)
        run_dag.tasks = json.loads(out.rsplit("TASKS ", 1)[1].splitlines()[0])
        run_dag.output = out  # the tasks' logs included
        run_dag.note = json.loads(out.rsplit("NOTE ", 1)[1].splitlines()[0])
        run_dag.events = json.loads(out.rsplit("EVENTS ", 1)[1].splitlines()[0])  # the run's asset events' extras
        return out.rsplit("RUN_STATE", 1)[1].split()[0]

    run_dag.root, run_dag.state, run_dag.cli = project.root, project.state, project.cli
    return run_dag


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


def incidents(state) -> dict[str, dict]:
    return {u: lite_aspects(state, u)["incidentInfo"] for u in _lite_ids(state) if u.startswith("urn:li:incident:")}


def days_online_upstreams(state) -> list[str]:
    dataset = next(u for u in _lite_ids(state) if u.startswith("urn:li:dataset:") and ".inventory.listings," in u)
    lineage = lite_aspects(state, dataset)["upstreamLineage"].get("fineGrainedLineages") or []
    return [up for f in lineage if f["downstreams"][0].endswith(",days_online)") for up in f["upstreams"]]


def test_an_incident_only_after_a_failure_and_the_next_success_resolves_it(runner):
    assert runner() == "success"
    assert incidents(runner.state) == {}, "nothing failed: no incident at all, not even a resolved one"
    # column lineage from the SQL this run's dbt compiled (listings.sql calls the dbt.datediff macro) ...
    assert [u.rsplit(",", 1)[1] for u in days_online_upstreams(runner.state)] == ["created_at)"]
    runner.cli("metadata", "sync")  # ... which a catalogue sync, having no run, takes from the latest run
    assert [u.rsplit(",", 1)[1] for u in days_online_upstreams(runner.state)] == ["created_at)"]

    repair = change_listings_model(runner.root, "r.listing_id,", "cast(null as varchar) as listing_id,")
    assert runner() == "failed"
    assert runner.tasks == {"build": "failed", "publish": "upstream_failed", "emit_metadata": "success"}
    assert runner.note == f"Business date {DATE}: failed"
    ((urn, incident),) = incidents(runner.state).items()
    assert incident["status"]["state"] == "ACTIVE"
    assert "not_null_listings_listing_id" in incident["description"]
    assert urns.data_product_urn(PRODUCT) in incident["entities"]

    repair()
    assert runner() == "success"
    assert list(incidents(runner.state)) == [urn], "the success resolves that incident and opens none"
    resolved = incidents(runner.state)[urn]
    assert resolved["status"]["state"] == "RESOLVED" and resolved["description"] == incident["description"]
    product = lite_aspects(runner.state, urns.data_product_urn(PRODUCT))
    assert product["dataProductProperties"]["customProperties"]["spec_version"]


def test_a_run_whose_metadata_cannot_be_built_keeps_its_record_until_a_flush_builds_it(runner):
    manifest = runner.root / "dbt" / "inventory" / "target" / "manifest.json"
    intact = manifest.read_text()
    document = json.loads(intact)
    document["metadata"]["adapter_type"] = ""  # the dataset URNs cannot be made: the builder raises
    manifest.write_text(json.dumps(document))

    assert runner() == "success"
    status = runner.cli("metadata", "status")
    assert "0 batches (0 MCPs) waiting, 1 run records waiting to be built" in status, status
    assert not (runner.state / "datahub" / "lite.db").exists()

    manifest.write_text(intact)  # whatever broke the builder is fixed (a manifest recompiled, a new release)
    assert "sent 1 batches" in runner.cli("metadata", "flush")
    assert "0 batches (0 MCPs) waiting\n" in runner.cli("metadata", "status")
    runs = [u for u in _lite_ids(runner.state) if u.startswith("urn:li:dataProcessInstance:")]
    assert len(runs) == 1, "the run's own metadata arrived, built from its record"
    assert lite_aspects(runner.state, runs[0])["dataProcessInstanceProperties"]["customProperties"]["business_date"] == DATE


def test_a_model_that_drops_a_contract_column_fails_inside_dbt_build_before_publishing(runner):
    change_listings_model(runner.root, "r.city,", "")  # dbt's tests would still pass: city has none
    assert runner() == "failed"
    ((_, incident),) = incidents(runner.state).items()
    assert "model.inventory.listings: " in incident["description"]
    assert "This model has an enforced contract that failed" in incident["description"]
    assert runner.tasks == {"build": "failed", "publish": "upstream_failed", "emit_metadata": "success"}


def test_a_model_that_changes_a_contract_columns_type_fails_inside_dbt_build_and_the_table_keeps_its_rows(runner):
    """The output model's dbt contract is enforced: dbt itself refuses the changed model before
    the table changes, so the last good rows stay and nothing is published (no consumer starts)."""
    assert runner() == "success"
    before = listing_rows(runner.state)
    change_listings_model(runner.root, "r.city,", "length(r.city) as city,")
    assert runner() == "failed"
    assert runner.tasks == {"build": "failed", "publish": "upstream_failed", "emit_metadata": "success"}
    ((_, incident),) = incidents(runner.state).items()
    assert "model.inventory.listings: " in incident["description"]
    assert "This model has an enforced contract that failed" in incident["description"]
    assert "city" in incident["description"]
    assert listing_rows(runner.state) == before > 0


def listing_rows(state) -> int:
    import duckdb

    with duckdb.connect(str(state / "warehouse.duckdb"), read_only=True) as db:
        return db.execute(f"select count(*) from inventory.listings where business_date = date '{DATE}'").fetchone()[0]


def _lite_ids(state) -> list[str]:
    lite = open_lite(state / "datahub" / "lite.db", read_only=True)
    try:
        return list(lite.list_ids())
    finally:
        lite.close()


QUALITY_RULES = """
    quality:
      - {name: at_most_ten, metric: row_count, must_be_less_or_equal_to: 10, severity: SEVERITY}
      - {metric: invalid_values, column: fuel_type, valid_values: [petrol, diesel], severity: warn}
"""


def set_quality_rules(root, severity: str) -> None:
    spec = root / "product_specs" / "inventory" / "listings.yaml"
    original = spec.read_text().split("\n    quality:")[0].rstrip("\n")
    spec.write_text(original + "\n" + QUALITY_RULES.replace("SEVERITY", severity).lstrip("\n"))


def assertion_of(state, rule: str) -> dict:
    return lite_aspects(state, urns.assertion_urn(PRODUCT, f"quality.{PRODUCT}.daily_snapshot.{rule}"))


def test_an_error_rule_that_fails_blocks_publication_and_a_warn_rule_publishes_with_the_warning(runner):
    set_quality_rules(runner.root, "error")
    assert runner() == "failed"
    assert runner.tasks == {"build": "failed", "publish": "upstream_failed", "emit_metadata": "success"}
    assert runner.events == [], "nothing published: no asset event, so no consumer starts"
    blocked = (
        "quality rules failed: inventory.listings.daily_snapshot: quality rule 'at_most_ten' fails (severity error): "
        "row_count is 411, expected <= 10"
    )
    assert blocked in runner.output
    ((_, incident),) = incidents(runner.state).items()
    assert incident["description"] == blocked
    failed = assertion_of(runner.state, "at_most_ten")
    assert failed["assertionInfo"]["customProperties"]["severity"] == "error"
    assert (failed["assertionRunEvent"]["result"]["type"], failed["assertionRunEvent"]["result"]["actualAggValue"]) == (
        "FAILURE",
        411,
    )
    dataset = next(u for u in _lite_ids(runner.state) if u.startswith("urn:li:dataset:") and ".inventory.listings," in u)
    assert "operation" not in lite_aspects(runner.state, dataset), "no publication recorded in DataHub either"

    set_quality_rules(runner.root, "warn")
    assert runner() == "success"
    (extra,) = runner.events
    warnings = extra["quality_warnings"]
    assert [w.split(": ", 2)[1] for w in warnings] == [
        "quality rule 'at_most_ten' fails (severity warn)",
        "quality rule 'invalid_values_fuel_type' fails (severity warn)",
    ]
    assert "invalid_values of 'fuel_type' (accepted: petrol, diesel) is " in warnings[1]
    assert all(w in runner.output for w in warnings), "the warnings are in the task log"
    warned = assertion_of(runner.state, "invalid_values_fuel_type")
    assert warned["assertionInfo"]["type"] == "DATASET"
    assert (warned["assertionRunEvent"]["result"]["type"], warned["assertionRunEvent"]["result"]["severity"]) == (
        "FAILURE",
        "LOW",
    )
    assert "operation" in lite_aspects(runner.state, dataset), "published, and DataHub has the publication"


def test_datahub_down_never_fails_the_data_nor_loses_the_metadata(runner):
    gms = FakeGMS().start()
    port = gms.port
    gms.stop()  # DataHub is down: connections are refused
    # one retry: with the SDK's default four, each flush while GMS is down takes about 30 s
    extra = {"retry_max_times": 1}
    connection = json.dumps({"conn_type": "datahub-rest", "host": f"http://127.0.0.1:{port}", "extra": extra})
    down = {"AIRFLOW_CONN_DATAPRODUCTS_DATAHUB": connection}

    torn = runner.state / "datahub" / "outbox" / "00000000000000000001-0badf00d-n00003-catalog-x.json"
    torn.parent.mkdir(parents=True)
    torn.write_text('[{"entityType": "dataset", "entityUrn": "urn:li:dat')  # a batch that can never be read back

    assert runner(down) == "success"
    # the emit_metadata task's log says what waits, and what was quarantined and why
    assert "backlog 1 batches" in runner.output and "1 quarantined" in runner.output, runner.output[-3000:]
    assert f"quarantined {torn.name} (3 MCPs" in runner.output and "JSONDecodeError" in runner.output
    status = runner.cli("metadata", "status")
    assert "1 batches" in status and "1 quarantined" in status, status

    gms.start()  # DataHub is back on the same port
    try:
        runner.cli("metadata", "flush", extra_env=down)
        assert "0 batches" in runner.cli("metadata", "status")
        received = {(p.urn, p.aspect_name) for p in gms.received()}
        assert (urns.data_product_urn(PRODUCT), "dataProductProperties") in received
        assert any(name == "dataProcessInstanceRunEvent" for _, name in received)
        assert not [urn for urn, _ in received if urn.startswith("urn:li:incident:")]
    finally:
        gms.stop()


def test_a_manual_run_with_full_refresh_from_the_trigger_form_recreates_the_tables(runner):
    """The trigger form's fields are DAG params; they reach the build as the run's conf."""
    import duckdb

    assert runner() == "success"
    assert runner(conf={"business_date": "2026-11-04", "full_refresh": True}) == "success"
    with duckdb.connect(str(runner.state / "warehouse.duckdb"), read_only=True) as db:
        dates = {str(d) for (d,) in db.execute("select distinct business_date from inventory.listings").fetchall()}
    assert dates == {"2026-11-04"}, "a full refresh keeps only the date it built"
    assert runner.note == "Business date 2026-11-04 (full refresh)", "the run's note says what it built"


def test_a_failure_tells_the_owner_in_the_log_by_email_and_by_webhook(runner):
    """Airflow's notifier mechanism (the tasks' on_failure_callback) against a local SMTP server
    (aiosmtpd) and a local HTTP server: product, business date, first error line, log link, rerun."""
    from aiosmtpd.controller import Controller

    mails: list = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            mails.append(envelope)
            return "250 OK"

    smtp = Controller(Inbox(), hostname="127.0.0.1", port=_free_port())
    smtp.start()
    web = Webhook()
    posts = web.posts
    env = {
        "AIRFLOW_CONN_NOTIFY_SMTP": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp.port,
                "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@example.com", "retry_limit": 1},
            }
        ),
        "AIRFLOW_CONN_NOTIFY_HOOK": json.dumps({"conn_type": "http", "host": web.url("/hooks/oncall")}),
        "DATAPRODUCTS_NOTIFY_SMTP_CONN_ID": "notify_smtp",
        "DATAPRODUCTS_NOTIFY_WEBHOOK_CONN_ID": "notify_hook",
    }
    try:
        assert runner(extra_env=env) == "success"
        assert not mails and not posts, "a success tells nobody"
        change_listings_model(runner.root, "r.listing_id,", "cast(null as varchar) as listing_id,")
        assert runner(extra_env=env) == "failed"
    finally:
        smtp.stop()
        web.close()
    rerun = f"dataproducts rerun {PRODUCT} --business-date {DATE}"
    assert f"dataproducts: notifying inventory <inventory-team@example.com>: {PRODUCT} failed" in runner.output
    ((mail),) = mails
    assert mail.rcpt_tos == ["inventory-team@example.com"] and mail.mail_from == "airflow@example.com"
    message = email.message_from_bytes(mail.content)
    assert message["Subject"] == f"[dataproducts] {PRODUCT} failed for business date {DATE}"
    body = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert f"Business date: {DATE}" in body and rerun in body
    assert "Error: dbt build failed for path:models/listings (2026-11-03): test.inventory.not_null_listings_listing_id" in body
    ((path, notice),) = posts
    assert path == "/hooks/oncall"
    assert notice["product_id"] == PRODUCT and notice["business_date"] == DATE and notice["rerun_command"] == rerun
    assert notice["task_id"] == "build" and notice["owner"] == "inventory"
    assert notice["log_url"].startswith(f"http://localhost:8080/dags/{PRODUCT}/runs/") and "/tasks/build" in notice["log_url"]
    assert notice["error"].startswith("dbt build failed for path:models/listings (2026-11-03)")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_run_is_scored_from_its_history(runner):
    """The emit_metadata task appends each run to the run history; the score's runs, freshness and
    incidents parts come from it, and DataHub gets the same total as `dataproducts score` prints."""
    assert runner() == "success"
    repair = change_listings_model(runner.root, "r.listing_id,", "cast(null as varchar) as listing_id,")
    assert runner() == "failed"
    repair()

    lines = (runner.state / "history" / "runs.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["succeeded"], e["published"], e["business_date"]) for e in entries] == [
        (True, [f"{PRODUCT}.daily_snapshot"], DATE),
        (False, [], DATE),
    ]
    (item,) = _json_tail(runner.cli("score", PRODUCT, "--format", "json"))["products"]
    parts = {p["name"]: p for p in item["parts"]}
    assert parts["runs"]["fraction"] == 0.5 and parts["runs"]["detail"] == "1 of 2 runs succeeded in the last 30 days"
    assert parts["incidents"]["detail"] == "1 open", "the failure's incident is open"
    assert parts["freshness"]["fraction"] == 1.0  # published minutes ago, SLA in hours
    product = lite_aspects(runner.state, urns.data_product_urn(PRODUCT))
    values = {p["propertyUrn"]: p["values"][0]["double"] for p in product["structuredProperties"]["properties"]}
    assert values["urn:li:structuredProperty:dataproducts.quality_score"] == item["score"]
    assert values["urn:li:structuredProperty:dataproducts.quality_score.runs"] == 7.5


def _json_tail(output: str) -> dict:
    """The JSON document a command printed after any log lines."""
    return json.JSONDecoder().raw_decode(output[output.index("{\n") :])[0]
