"""Freshness SLAs: the one rule, what the checker sends DataHub over a sequence of checks (the
real SDK's MCPs from the outbox, then DataHub Lite), and `dataproducts freshness` against a local
HTTP server standing in for Airflow's REST API (tests/fake_airflow.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from datahub.metadata import schema_classes as models
from fake_airflow import TOKEN, FakeAirflow

from dataproducts.cli import main
from dataproducts.core import freshness
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.metadata import delivery, urns
from dataproducts.metadata.datasets import product_datasets
from dataproducts.metadata.freshness_check import check_freshness, log_line
from dataproducts.metadata.sinks import open_lite

T0 = dt.datetime(2026, 11, 4, 3, 0, tzinfo=dt.UTC)
LISTINGS = "inventory.listings.daily_snapshot"  # SLA 26 h in the tests' mesh
CATALOG = "inventory.vehicle_catalog.models"  # SLA 168 h


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


# --- the rule ------------------------------------------------------------------------------------


def test_a_port_is_stale_only_when_its_latest_publication_is_older_than_its_sla():
    assert freshness.evaluate(T0, 26, T0 + hours(26)).state == "fresh", "an age equal to the SLA is still fresh"
    stale = freshness.evaluate(T0, 26, T0 + hours(26.5))
    assert (stale.state, stale.age_hours, stale.stale) == ("stale", 26.5, True)
    assert stale.describe() == "stale: published 26.5 h ago, SLA 26 h"
    assert freshness.evaluate(None, 26, T0) == freshness.Freshness("never", 26), "never published: its own state"
    assert freshness.evaluate(None, 26, T0).describe() == "never: never published, SLA 26 h"
    assert freshness.evaluate(T0, None, T0 + hours(1000)).state == "no_sla"
    assert freshness.evaluate(T0 + hours(1), 26, T0).age_hours == 0, "a clock behind the publication is age 0, not negative"
    assert freshness.worst(["fresh", "no_sla", "never"]) == "never" and freshness.worst(["never", "stale"]) == "stale"
    assert freshness.worst([]) is None


@pytest.mark.parametrize(
    "incident_open, state, change",
    [
        (False, "stale", "raise"),
        (True, "stale", None),  # once per stale period
        (True, "fresh", "resolve"),
        (True, "no_sla", "resolve"),  # the SLA was taken out of the spec
        (True, "never", None),
        (False, "fresh", None),
        (False, "never", None),
    ],
)
def test_a_freshness_incident_is_raised_once_and_resolved_by_a_fresh_publication(incident_open, state, change):
    assert freshness.incident_change(incident_open, state) == change


def test_the_page_uses_the_same_rule():
    from dataproducts.airflow import operations

    publication = {"published_at": T0.isoformat(), "business_date": "2026-11-03", "rows": 411}
    shown = operations.freshness(publication, 26, T0 + hours(27))
    assert (shown["state"], shown["age_hours"], shown["rows"]) == ("stale", 27.0, 411)
    assert operations.freshness(None, 26, T0) == {"state": "never", "max_age_hours": 26}


# --- the checker and DataHub -----------------------------------------------------------------------


@pytest.fixture
def project(project_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    return Project(project_copy)


def check(project, published, now):
    """One check, as the catalogue DAG makes it; returns the report and its batch's MCPs by (urn, aspect)."""
    report = check_freshness(project, load_mesh(project), published, now)
    outbox = delivery.outbox_for(project)
    mcps = outbox.read(outbox.directory / report.batch) if report.batch else []
    return report, {(m.entityUrn, m.aspectName): m.aspect for m in mcps}


def run_event(mcps, port_id):
    return mcps[(urns.freshness_assertion_urn(port_id), "assertionRunEvent")]


def incidents_in(mcps) -> dict[str, models.IncidentInfoClass]:
    return {urn: aspect for (urn, name), aspect in mcps.items() if name == "incidentInfo"}


