"""DataHub metadata builder: golden files of the example mesh, plus focused checks a golden can't hide.

Regenerate the goldens with: UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_metadata_builder.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from datahub.emitter.mcp import MetadataChangeProposalWrapper
from datahub.ingestion.sink.file import write_metadata_file
from datahub.metadata import schema_classes as models
from datahub.testing.compare_metadata_json import diff_metadata_json

from dataproducts.metadata import urns
from dataproducts.metadata.catalog import catalog_mcps, removed_mcps
from dataproducts.metadata.datasets import product_datasets
from dataproducts.metadata.run_record import RunRecord
from dataproducts.metadata.run_record import TestOutcome as Outcome  # not a test class
from dataproducts.metadata.runs import run_mcps

GOLDEN_DIR = Path(__file__).parent / "golden"
BASE_URL = "http://localhost:8080"
GIT_REVISION = "test-rev"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

RUN_PRODUCT = "pricing.market_prices"
T0 = 1_793_700_000_000  # 2026-11-03T...Z, fixed

SUCCESS = RunRecord(
    product_id=RUN_PRODUCT,
    dag_id=RUN_PRODUCT,
    run_id="asset_triggered__2026-11-03T01:30:00+00:00",
    try_number=1,
    business_date="2026-11-03",
    started_at_ms=T0,
    ended_at_ms=T0 + 42_000,
    succeeded=True,
    dbt_invocation_id="11111111-2222-3333-4444-555555555555",
    row_counts={"market_prices": 57},
    tests=[
        Outcome(
            "test.pricing.not_null_market_prices_business_date.9313d453d4",
            "pass",
            column="business_date",
            test_name="not_null",
            table="market_prices",
        ),
        Outcome(
            "test.pricing.unique_market_prices_market_key.0a1b2c3d4e",
            "pass",
            column="market_key",
            test_name="unique",
            table="market_prices",
        ),
    ],
)

FAILURE = RunRecord(
    product_id=RUN_PRODUCT,
    dag_id=RUN_PRODUCT,
    run_id="manual__2026-11-04T06:00:00+00:00",
    try_number=2,
    business_date="2026-11-04",
    started_at_ms=T0 + 86_400_000,
    ended_at_ms=T0 + 86_430_000,
    succeeded=False,
    failure_message="Failure in test unique_market_prices_market_key: Got 2 results, configured to fail if != 0",
    dbt_invocation_id="66666666-7777-8888-9999-000000000000",
    tests=[
        Outcome(
            "test.pricing.not_null_market_prices_business_date.9313d453d4",
            "pass",
            column="business_date",
            test_name="not_null",
            table="market_prices",
        ),
        Outcome(
            "test.pricing.unique_market_prices_market_key.0a1b2c3d4e",
            "fail",
            message="Got 2 results",
            column="market_key",
            test_name="unique",
            table="market_prices",
        ),
    ],
)


@pytest.fixture(scope="session")
def mesh(compiled_repo):
    from dataproducts.core.mesh import load_mesh
    from dataproducts.core.project import Project

    loaded = load_mesh(Project(compiled_repo))
    assert not loaded.errors, loaded.errors
    return loaded


COMPILE = """
import sys
from pathlib import Path
from dataproducts.core.project import Project
from dataproducts.dbt import runner
project = Project(Path(sys.argv[1]))
runner.warehouse_env(project)
for name in sys.argv[3:]:
    result = runner.invoke(runner.dbt_args(project, "compile", name, Path(sys.argv[2]) / name, []))
    if not result.success:
        raise SystemExit(f"dbt compile {name}: {result.exception}")
