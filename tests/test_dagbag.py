"""The real dags/ folder through Airflow's own DagBag: one DAG per spec, right schedules, isolation."""

from __future__ import annotations

import pytest
import yaml
from airflow.sdk import AssetAll, AssetAny
from conftest import asset_names, dag_bag

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
        assert document["description"].strip()[:40] in dag.doc_md
        assert [t.task_id for t in dag.topological_sort()] == ["build", "publish", "emit_metadata"]
        assert dag.get_task("emit_metadata").is_teardown, "metadata never decides the run's state"
        assert dag.get_task("build").pool == "dataproducts_warehouse"
        outlets = {a.name for a in dag.get_task("publish").outlets}
        assert outlets == {f"{product_id}.{p['name']}" for p in document["output_ports"]}


def test_schedules_are_the_assets_of_the_input_ports(compiled_repo, monkeypatch):
    bag = dag_bag(compiled_repo, monkeypatch)
    kinds = set()
    for product_id, document in specs_by_id(compiled_repo).items():
        timetable = bag.dags[product_id].timetable
        reads = {f"{p['product']}.{p['port']}" for p in document.get("input_ports", []) if "product" in p}
        schedule = document.get("schedule") or {}
        if not reads:
            assert type(timetable).__name__ == "CronTriggerTimetable"
            kinds.add("cron")
            continue
        condition = timetable.asset_condition
        assert asset_names(condition) == reads, product_id
        expected = AssetAny if schedule.get("trigger") == "any" else AssetAll
        assert isinstance(condition, expected), product_id
        if schedule.get("cron"):
            assert type(timetable).__name__ == "AssetOrTimeSchedule"
            kinds.add("cron or assets")
        else:
            assert type(timetable).__name__ == "AssetTriggeredTimetable"
        kinds.add(expected.__name__)
    assert kinds == {"cron", "cron or assets", "AssetAll", "AssetAny"}, "the example mesh shows every kind of schedule"


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
    expected = f"product_specs/{domain}/{name}.yaml: output_ports[0].contract.columns[0].type: 'strng' is not allowed"
    assert expected in broken.description
    assert expected in broken.doc_md and "Fix: use one of" in broken.doc_md
    assert [t.task_id for t in broken.tasks] == ["fix_the_spec"]
    assert type(broken.timetable).__name__ == "NullTimetable", "a broken spec never runs on its own"
    assert "is not valid YAML" in bag.dags[f"{domain}.half_written"].description
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
