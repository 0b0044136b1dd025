"""The quality score: its parts from facts (core/quality_score), the run history the product runs
write (core/run_history, through metadata/delivery.deliver_run as the emit_metadata task calls
it), the score in DataHub as structured properties (the SDK's classes, into DataHub Lite and back),
`dataproducts score` and `show`, the Data mesh page and the demo's closing report.

A real product run through Airflow's dag.test() is in tests/test_product_run.py
(test_a_run_is_scored_from_its_history).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dataproducts.core import run_history
from dataproducts.core.manifest import load_manifest
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.core.quality_score import RunFact, fresh_fraction, score
from dataproducts.core.run_outcome import QualityCheckResult
from dataproducts.metadata.run_record import RunRecord

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
PRODUCT = "pricing.price_ratings"
WARNING = "pricing.price_ratings.ratings: quality rule 'null_values_market_key' fails (severity warn): null_values is 20, expected <= 10"


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


def test_fresh_fraction_is_the_share_of_time_within_the_sla():
    start = NOW - hours(100)
    assert fresh_fraction([start], hours(100), NOW) == 1.0
    assert fresh_fraction([start], hours(50), NOW) == 0.5  # fresh 50 h, then stale 50 h
    # published at 0 h and 60 h, SLA 30 h: stale from 30 to 60 and from 90 to 100 -> 40 of 100 h stale
    assert fresh_fraction([start, start + hours(60)], hours(30), NOW) == 0.6


def _mesh(root):
    mesh = load_mesh(Project(root))
    assert not mesh.errors, [str(e) for e in mesh.errors]
    return mesh


def test_every_part_from_the_spec_its_manifest_the_history_and_the_incidents(compiled_repo):
    mesh = _mesh(compiled_repo)
    spec = mesh.products[PRODUCT]
    manifest = load_manifest(mesh.project.manifest_path(spec.transform.dbt.project))
    port = f"{PRODUCT}.{spec.output_ports[0].name}"
    sla = spec.output_ports[0].freshness.max_age_hours
    history = [
        RunFact(NOW - dt.timedelta(days=40), False),  # outside the 30 days: ignored
        RunFact(NOW - hours(3 * sla), True, (port,)),
        RunFact(NOW - hours(2 * sla), False),
        RunFact(NOW - hours(sla / 2), True, (port,)),
    ]
    result = score(spec, manifest, history, open_incidents=1, now=NOW)
    parts = {p.name: p for p in result.parts}
    assert parts["runs"].fraction == round(2 / 3, 3) and parts["runs"].detail == "2 of 3 runs succeeded in the last 30 days"
    assert parts["freshness"].fraction == 0.5  # stale from 1 x SLA to 2.5 x SLA of 3 x SLA
    assert parts["incidents"].fraction == 0.5 and parts["incidents"].detail == "1 open"
    assert parts["quality_rules"].fraction == 0.0  # the fixture mesh writes no rules: the default one does not count
    assert parts["contract_coverage"].fraction == 1.0, parts["contract_coverage"].detail
    assert parts["ownership"].fraction == 1.0
    expected = sum(p.weight * p.fraction for p in result.parts) / 100
    assert result.total == round(100 * expected)

    no_facts = score(spec, None, [], open_incidents=0, now=NOW)
    assert no_facts.part("runs").fraction is None and no_facts.part("freshness").fraction is None
    assert no_facts.part("contract_coverage").fraction == 0.0 and "(no dbt manifest)" in no_facts.part("contract_coverage").detail
    known = [p for p in no_facts.parts if p.fraction is not None]
    assert no_facts.total == round(100 * sum(p.weight * p.fraction for p in known) / sum(p.weight for p in known))


def _record(run_id: str, succeeded: bool, ended: dt.datetime, warn: bool = False) -> RunRecord:
    quality = [
        QualityCheckResult(
            unique_id=f"quality.{PRODUCT}.ratings.null_values_market_key",
            port_id=f"{PRODUCT}.ratings",
            table="price_ratings",
            rule="null_values_market_key",
            severity="warn",
            observed=20.0,
            threshold="<= 10",
            passed=not warn,
            message=WARNING,
        )
    ]
    ms = int(ended.timestamp() * 1000)
    return RunRecord(
        product_id=PRODUCT,
        dag_id=PRODUCT,
        run_id=run_id,
        try_number=1,
        business_date="2026-11-03",
        started_at_ms=ms - 5000,
        ended_at_ms=ms,
        succeeded=succeeded,
        failure_message="" if succeeded else "dbt failed",
        quality=quality,
    )


@pytest.fixture
def delivered(project_copy, monkeypatch):
    """Two runs of pricing.price_ratings delivered as the emit_metadata task delivers them (a
    failure, then a success that published with a quality warning), into DataHub Lite."""
    from dataproducts.metadata import delivery

    state = project_copy / "state"
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(state))
    monkeypatch.setenv("DATAPRODUCTS_HOME", str(project_copy))
    mesh = _mesh(project_copy)
    now = dt.datetime.now(dt.UTC)
    delivery.deliver_run(mesh.project, mesh, _record("manual__1", False, now - hours(2)), None)
    report = delivery.deliver_run(mesh.project, mesh, _record("manual__2", True, now - hours(1), warn=True), None)
    assert report.ok and report.remaining_batches == 0, report
    return mesh


def test_runs_write_a_bounded_history_and_the_score_reaches_datahub_as_structured_properties(delivered):
    from dataproducts.metadata.scoring import scores
    from dataproducts.metadata.sinks import open_lite

    entries = run_history.read(delivered.project.state_dir)
    assert [(e.run_id, e.succeeded, e.published, e.warnings) for e in entries] == [
        ("manual__1", False, [], []),
        ("manual__2", True, [f"{PRODUCT}.ratings"], [WARNING]),
    ]
    result = scores(delivered, dt.datetime.now(dt.UTC), [PRODUCT])[PRODUCT]
    assert result.part("runs").detail == "1 of 2 runs succeeded in the last 30 days"
    assert result.part("incidents").fraction == 1.0, "the success resolved the failure's incident"
    assert result.part("freshness").fraction == 1.0

    lite = open_lite(delivered.project.state_dir / "datahub" / "lite.db", read_only=True)
    try:
        product = lite.get(f"urn:li:dataProduct:{PRODUCT}", ["structuredProperties"], typed=False) or {}
        definition = lite.get("urn:li:structuredProperty:dataproducts.quality_score", None, typed=False) or {}
    finally:
        lite.close()
    values = {p["propertyUrn"].rsplit(":", 1)[1]: p["values"][0]["double"] for p in product["structuredProperties"]["properties"]}
    assert values["dataproducts.quality_score"] == result.total
    assert values["dataproducts.quality_score.runs"] == result.part("runs").points == 7.5
    assert definition["propertyDefinition"]["valueType"] == "urn:li:dataType:datahub.number"
    assert definition["propertyDefinition"]["entityTypes"] == ["urn:li:entityType:datahub.dataProduct"]

    # bounded: a run older than 30 days leaves the file with the next append
    old = run_history.HistoryEntry(PRODUCT, "old", 1, (dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).isoformat(), True)
    path = run_history.history_path(delivered.project.state_dir)
    path.write_text(json.dumps(old.__dict__) + "\n" + path.read_text())
    run_history.append(delivered.project.state_dir, entries[-1])
    assert [e.run_id for e in run_history.read(delivered.project.state_dir)] == ["manual__1", "manual__2"]


def test_score_mcps_round_trip_through_the_sdk(compiled_repo):
    from datahub.emitter.mcp import MetadataChangeProposalWrapper as MCPW
    from datahub.metadata.schema_classes import StructuredPropertiesClass

    from dataproducts.metadata.score_aspects import definition_mcps, score_mcps
    from dataproducts.metadata.scoring import scores

    result = scores(_mesh(compiled_repo), NOW, [PRODUCT])[PRODUCT]
    mcps = definition_mcps() + score_mcps(result)
    for mcp in mcps:
        assert mcp.validate(), mcp
        again = MCPW.from_obj(json.loads(json.dumps(mcp.to_obj())))
        assert again.aspect == mcp.aspect and again.entityUrn == mcp.entityUrn
    (values,) = [m.aspect for m in mcps if isinstance(m.aspect, StructuredPropertiesClass)]
    assert {p.propertyUrn: p.values for p in values.properties}["urn:li:structuredProperty:dataproducts.quality_score"] == [
        float(result.total)
    ]
    assert "urn:li:structuredProperty:dataproducts.quality_score.runs" not in {p.propertyUrn for p in values.properties}, (
        "n/a: no value"
    )


def test_an_unchanged_score_is_not_sent_again(delivered):
    from dataproducts.metadata.delivery import outbox_for
    from dataproducts.metadata.score_delivery import deliver_scores

    outbox = outbox_for(delivered.project)
    now = dt.datetime.now(dt.UTC)
    deliver_scores(delivered, now)  # the other products' first scores
    waiting = outbox.status().batches
    assert waiting == 1
    deliver_scores(delivered, now + dt.timedelta(seconds=1))
    assert outbox.status().batches == waiting, "nothing changed: no batch"
    deliver_scores(delivered, now + dt.timedelta(days=31))  # the runs leave the window: runs and freshness n/a
    assert outbox.status().batches == waiting + 1


def test_cli_score_and_show(delivered, capsys):
    from dataproducts.cli import main

    assert main(["--root", str(delivered.project.root), "score"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:2] == ["product", "score"]
    line = next(x for x in table.splitlines() if x.startswith(PRODUCT))
    assert "7.5/15" in line  # runs: 1 of 2

    assert main(["--root", str(delivered.project.root), "score", PRODUCT, "--format", "json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)["products"]
    assert item["product_id"] == PRODUCT and item["warnings"] == [WARNING]
    assert {p["name"]: p["points"] for p in item["parts"]}["runs"] == 7.5

    assert main(["--root", str(delivered.project.root), "show", PRODUCT, "--airflow-url", "http://127.0.0.1:9"]) == 0
    shown = capsys.readouterr().out
    assert "  quality:\n    quality score " in shown
    assert "    runs                   7.5 / 15  1 of 2 runs succeeded in the last 30 days" in shown
    assert f"    quality warning (latest run): {WARNING}" in shown
    assert "      quality rules:\n        row_count                    warn   row_count > 0  (the default rule)" in shown


def test_data_mesh_page_shows_score_parts_rules_and_warnings(delivered, monkeypatch):
    from markupsafe import escape

    from dataproducts.airflow.ui import mesh_data, render_page

    data = mesh_data(delivered.project.root)
    product = next(p for p in data["products"] if p["id"] == PRODUCT)
    assert product["quality_warnings"] == [WARNING]
    assert isinstance(product["quality"]["score"], int)
    assert product["quality"]["parts"]["runs"] == "7.5/15, 1 of 2 runs succeeded in the last 30 days"
    assert product["output_ports"][0]["quality_rules"] == [
        "row_count                    warn   row_count > 0  (the default rule)"
    ]
    page = render_page(data)
    row = page.split(f'<tr id="product-{PRODUCT}">', 1)[1].split("</tr>", 1)[0]
    assert str(escape(WARNING)) in row and "Warning</span>" in row
    assert f'">{product["quality"]["score"]}</span></summary>' in row
    assert "<b>runs</b> 7.5/15, 1 of 2 runs succeeded in the last 30 days" in row
    assert "<th>Quality</th>" in page


def test_demo_report_shows_each_score_and_the_warnings(delivered):
    from dataproducts.metadata.scoring import scores
    from dataproducts.ops.quality_report import quality_report

    report = quality_report(delivered).splitlines()
    totals = scores(delivered, dt.datetime.now(dt.UTC))
    assert report[0].split()[:2] == ["product", "score"]
    for pid, result in totals.items():
        assert any(line.split()[:2] == [pid, str(result.total)] for line in report), (pid, report)
    line = report.index(next(x for x in report if x.startswith(PRODUCT)))
    assert "runs 7.5/15" in report[line] and report[line + 1].strip() == f"warning: {WARNING}"
    assert report[-1].startswith(f"quality: 1 of {len(totals)} products published with warnings")


def test_dag_docs_list_each_ports_rules(compiled_repo):
    from dataproducts.airflow.docs import product_doc_md

    spec = _mesh(compiled_repo).products[PRODUCT]
    doc = product_doc_md(spec, "product_specs/pricing/price_ratings.yaml", [])
    assert "- **row\\_count** (warn): row\\_count &gt; 0 \\(the default rule\\)" in doc, doc