"""


@pytest.fixture(scope="session")
def dbt_compiled(mesh, tmp_path_factory) -> dict[str, str]:
    """The SQL `dbt compile` writes for every output model of the test mesh: what a run compiles, and
    what the run record carries (model unique id -> SQL)."""
    import subprocess
    import sys

    from dataproducts.core.manifest import compiled_sql

    work = tmp_path_factory.mktemp("dbt-compile")
    projects = sorted({spec.transform.dbt.project for spec in mesh.products.values()})
    env = {**os.environ, "DATAPRODUCTS_STATE_DIR": str(work / "state")}
    subprocess.run([sys.executable, "-c", COMPILE, str(mesh.project.root), str(work), *projects], check=True, env=env)
    found = {}
    for spec in mesh.products.values():
        manifest = _manifest(mesh, spec.id)
        for port in spec.output_ports:
            model = manifest.model_for_table(port.table_name)
            found[model.unique_id] = compiled_sql(work / spec.transform.dbt.project / "target", manifest.project_name, model)
    assert all(found.values()), found
    return found


def _manifest(mesh, product_id):
    from dataproducts.core.manifest import load_manifest

    spec = mesh.products[product_id]
    return load_manifest(mesh.project.manifest_path(spec.transform.dbt.project))


def _aspects(mcps, urn, aspect_class):
    return [m.aspect for m in mcps if m.entityUrn == urn and isinstance(m.aspect, aspect_class)]


def _one(mcps, urn, aspect_class):
    found = _aspects(mcps, urn, aspect_class)
    assert len(found) == 1, f"{len(found)} {aspect_class.__name__} aspects on {urn}"
    return found[0]


def _check_golden(mcps: list[MetadataChangeProposalWrapper], name: str, tmp_path: Path) -> None:
    assert all(isinstance(m, MetadataChangeProposalWrapper) for m in mcps)
    output = tmp_path / f"{name}.json"
    write_metadata_file(output, mcps)
    golden = GOLDEN_DIR / f"{name}.json"
    if UPDATE or not golden.exists():
        if not UPDATE:
            pytest.fail(f"{golden} is missing; run with UPDATE_GOLDEN=1 to create it")
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        golden.write_text(output.read_text())
        return
    produced = json.loads(output.read_text())
    expected = json.loads(golden.read_text())
    diff = diff_metadata_json(produced, expected)  # DataHub's own, readable per-aspect diff
    assert not diff, f"{name}: metadata differs from {golden} (UPDATE_GOLDEN=1 to accept):\n" + (
        diff.pretty() if hasattr(diff, "pretty") else str(diff)
    )
    # DataHub's diff ignores timestamps and order; ours are deterministic, so hold them exactly too.
    assert produced == expected, f"{name}: order or timestamps differ from {golden} (UPDATE_GOLDEN=1 to accept)"


# ---------------------------------------------------------------- goldens


@pytest.mark.parametrize(
    "product_id",
    [
        "advertising.campaign_performance",
        "advertising.promotion_candidates",
        "inventory.listings",
        "inventory.vehicle_catalog",
        "pricing.market_prices",
        "pricing.price_ratings",
        "user_behaviour.listing_engagement",
    ],
)
def test_catalog_golden(mesh, dbt_compiled, product_id, tmp_path):
    assert product_id in mesh.products
    mcps = catalog_mcps(mesh, product_id, GIT_REVISION, BASE_URL, compiled_sql=dbt_compiled)
    _check_golden(mcps, f"catalog_{product_id}", tmp_path)


def test_every_product_has_a_golden(mesh):
    assert {f"catalog_{pid}.json" for pid in mesh.products} <= {p.name for p in GOLDEN_DIR.glob("catalog_*.json")}


def test_run_success_golden(mesh, tmp_path):
    _check_golden(run_mcps(mesh, SUCCESS), "run_success", tmp_path)


def test_run_failure_golden(mesh, tmp_path):
    _check_golden(run_mcps(mesh, FAILURE), "run_failure", tmp_path)


def test_removed_golden(tmp_path):
    _check_golden(removed_mcps(RUN_PRODUCT, []), "removed", tmp_path)


# ---------------------------------------------------------------- focused checks


def test_output_dataset_urn_matches_dbt_and_warehouse_ingestion(mesh):
    manifest = _manifest(mesh, "inventory.listings")
    db = manifest.model_for_table("listings").relation.database
    assert db
    expected = f"urn:li:dataset:(urn:li:dataPlatform:duckdb,{db.lower()}.inventory.listings,PROD)"
    datasets = product_datasets(mesh, "inventory.listings")
    assert [o.urn for o in datasets.outputs] == [expected]
    mcps = catalog_mcps(mesh, "inventory.listings", GIT_REVISION, BASE_URL)
    assert _one(mcps, expected, models.SubTypesClass).typeNames == ["Table"]
    assert _one(mcps, expected, models.StatusClass).removed is False


def test_dataset_urn_is_lower_case_and_unquoted():
    from dataproducts.core.manifest import Relation

    urn = urns.dataset_urn("postgres", Relation('"Warehouse"', "Pricing", "Market_Prices"))
    assert urn == "urn:li:dataset:(urn:li:dataPlatform:postgres,warehouse.pricing.market_prices,PROD)"


def test_market_prices_reads_both_inventory_outputs(mesh, dbt_compiled):
    listings = product_datasets(mesh, "inventory.listings").outputs[0].urn
    catalog = product_datasets(mesh, "inventory.vehicle_catalog").outputs[0].urn
    market = product_datasets(mesh, "pricing.market_prices").outputs[0].urn
    mcps = catalog_mcps(mesh, "pricing.market_prices", GIT_REVISION, BASE_URL, compiled_sql=dbt_compiled)
    lineage = _one(mcps, market, models.UpstreamLineageClass)
    assert sorted(u.dataset for u in lineage.upstreams) == sorted([listings, catalog])
    # Column lineage from the SQL parser: a direct copy and a derived column, tied to the right tables.
    by_column = {f.downstreams[0]: f.upstreams for f in lineage.fineGrainedLineages}
    field = f"urn:li:schemaField:({market},segment)"
    assert by_column[field] == [f"urn:li:schemaField:({catalog},segment)"]
    assert by_column[f"urn:li:schemaField:({market},median_price_eur)"] == [f"urn:li:schemaField:({listings},price_eur)"]
    assert f"urn:li:schemaField:({market},business_date)" not in by_column  # a literal has no upstream column
    # The build job sees the same datasets.
    io = _one(mcps, urns.data_job_urn("pricing.market_prices", "build"), models.DataJobInputOutputClass)
    assert io.inputDatasets == sorted([listings, catalog]) and io.outputDatasets == [market]


def _column_lineage(mcps, dataset: str) -> dict[str, list[str]]:
    lineage = _one(mcps, dataset, models.UpstreamLineageClass).fineGrainedLineages or []
    return {f.downstreams[0].rsplit(",", 1)[1][:-1]: f.upstreams for f in lineage}


def test_models_with_macros_or_ephemeral_models_get_column_lineage_from_the_sql_dbt_compiled(mesh, dbt_compiled):
    # listings.sql calls the dbt.datediff macro: only dbt's own compilation renders it
    listings = product_datasets(mesh, "inventory.listings")
    raw = {i.port_name: i.urn for i in listings.inputs}["raw_listings"]
    mcps = catalog_mcps(mesh, "inventory.listings", GIT_REVISION, BASE_URL, compiled_sql=dbt_compiled)
    columns = _column_lineage(mcps, listings.outputs[0].urn)
    assert columns["days_online"] == [f"urn:li:schemaField:({raw},created_at)"]
    assert columns["year"] == [f"urn:li:schemaField:({raw},first_registration_year)"]
    # promoted_listing_performance reads the ephemeral int_ad_delivery, which dbt compiles in as a CTE
    advertising = product_datasets(mesh, "advertising.campaign_performance")
    inputs = {i.port_name: i.urn for i in advertising.inputs}
    per_listing = next(o.urn for o in advertising.outputs if o.relation.name == "promoted_listing_performance")
    mcps = catalog_mcps(mesh, "advertising.campaign_performance", GIT_REVISION, BASE_URL, compiled_sql=dbt_compiled)
    columns = _column_lineage(mcps, per_listing)
    assert columns["listing_views"] == [f"urn:li:schemaField:({inputs['listing_engagement']},views)"]
    assert columns["listing_contacts"] == [f"urn:li:schemaField:({inputs['listing_engagement']},contacts)"]


def test_without_compiled_sql_lineage_is_table_level_only(mesh):
    # a catalogue sync before any run: `dbt parse` manifests hold no compiled SQL, and none is guessed
    for product_id in mesh.products:
        mcps = catalog_mcps(mesh, product_id, GIT_REVISION, BASE_URL)
        for output in product_datasets(mesh, product_id).outputs:
            lineage = _one(mcps, output.urn, models.UpstreamLineageClass)
            assert lineage.upstreams and not lineage.fineGrainedLineages


def test_per_output_lineage_follows_the_dbt_graph(mesh):
    datasets = product_datasets(mesh, "advertising.campaign_performance")
    mcps = catalog_mcps(mesh, "advertising.campaign_performance", GIT_REVISION, BASE_URL)
    by_table = {o.relation.name: o.urn for o in datasets.outputs}
    inputs = {i.port_name: i.urn for i in datasets.inputs}
    daily = _one(mcps, by_table["campaign_performance"], models.UpstreamLineageClass)
    per_listing = _one(mcps, by_table["promoted_listing_performance"], models.UpstreamLineageClass)
    assert {u.dataset for u in daily.upstreams} == set(inputs.values())
    # promoted_listing_performance reads the ephemeral int_ad_delivery only, not the campaigns table
    assert {u.dataset for u in per_listing.upstreams} == {inputs["ad_impressions"], inputs["listing_engagement"]}


def test_data_product_assets_are_exactly_its_output_datasets(mesh):
    for product_id in mesh.products:
        outputs = sorted(o.urn for o in product_datasets(mesh, product_id).outputs)
        mcps = catalog_mcps(mesh, product_id, GIT_REVISION, BASE_URL)
        props = _one(mcps, urns.data_product_urn(product_id), models.DataProductPropertiesClass)
        assert sorted(a.destinationUrn for a in props.assets) == outputs
        assert all(a.outputPort is True for a in props.assets)
        assert all(a.created.time == 0 for a in props.assets)
        assert props.externalUrl == f"{BASE_URL}/dags/{product_id}"
        assert props.customProperties["git_revision"] == GIT_REVISION
        assert props.customProperties["product_id"] == product_id
        ownership = _one(mcps, urns.data_product_urn(product_id), models.OwnershipClass)
        team = mesh.products[product_id].owner.team
        # the DataHub plugin's default: the DAG's owner as a corpuser (a corpGroup with capture_ownership_as_group)
        assert [(o.owner, o.type) for o in ownership.owners] == [(f"urn:li:corpuser:{team}", "TECHNICAL_OWNER")]
        assert _one(mcps, urns.data_product_urn(product_id), models.StatusClass).removed is False
        domains = _one(mcps, urns.data_product_urn(product_id), models.DomainsClass).domains
        assert domains == [f"urn:li:domain:{mesh.products[product_id].domain}"]


def test_schema_follows_the_contract(mesh):
    spec = mesh.products["inventory.vehicle_catalog"]
    out = product_datasets(mesh, "inventory.vehicle_catalog").outputs[0].urn
    schema = _one(catalog_mcps(mesh, spec.id, None, BASE_URL), out, models.SchemaMetadataClass)
    assert [f.fieldPath for f in schema.fields] == [c.name for c in spec.output_ports[0].contract.columns]
    fields = {f.fieldPath: f for f in schema.fields}
    assert isinstance(fields["launch_year"].type.type, models.NumberTypeClass)
    assert isinstance(fields["business_date"].type.type, models.DateTypeClass)
    assert isinstance(fields["updated_at"].type.type, models.TimeTypeClass)
    assert fields["vehicle_key"].nullable is False and fields["body_type"].nullable is True


def test_warehouse_types_refine_the_schema_after_a_run(mesh):
    spec = mesh.products["inventory.vehicle_catalog"]
    out = product_datasets(mesh, spec.id).outputs[0].urn
    types = {"vehicle_catalog": {"launch_year": "integer", "business_date": "date"}}
    schema = _one(catalog_mcps(mesh, spec.id, None, BASE_URL, types), out, models.SchemaMetadataClass)
    fields = {f.fieldPath: f for f in schema.fields}
    assert fields["launch_year"].nativeDataType == "integer"
    assert fields["vehicle_key"].nativeDataType == "text", "without a warehouse type: the data_type of dbt's model contract"


def test_glossary_terms_go_on_the_product_and_its_datasets(mesh):
    spec = mesh.products["user_behaviour.listing_engagement"]
    mcps = catalog_mcps(mesh, spec.id, None, BASE_URL)
    expected = ["urn:li:glossaryTerm:Marketplace.Listing", "urn:li:glossaryTerm:UserBehaviour.Engagement"]
    for urn in [urns.data_product_urn(spec.id), *(o.urn for o in product_datasets(mesh, spec.id).outputs)]:
        assert [t.urn for t in _one(mcps, urn, models.GlossaryTermsClass).terms] == expected


PLUGIN_SETTINGS = {
    "default": {},
    "cluster, platform instance, owners as groups, grid links": {
        "CLUSTER": "qa",
        "PLATFORM_INSTANCE": "eu_airflow",
        "CAPTURE_OWNERSHIP_AS_GROUP": "True",
        "DATAJOB_URL_LINK": "grid",
    },
    "no owners, no tags": {"CAPTURE_OWNERSHIP_INFO": "False", "CAPTURE_TAGS_INFO": "False"},
}


@pytest.mark.parametrize("settings", PLUGIN_SETTINGS.values(), ids=PLUGIN_SETTINGS.keys())
def test_pipeline_urns_and_shared_aspects_follow_the_datahub_plugins_settings(mesh, compiled_repo, monkeypatch, settings):
    """Under any [datahub] settings, our DataFlow/DataJob/run URNs are the plugin's, and the aspects both
    write (ownership, tags, platform instance, status) are identical, so neither overwrites the other."""
    from conftest import dag_bag
    from datahub.api.entities.dataprocess.dataprocess_instance import DataProcessInstance
    from datahub_airflow_plugin._config import get_lineage_config
    from datahub_airflow_plugin.client.airflow_generator import AirflowGenerator

    from dataproducts.metadata.plugin_config import plugin_config

    for name, value in settings.items():
        monkeypatch.setenv(f"AIRFLOW__DATAHUB__{name}", value)
    config, plugin = get_lineage_config(), plugin_config()
    dag_id = RUN_PRODUCT
    dag = dag_bag(compiled_repo, monkeypatch).dags[dag_id]  # the real DAG, as the plugin's listener sees it
    flow = AirflowGenerator.generate_dataflow(config, dag)
    jobs = [
        AirflowGenerator.generate_datajob(
            config.cluster,
            dag.get_task(task_id),
            dag,
            capture_tags=config.capture_tags_info,
            capture_owner=config.capture_ownership_info,
            config=config,
        )
        for task_id in (urns.BUILD_TASK, urns.PUBLISH_TASK)
    ]
    theirs = {(m.entityUrn, m.aspectName): m.aspect for m in [*flow.generate_mcp(), *(m for j in jobs for m in j.generate_mcp())]}
    mcps = catalog_mcps(mesh, dag_id, GIT_REVISION, BASE_URL, plugin=plugin)
    ours = {(m.entityUrn, m.aspectName): m.aspect for m in mcps}

    assert urns.data_flow_urn(dag_id, plugin) == str(flow.urn)
    assert [urns.data_job_urn(dag_id, j.id, plugin) for j in jobs] == [str(j.urn) for j in jobs]
    pipeline = {urn for urn, _ in theirs}
    assert pipeline == {urn for urn, _ in ours if urn.startswith(("urn:li:dataFlow:", "urn:li:dataJob:"))}
    shared = [key for key in theirs if key[1] in ("ownership", "globalTags", "dataPlatformInstance", "status")]
    assert len(shared) >= 9
    for key in shared:
        assert ours[key] == theirs[key], key
    # DataJobInfo is both ours and the plugin's (last writer wins), but its link follows the plugin's setting
    assert ours[(str(jobs[0].urn), "dataJobInfo")].externalUrl == jobs[0].url.replace("http://localhost:8080", BASE_URL)

    # The run instance hangs off the plugin's build job, under the plugin's cluster, never on one of its URNs.
    run = run_mcps(mesh, SUCCESS, plugin)
    ours_dpi = urns.data_process_instance_urn(SUCCESS.dag_id, SUCCESS.run_id, SUCCESS.try_number, plugin)
    same_key = DataProcessInstance.from_datajob(jobs[0], id=urns.data_process_instance_id(dag_id, SUCCESS.run_id, 1))
    assert str(same_key.urn) == ours_dpi
    assert _one(run, ours_dpi, models.DataProcessInstanceRelationshipsClass).parentTemplate == str(jobs[0].urn)
    plugins_own = DataProcessInstance.from_datajob(jobs[0], id=f"{dag_id}_build_{SUCCESS.run_id}")
    assert str(plugins_own.urn) != ours_dpi

    # The product and its datasets name the team as the plugin names the DAG's owner.
    team = mesh.products[dag_id].owner.team
    owner = f"urn:li:{'corpGroup' if plugin.ownership_as_group else 'corpuser'}:{team}"
    for urn in [urns.data_product_urn(dag_id), *(o.urn for o in product_datasets(mesh, dag_id).outputs)]:
        assert [o.owner for o in ours[(urn, "ownership")].owners] == [owner]


def test_failed_run_opens_an_incident_and_fails(mesh):
    mcps = run_mcps(mesh, FAILURE)
    dpi = urns.data_process_instance_urn(FAILURE.dag_id, FAILURE.run_id, FAILURE.try_number)
    events = _aspects(mcps, dpi, models.DataProcessInstanceRunEventClass)
    assert [e.status for e in events] == ["STARTED", "COMPLETE"]
    assert events[1].result.type == "FAILURE" and events[1].timestampMillis == FAILURE.ended_at_ms
    assert events[1].durationMillis == FAILURE.ended_at_ms - FAILURE.started_at_ms
    props = _one(mcps, dpi, models.DataProcessInstancePropertiesClass)
    assert props.customProperties["failure_message"] == FAILURE.failure_message
    assert _one(mcps, dpi, models.DataProcessInstanceRelationshipsClass).parentTemplate == urns.data_job_urn(
        FAILURE.dag_id, "build"
    )
    incident = _one(mcps, urns.incident_urn(RUN_PRODUCT, FAILURE.run_key), models.IncidentInfoClass)
    market = product_datasets(mesh, RUN_PRODUCT).outputs[0].urn
    assert incident.type == "OPERATIONAL" and incident.status.state == "ACTIVE"
    assert incident.created.time == incident.startedAt == FAILURE.ended_at_ms
    assert incident.description == FAILURE.failure_message
    assert RUN_PRODUCT in incident.title and "2026-11-04" in incident.title
    assert incident.entities == [urns.data_product_urn(RUN_PRODUCT), market]
    failed = urns.assertion_urn(RUN_PRODUCT, "test.pricing.unique_market_prices_market_key.0a1b2c3d4e")
    run_event = _one(mcps, failed, models.AssertionRunEventClass)
    assert run_event.result.type == "FAILURE" and run_event.asserteeUrn == market
    assert not [m for m in mcps if isinstance(m.aspect, models.OperationClass)]  # nothing was published


def test_a_successful_run_records_no_incident(mesh):
    mcps = run_mcps(mesh, SUCCESS)
    dpi = urns.data_process_instance_urn(SUCCESS.dag_id, SUCCESS.run_id, SUCCESS.try_number)
    events = _aspects(mcps, dpi, models.DataProcessInstanceRunEventClass)
    assert [e.status for e in events] == ["STARTED", "COMPLETE"] and events[1].result.type == "SUCCESS"
    assert not [m for m in mcps if m.entityType == "incident"], "nothing failed: no incident, resolved or not"
    market = product_datasets(mesh, RUN_PRODUCT).outputs[0].urn
    operation = _one(mcps, market, models.OperationClass)
    assert operation.numAffectedRows == 57 and operation.lastUpdatedTimestamp == SUCCESS.ended_at_ms
    assert _one(mcps, market, models.DatasetProfileClass).rowCount == 57
    for outcome in SUCCESS.tests:
        assertion = urns.assertion_urn(RUN_PRODUCT, outcome.unique_id)
        info = _one(mcps, assertion, models.AssertionInfoClass)
        assert info.type == "DATASET" and info.datasetAssertion.dataset == market
        assert info.datasetAssertion.fields == [f"urn:li:schemaField:({market},{outcome.column})"]
        assert _one(mcps, assertion, models.AssertionRunEventClass).result.type == "SUCCESS"


def test_the_next_success_resolves_the_incident_the_failure_opened(mesh):
    from dataclasses import replace

    from dataproducts.metadata.runs import incident_of

    opened = incident_of(FAILURE, mesh.products[RUN_PRODUCT])
    urn = urns.incident_urn(RUN_PRODUCT, FAILURE.run_key)
    # a second failure while it is open updates the same incident, keeping when it was opened
    second = replace(FAILURE, run_id="manual__again", failure_message="dbt could not connect", incident=opened)
    updated = _one(run_mcps(mesh, second), urn, models.IncidentInfoClass)
    assert updated.status.state == "ACTIVE" and updated.description == "dbt could not connect"
    assert updated.created.time == FAILURE.ended_at_ms
    # the next success resolves exactly that incident, keeping the failure's words
    still_open = incident_of(second, mesh.products[RUN_PRODUCT])
    resolved = _one(run_mcps(mesh, replace(SUCCESS, incident=still_open)), urn, models.IncidentInfoClass)
    assert resolved.status.state == "RESOLVED" and resolved.status.stage == "FIXED"
    assert resolved.title == updated.title and resolved.description == "dbt could not connect"
    assert SUCCESS.run_id in resolved.status.message and resolved.status.lastUpdated.time == SUCCESS.ended_at_ms
    # and a later failure opens a new one
    assert urns.incident_urn(RUN_PRODUCT, "manual__later#1") != urn


def test_output_is_deterministic(mesh):
    def dump(mcps):
        return [m.to_obj() for m in mcps]

    for product_id in mesh.products:
        first = catalog_mcps(mesh, product_id, GIT_REVISION, BASE_URL)
        assert dump(first) == dump(catalog_mcps(mesh, product_id, GIT_REVISION, BASE_URL))
        assert all(not m.changeType or m.changeType == "UPSERT" for m in first)
    assert dump(run_mcps(mesh, FAILURE)) == dump(run_mcps(mesh, FAILURE))


def test_urns_are_stable_and_distinct():
    assert urns.assertion_urn("a.b", "test.x.y") == urns.assertion_urn("a.b", "test.x.y")
    assert urns.assertion_urn("a.b", "test.x.y") != urns.assertion_urn("a.c", "test.x.y")
    assert urns.incident_urn("a.b", "r#1") != urns.incident_urn("a.c", "r#1") != urns.incident_urn("a.b", "r#2")
    assert urns.data_process_instance_urn("d", "r", 1) != urns.data_process_instance_urn("d", "r", 2)
    assert urns.domain_urn("pricing") == "urn:li:domain:pricing"
    assert urns.data_product_urn("pricing.market_prices") == "urn:li:dataProduct:pricing.market_prices"


def test_removed_marks_only_the_product_and_its_pipeline():
    mcps = removed_mcps(RUN_PRODUCT, ["urn:li:dataset:(urn:li:dataPlatform:duckdb,w.pricing.market_prices,PROD)"])
    assert {m.entityUrn for m in mcps} == {
        urns.data_product_urn(RUN_PRODUCT),
        urns.data_flow_urn(RUN_PRODUCT),
        urns.data_job_urn(RUN_PRODUCT, "build"),
        urns.data_job_urn(RUN_PRODUCT, "publish"),
    }
    assert all(isinstance(m.aspect, models.StatusClass) and m.aspect.removed for m in mcps)


def test_quality_rule_results_are_assertions_on_the_output_dataset(mesh):
    """One assertion per (port, rule) with a stable URN; AssertionInfo describes the rule (SQL for a
    query, a dataset assertion for a metric); the run event says SUCCESS or FAILURE with the value."""
    from dataclasses import replace

    from dataproducts.core import quality
    from dataproducts.core.spec import QualityRule

    spec = mesh.products[RUN_PRODUCT]
    port = spec.output_ports[0]
    rules = [
        (QualityRule(name="no_free_markets", query="select count(*) from ${table} where median_price_eur <= 0", must_be=0), 0.0),
        (QualityRule(metric="null_values", column="segment", unit="percent", must_be_less_than=5, severity="warn"), 12.5),
        (quality.DEFAULT_RULE, 57.0),
    ]
    results = [quality.result(spec, port, rule, observed) for rule, observed in rules]
    run = replace(SUCCESS, quality=results)
    run = RunRecord.from_dict(json.loads(json.dumps(run.to_dict())))  # as the outbox keeps an unbuilt record
    mcps = run_mcps(mesh, run)
    assert all(m.validate() for m in mcps)
    market = product_datasets(mesh, RUN_PRODUCT).outputs[0].urn

    sql = urns.assertion_urn(RUN_PRODUCT, "quality.pricing.market_prices.daily.no_free_markets")
    info = _one(mcps, sql, models.AssertionInfoClass)
    assert info.type == "SQL" and info.entityUrn == market
    assert info.sqlAssertion.statement == rules[0][0].query and info.sqlAssertion.entity == market
    assert (info.sqlAssertion.operator, info.sqlAssertion.parameters.value.value) == ("EQUAL_TO", "0")
    assert info.customProperties["severity"] == "error" and info.customProperties["output_port"] == "pricing.market_prices.daily"
    assert _one(mcps, sql, models.AssertionRunEventClass).result.type == "SUCCESS"

    nulls = urns.assertion_urn(RUN_PRODUCT, "quality.pricing.market_prices.daily.null_values_segment")
    info = _one(mcps, nulls, models.AssertionInfoClass)
    assert info.type == "DATASET" and info.datasetAssertion.fields == [f"urn:li:schemaField:({market},segment)"]
    assert (info.datasetAssertion.operator, info.datasetAssertion.nativeType) == ("LESS_THAN", "dataproducts.null_values")
    assert info.description == "null_values of 'segment' (percent of the date's rows) must be < 5 (severity warn)"
    event = _one(mcps, nulls, models.AssertionRunEventClass)
    assert (event.result.type, event.result.actualAggValue, event.result.severity) == ("FAILURE", 12.5, "LOW")
    assert event.asserteeUrn == market and event.runtimeContext["business_date"] == "2026-11-03"
    assert (
        "fails (severity warn): null_values of 'segment' (percent of the date's rows) is 12.5, expected < 5"
        in (event.result.nativeResults["message"])
    )

    rows = urns.assertion_urn(RUN_PRODUCT, "quality.pricing.market_prices.daily.row_count")
    info = _one(mcps, rows, models.AssertionInfoClass)
    assert (info.datasetAssertion.scope, info.datasetAssertion.aggregation) == ("DATASET_ROWS", "ROW_COUNT")
    assert len({sql, nulls, rows} | {urns.assertion_urn(RUN_PRODUCT, t.unique_id) for t in SUCCESS.tests}) == 5
    assert mcps == run_mcps(mesh, run), "the same run builds the same assertions (stable URNs)"