def test_stale_and_fresh_ports_in_datahub_and_one_incident_per_stale_period(project):
    mesh = load_mesh(project)
    (listings_dataset,) = [o.urn for o in product_datasets(mesh, "inventory.listings").outputs]

    # 1. both published an hour ago: fresh, SUCCESS, no incident
    report, mcps = check(project, {LISTINGS: T0, CATALOG: T0}, T0 + hours(1))
    info = mcps[(urns.freshness_assertion_urn(LISTINGS), "assertionInfo")]
    assert isinstance(info, models.AssertionInfoClass) and info.type == models.AssertionTypeClass.FRESHNESS
    assert info.freshnessAssertion.entity == listings_dataset and info.entityUrn == listings_dataset
    assert info.freshnessAssertion.type == models.FreshnessAssertionTypeClass.DATASET_CHANGE
    interval = info.freshnessAssertion.schedule.fixedInterval
    assert (interval.unit, interval.multiple) == (models.CalendarIntervalClass.HOUR, 26)
    assert run_event(mcps, LISTINGS).result.type == models.AssertionResultTypeClass.SUCCESS
    assert run_event(mcps, LISTINGS).asserteeUrn == listings_dataset
    assert incidents_in(mcps) == {} and report.changed("raise") == []
    never = "user_behaviour.listing_engagement.daily"
    assert (urns.freshness_assertion_urn(never), "assertionInfo") in mcps, "a port with an SLA has its assertion ..."
    assert (urns.freshness_assertion_urn(never), "assertionRunEvent") not in mcps, "... and no result before it published"

    # 2. 27 h later listings (SLA 26 h) is stale: FAILURE and an incident, raised now
    report, mcps = check(project, {LISTINGS: T0, CATALOG: T0}, T0 + hours(27))
    assert [c.port.port_id for c in report.changed("raise")] == [LISTINGS]
    failure = run_event(mcps, LISTINGS)
    assert failure.result.type == models.AssertionResultTypeClass.FAILURE
    assert failure.result.nativeResults == {
        "state": "stale",
        "age_hours": "27",
        "max_age_hours": "26",
        "published_at": T0.isoformat(),
    }
    assert run_event(mcps, CATALOG).result.type == models.AssertionResultTypeClass.SUCCESS, "168 h SLA: still fresh"
    ((incident_urn, incident),) = incidents_in(mcps).items()
    assert incident_urn == urns.freshness_incident_urn(LISTINGS, T0.isoformat())
    assert incident.type == models.IncidentTypeClass.FRESHNESS
    assert incident.status.state == models.IncidentStateClass.ACTIVE
    assert incident.entities == [listings_dataset, urns.data_product_urn("inventory.listings")]
    assert incident.title == f"{LISTINGS} is stale"
    assert incident.source.sourceUrn == urns.freshness_assertion_urn(LISTINGS)
    assert incident.startedAt == int((T0 + hours(26)).timestamp() * 1000), "stale from the publication plus the SLA"
    assert log_line(report) == (
        f"freshness: 1 stale, 6 never, 1 fresh; stale: {LISTINGS} (stale: published 27.0 h ago, SLA 26 h); "
        "incidents raised 1, resolved 0"
    )

    # 3. still stale ten minutes (and hours) later: the result again, the incident not again
    for later in (27.2, 40):
        report, mcps = check(project, {LISTINGS: T0, CATALOG: T0}, T0 + hours(later))
        assert run_event(mcps, LISTINGS).result.type == models.AssertionResultTypeClass.FAILURE
        assert incidents_in(mcps) == {} and report.changed("raise") == []

    # 4. a fresh publication resolves that very incident, keeping its title and description
    report, mcps = check(project, {LISTINGS: T0 + hours(41), CATALOG: T0}, T0 + hours(41.5))
    assert [c.port.port_id for c in report.changed("resolve")] == [LISTINGS]
    resolved = incidents_in(mcps)[incident_urn]
    assert resolved.status.state == models.IncidentStateClass.RESOLVED
    assert resolved.status.message == "Resolved: fresh: published 0.5 h ago, SLA 26 h."
    assert (resolved.title, resolved.description) == (incident.title, incident.description)
    assert run_event(mcps, LISTINGS).result.type == models.AssertionResultTypeClass.SUCCESS

    # 5. a new stale period is a new incident
    report, mcps = check(project, {LISTINGS: T0 + hours(41), CATALOG: T0}, T0 + hours(70))
    assert list(incidents_in(mcps)) == [urns.freshness_incident_urn(LISTINGS, (T0 + hours(41)).isoformat())]

    # 6. a broken spec keeps its incident open; a deleted one resolves it
    second = urns.freshness_incident_urn(LISTINGS, (T0 + hours(41)).isoformat())
    spec_file = project.specs_dir / "inventory" / "listings.yaml"
    spec_file.write_text(spec_file.read_text().replace("version:", "versoin:", 1))
    report, mcps = check(project, {CATALOG: T0}, T0 + hours(80))
    assert incidents_in(mcps) == {} and LISTINGS not in {c.port.port_id for c in report.checks}
    spec_file.unlink()
    report, mcps = check(project, {CATALOG: T0}, T0 + hours(81))
    gone = incidents_in(mcps)[second]
    assert gone.status.state == models.IncidentStateClass.RESOLVED
    assert gone.status.message == "Resolved: the port is no longer in the mesh (its spec was deleted or the port removed)."
    assert [c.port.port_id for c in report.changed("resolve")] == [LISTINGS]

    # every batch reaches DataHub (Lite here) through the outbox
    assert delivery.flush(project).remaining_batches == 0
    lite = open_lite(project.state_dir / "datahub" / "lite.db", read_only=True)
    try:
        first = lite.get(incident_urn, ["incidentInfo"])["incidentInfo"]
        assert first["status"]["state"] == "RESOLVED" and first["type"] == "FRESHNESS"
        assertion = lite.get(urns.freshness_assertion_urn(LISTINGS), ["assertionInfo"])["assertionInfo"]
        assert assertion["type"] == "FRESHNESS"
    finally:
        lite.close()


