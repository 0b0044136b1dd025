"""The real dags/ folder through Airflow's own DagBag: one DAG per spec, right schedules, isolation."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import asset_names, dag_bag

from dataproducts.airflow import markdown
from dataproducts.core import naming
from dataproducts.core.loader import spec_files
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project


def specs_by_id(root):
    return {f"{p.parent.name}.{p.stem}": yaml.safe_load(p.read_text()) for p in spec_files(root / "product_specs")}


def test_dags_folder_loads_one_dag_per_spec_without_errors(compiled_repo, monkeypatch):
    bag = dag_bag(compiled_repo, monkeypatch)
    specs = specs_by_id(compiled_repo)
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == sorted([*specs, naming.CATALOG_DAG_ID])
    assert len(specs) >= 6
    for product_id, document in specs.items():
        dag = bag.dags[product_id]
        assert naming.BROKEN_TAG not in dag.tags, dag.description
        assert {naming.DAG_TAG, f"domain:{document['domain']}"} <= set(dag.tags)
        assert dag.owner == document["owner"]["team"]
        assert markdown.text(document["description"].strip()[:40]) in dag.doc_md
        assert [t.task_id for t in dag.topological_sort()] == ["build", "publish", "emit_metadata"]
        assert dag.get_task("emit_metadata").is_teardown, "metadata never decides the run's state"
        assert dag.get_task("build").pool == "dataproducts_warehouse"
        outlets = {a.name for a in dag.get_task("publish").outlets}
        assert outlets == {f"{product_id}.{p['name']}" for p in document["output_ports"]}


def test_schedules_are_the_input_ports_partitioned_assets_and_the_business_date_is_the_partition_key(compiled_repo, monkeypatch):
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable

    bag = dag_bag(compiled_repo, monkeypatch)
    kinds = set()
    for product_id, document in specs_by_id(compiled_repo).items():
        timetable = bag.dags[product_id].timetable
        reads = {f"{p['product']}.{p['port']}" for p in document.get("input_ports", []) if "product" in p}
        schedule = document.get("schedule") or {}
        if not reads:
            assert type(timetable).__name__ == "CronPartitionTimetable"
            assert (timetable.run_offset, timetable.key_format) == (-1, "%Y-%m-%d"), "the tick after a day builds that day"
            kinds.add("cron")
            continue
        condition = timetable.asset_condition
        assert asset_names(condition) == reads, product_id
        any_ = schedule.get("trigger") == "any"
        assert type(condition).__name__ in (("AssetAny", "SerializedAssetAny") if any_ else ("AssetAll", "SerializedAssetAll"))
        if schedule.get("cron"):
            assert type(timetable).__name__ == "PartitionedAssetOrCronTimetable"
            again = decode_timetable(encode_timetable(timetable))  # as the scheduler reads it (plugin-registered)
            assert again == timetable and again.partitioned and again.summary == f"Partitioned Asset or {schedule['cron']}"
            kinds.add("cron or assets")
        else:
            assert type(timetable).__name__ == "PartitionedAssetTimetable"
            assert type(timetable.default_partition_mapper).__name__ == "IdentityMapper", "a consumer keeps the daily key"
        kinds.add("any" if any_ else "all")
    assert kinds == {"cron", "cron or assets", "all", "any"}, "the example mesh shows every kind of schedule"


def test_a_cron_or_assets_tick_asks_for_the_day_before_it_in_the_products_timezone():
    import datetime as dt

    from airflow.sdk import Asset, AssetAll
    from airflow.timetables.base import DagRunInfo, TimeRestriction

    from dataproducts.airflow.schedules import PartitionedAssetOrCronTimetable, _core_cron

    timetable = PartitionedAssetOrCronTimetable(cron=_core_cron("0 5 * * *", "Europe/Berlin"), assets=AssetAll(Asset("a")))
    last = DagRunInfo(run_after=dt.datetime(2026, 11, 4, 4, 0, tzinfo=dt.UTC), data_interval=None, partition_key="2026-11-03")
    info = timetable.next_dagrun_info_v2(last_dagrun_info=last, restriction=TimeRestriction(None, None, catchup=True))
    assert (info.run_after, info.partition_key) == (dt.datetime(2026, 11, 5, 4, 0, tzinfo=dt.UTC), "2026-11-04")


def test_one_broken_spec_breaks_only_its_own_dag(project_copy, monkeypatch):
    mesh = load_mesh(Project(project_copy))
    victim = next(pid for pid in mesh.run_order() if mesh.consumers_of(pid) and mesh.upstream_products(pid))
    domain, name = victim.split(".")
    path = project_copy / "product_specs" / domain / f"{name}.yaml"
    document = yaml.safe_load(path.read_text())
    document["output_ports"][0]["contract"]["columns"][0]["type"] = "strng"
    path.write_text(yaml.safe_dump(document))
    garbage = project_copy / "product_specs" / domain / "half_written.yaml"
    garbage.write_text("id: " + domain + ".half_written\nname: [oops\n")
    badly_named = project_copy / "product_specs" / domain / "Bad Name.yaml"
    badly_named.write_text(path.read_text())

    bag = dag_bag(project_copy, monkeypatch)

    assert bag.import_errors == {}
    placeholder = f"{domain}.bad_name_invalid_file_name"
    assert set(bag.dag_ids) == set(mesh.entries) | {f"{domain}.half_written", placeholder, naming.CATALOG_DAG_ID}
    assert f"Fix: rename it, e.g. to product_specs/{domain}/bad_name.yaml" in bag.dags[placeholder].description
    broken = bag.dags[victim]
    assert naming.BROKEN_TAG in broken.tags
    problem = "output_ports[0].contract.columns[0].type: 'strng' is not allowed"
    assert re.search(rf"^BROKEN SPEC: product_specs/{domain}/{name}\.yaml:\d+:\d+: {re.escape(problem)}", broken.description)
    assert "is not allowed" in broken.doc_md and "Fix: use one of" in broken.doc_md
    assert [t.task_id for t in broken.tasks] == ["fix_the_spec"]
    assert type(broken.timetable).__name__ == "BrokenSpecTimetable", "it runs once, fails, and so looks failed"
    assert broken.owner == document["owner"]["team"] and not broken.is_paused_upon_creation
    assert broken.get_task("fix_the_spec").task_display_name.startswith(f"Fix the spec: {problem}")
    assert bag.dags[f"{domain}.half_written"].owner == document["owner"]["team"], "the domain's team when the file cannot say"
    assert "has a '[' that is never closed" in bag.dags[f"{domain}.half_written"].description
    for pid in mesh.entries:
        if pid != victim:
            assert naming.BROKEN_TAG not in bag.dags[pid].tags, pid
    for consumer in mesh.consumers_of(victim):
        assert any(n.startswith(victim + ".") for n in asset_names(bag.dags[consumer].timetable.asset_condition))


def test_broken_dag_task_fails_with_the_spec_error(project_copy, monkeypatch):
    path = next((project_copy / "product_specs").glob("*/*.yaml"))
    path.write_text(path.read_text().replace("version:", "versoin:", 1))
    bag = dag_bag(project_copy, monkeypatch)
    task = bag.dags[f"{path.parent.name}.{path.stem}"].get_task("fix_the_spec")
    with pytest.raises(RuntimeError, match=r"versoin: unknown field\. Fix: did you mean 'version'\?"):
        task.python_callable()


def test_a_broken_spec_runs_once_per_breakage_as_airflow_schedules_and_serializes_it(project_copy, monkeypatch):
    """Its one run fails, so the DAG looks failed in the DAG list and on the home page."""
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import DataInterval, TimeRestriction

    path = project_copy / "product_specs" / "inventory" / "listings.yaml"
    path.write_text(path.read_text().replace("version:", "versoin:", 1))
    dag = dag_bag(project_copy, monkeypatch).dags["inventory.listings"]
    timetable = DagSerialization.from_dict(DagSerialization.to_dict(dag)).timetable  # what the scheduler reads
    assert type(timetable).__name__ == "BrokenSpecTimetable" and timetable.since == dag.timetable.since
    assert abs(timetable.since.timestamp() - path.stat().st_mtime) < 2, "since: when the spec broke"

    anytime = TimeRestriction(earliest=None, latest=None, catchup=False)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=anytime)
    assert first is not None and first.logical_date == timetable.since
    before = DataInterval(timetable.since.subtract(days=1), timetable.since.subtract(days=1))
    assert timetable.next_dagrun_info(last_automated_data_interval=before, restriction=anytime) == first, "ran before it broke"
    assert timetable.next_dagrun_info(last_automated_data_interval=first.data_interval, restriction=anytime) is None, "once"
    run_id = timetable.generate_run_id(run_type="scheduled", run_after=first.run_after, data_interval=first.data_interval)
    assert run_id.startswith("broken_spec__")


def test_asset_definitions_carry_owner_table_and_contract_version_wherever_they_are_named(compiled_repo, monkeypatch):
    """Airflow keeps the definition it parsed last: producers' outlets and consumers' schedules and
    inlets must agree, or the Assets view would show the extra of whichever file was parsed last."""
    bag = dag_bag(compiled_repo, monkeypatch)
    mesh = load_mesh(Project(compiled_repo))

    def assets(condition):
        if hasattr(condition, "objects"):
            return [a for o in condition.objects for a in assets(o)]
        return [condition] if hasattr(condition, "extra") else []

    definitions: dict[str, list[dict]] = {}
    for pid in mesh.products:
        dag = bag.dags[pid]
        named = [*assets(dag.timetable.asset_condition), *(a for t in dag.tasks for a in [*t.inlets, *t.outlets])]
        for asset in named:
            definitions.setdefault(asset.name, []).append(asset.extra)
    assert len(definitions) == sum(len(s.output_ports) for s in mesh.products.values())
    for name, extras in definitions.items():
        producer = mesh.products[name.rsplit(".", 1)[0]]
        port = next(p for p in producer.output_ports if name.endswith("." + p.name))
        assert extras[0]["owner"] == producer.owner.team and extras[0]["contract_version"] == producer.version
        assert extras[0]["table"] == f"{producer.domain}.{port.table_name}"
        assert all(extra == extras[0] for extra in extras), name


def test_manual_runs_take_the_business_date_and_full_refresh_from_airflows_trigger_form(compiled_repo, monkeypatch):
    from airflow.sdk.exceptions import ParamValidationError

    dag = dag_bag(compiled_repo, monkeypatch).dags["inventory.listings"]
    date, refresh = dag.params.get_param("business_date"), dag.params.get_param("full_refresh")
    assert date.schema["format"] == "date" and date.schema["title"] == "Business date", "a date picker in the form"
    assert date.schema["$schema"] == refresh.schema["$schema"] == "http://json-schema.org/draft-07/schema#", "cheap to validate"
    assert refresh.schema["type"] == "boolean" and refresh.value is False
    assert date.resolve("2026-11-03") == "2026-11-03" and date.resolve(None) is None and refresh.resolve(True) is True
    with pytest.raises(ParamValidationError):
        date.resolve("yesterday")


def test_tasks_retry_as_airflows_default_task_retries_says(compiled_repo):
    """Retries are the deployment's choice ([core] default_task_retries; the production stack sets
    3), not fixed by the factory. Read in a fresh process: Airflow reads the default at import."""
    import os
    import subprocess
    import sys

    code = (
        "import json, sys; from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1])\n"
        "print(json.dumps({t.task_id: t.retries for t in bag.dags['pricing.market_prices'].tasks}))\n"
    )
    env = {**os.environ, "DATAPRODUCTS_HOME": str(compiled_repo), "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(compiled_repo / "dags")], env=env, capture_output=True, text=True, check=True
    )
    assert yaml.safe_load(done.stdout.strip().splitlines()[-1]) == {"build": 3, "publish": 3, "emit_metadata": 3}