# --- the CLI ---------------------------------------------------------------------------------------


def freshness_cli(capsys, root, url, *args):
    code = main(["--root", str(root), "freshness", "--airflow-url", url, "--token", TOKEN, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_freshness_command_shows_each_ports_state_age_and_sla_and_exits_1_when_one_is_stale(compiled_repo, capsys):
    now = dt.datetime.now(dt.UTC)
    with FakeAirflow() as server:
        server.assets = {LISTINGS: (now - hours(30)).isoformat().replace("+00:00", "Z"), CATALOG: (now - hours(2)).isoformat()}
        code, out, _ = freshness_cli(capsys, compiled_repo, server.url)
        lines = out.splitlines()
        assert code == 1
        assert lines[0].split() == ["port", "state", "age", "SLA", "latest", "publication"]
        listings = next(line for line in lines if line.startswith(LISTINGS + " "))
        assert listings.split()[1:6] == ["stale", "30.0", "h", "26", "h"]
        assert next(line for line in lines if line.startswith(CATALOG + " ")).split()[1:6] == ["fresh", "2.0", "h", "168", "h"]
        never = next(line for line in lines if line.startswith("pricing.market_prices.daily "))
        assert never.split()[1:] == ["never", "-", "26", "h", "never"]
        assert lines[-1] == "8 ports: 1 stale, 6 never, 1 fresh"
        assert (server.requests[0].path, server.requests[0].query["uri_prefix_pattern"]) == ("/api/v2/assets", ["dataproduct://"])

        code, out, _ = freshness_cli(capsys, compiled_repo, server.url, "inventory.vehicle_catalog", "--format", "json")
        assert code == 0, "only this product's ports, none stale"
        document = json.loads(out)
        assert [p["port"] for p in document["ports"]] == [CATALOG] and document["stale"] == []
        assert document["ports"][0]["state"] == "fresh" and document["ports"][0]["max_age_hours"] == 168


def test_the_freshness_command_cannot_tell_without_airflow(compiled_repo, capsys):
    code, _, err = freshness_cli(capsys, compiled_repo, "http://127.0.0.1:9")
    assert code == 2 and err.startswith("freshness: cannot reach Airflow at http://127.0.0.1:9")
    code, _, err = freshness_cli(capsys, compiled_repo, "http://127.0.0.1:9", "pricing.nope")
    assert code == 2 and "'pricing.nope' is not a valid product" in err
    with FakeAirflow() as server:
        code = main(["--root", str(compiled_repo), "freshness", "--airflow-url", server.url, "--token", "expired"])
        err = capsys.readouterr().err
    assert code == 2 and err == f"freshness: Airflow at {server.url} refused to list the assets (401 Unauthorized): " + (
        "check the token, or the user and password, and that the user may trigger DAGs\n"
    )
