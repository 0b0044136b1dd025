"""A deleted spec leaves a retired DAG for a while, so that the product's pending runs end failed.

Through Airflow's own DagBag over a copy of the test mesh: the domain file that defined the
product's DAG defines, after the deletion, a DAG with the same id and task ids whose tasks fail
at once and say why; it goes after `retired_dag_days`; a spec re-added under the same id gets its
real DAG back. One run for real (dag.test() in a fresh process, its own Airflow database) shows
the run ending failed with the message.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from airflow.sdk.exceptions import AirflowFailException
from conftest import dag_bag

from dataproducts.airflow.retired_dags import RETIRED_TAG
from dataproducts.core import naming
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.core.removed_specs import KnownProduct, ledger_file, record_domain

TASKS = ["build", "publish", "emit_metadata"]


@pytest.fixture
def project(project_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("DATAPRODUCTS_RETIRED_DAG_DAYS", raising=False)
    monkeypatch.delenv("AIRFLOW__DATAPRODUCTS__RETIRED_DAG_DAYS", raising=False)
    return project_copy


def a_leaf(root) -> tuple[str, str]:
    """A product nobody reads (deleting it breaks no other spec), and its spec file."""
    mesh = load_mesh(Project(root))
    product_id = next(pid for pid in sorted(mesh.products) if not mesh.consumers_of(pid))
    return product_id, mesh.entries[product_id].path


def test_a_deleted_spec_leaves_a_retired_dag_with_the_same_id_and_task_ids_whose_tasks_fail_and_say_why(project, monkeypatch):
    product_id, spec_path = a_leaf(project)
    before = dag_bag(project, monkeypatch)
    owner = before.dags[product_id].owner
    (project / spec_path).unlink()

    bag = dag_bag(project, monkeypatch)

    assert bag.import_errors == {}
    retired = bag.dags[product_id]
    assert RETIRED_TAG in retired.tags and f"domain:{product_id.split('.')[0]}" in retired.tags
    assert [t.task_id for t in retired.topological_sort()] == TASKS, "the pending run's task instances find their tasks"
    assert retired.get_task("emit_metadata").is_teardown
    assert type(retired.timetable).__name__ == "NullTimetable", "it never starts a run of its own"
    assert retired.owner == owner
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert retired.description == f"RETIRED: {spec_path} was deleted on {today}"
    assert spec_path in retired.doc_md and "7 days" in retired.doc_md
    with pytest.raises(AirflowFailException) as failure:
        retired.get_task("build").python_callable()
    assert str(failure.value) == (
        f"the spec {spec_path} of {product_id} was deleted on {today}; this run cannot build; nothing was published. "
        f"To build it again, restore {spec_path} (its DAG comes back on the next parse); otherwise nothing to do"
    )
    for other in set(before.dag_ids) - {product_id}:
        assert RETIRED_TAG not in bag.dags[other].tags, other
    assert set(bag.dag_ids) == set(before.dag_ids)


def test_a_retired_dag_goes_after_the_retention_period(project, monkeypatch):
    product_id, spec_path = a_leaf(project)
    dag_bag(project, monkeypatch)
    (project / spec_path).unlink()
    assert RETIRED_TAG in dag_bag(project, monkeypatch).dags[product_id].tags

    monkeypatch.setenv("DATAPRODUCTS_RETIRED_DAG_DAYS", "0")
    assert product_id not in dag_bag(project, monkeypatch).dag_ids
    monkeypatch.delenv("DATAPRODUCTS_RETIRED_DAG_DAYS")
    assert product_id not in dag_bag(project, monkeypatch).dag_ids, "forgotten, not back once the setting grows"


def test_the_ledger_keeps_a_removed_product_for_retired_dag_days_from_its_removal(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPRODUCTS_RETIRED_DAG_DAYS", "7")
    project, start = Project(tmp_path), dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    listings = KnownProduct("inventory.listings", "product_specs/inventory/listings.yaml", False, "inventory_team")
    catalog = KnownProduct("inventory.vehicle_catalog", "product_specs/inventory/vehicle_catalog.yaml", False, "inventory_team")

    assert record_domain(project, "inventory", [listings, catalog], now=start) == []
    [removed] = record_domain(project, "inventory", [catalog], now=start + dt.timedelta(hours=1))
    assert (removed.product_id, removed.spec_path, removed.removed_at) == (
        listings.product_id,
        listings.spec_path,
        "2026-12-01T11:00:00+00:00",
    )
    later = record_domain(project, "inventory", [catalog], now=start + dt.timedelta(days=7))
    assert later == [removed], "still within 7 days of its removal, not of the last parse"
    assert record_domain(project, "inventory", [catalog], now=start + dt.timedelta(days=7, hours=2)) == []
    data = json.loads(ledger_file(project, "inventory").read_text())
    assert data["removed"] == [] and [k["product_id"] for k in data["known"]] == [catalog.product_id]


def test_a_spec_re_added_with_the_same_id_replaces_its_retired_dag(project, monkeypatch):
    product_id, spec_path = a_leaf(project)
    text = (project / spec_path).read_text()
    dag_bag(project, monkeypatch)
    (project / spec_path).unlink()
    assert RETIRED_TAG in dag_bag(project, monkeypatch).dags[product_id].tags

    (project / spec_path).write_text(text)
    back = dag_bag(project, monkeypatch).dags[product_id]

    assert RETIRED_TAG not in back.tags and naming.BROKEN_TAG not in back.tags
    assert [t.task_id for t in back.topological_sort()] == TASKS and back.get_task("build").pool == "dataproducts_warehouse"
    assert json.loads(ledger_file(Project(project), product_id.split(".")[0]).read_text())["removed"] == []


def test_a_deleted_broken_spec_retires_with_the_broken_dags_task(project, monkeypatch):
    product_id, spec_path = a_leaf(project)
    path = project / spec_path
    path.write_text(path.read_text().replace("version:", "versoin:", 1))
    assert [t.task_id for t in dag_bag(project, monkeypatch).dags[product_id].tasks] == ["fix_the_spec"]
    path.unlink()

    retired = dag_bag(project, monkeypatch).dags[product_id]

    assert RETIRED_TAG in retired.tags and [t.task_id for t in retired.tasks] == ["fix_the_spec"]
    with pytest.raises(AirflowFailException, match="this run cannot do anything"):
        retired.get_task("fix_the_spec").python_callable()


def test_a_deleted_domain_keeps_its_retired_dags_in_its_own_file_or_in_the_shared_one(project, monkeypatch):
    dag_bag(project, monkeypatch)
    mesh = load_mesh(Project(project))
    by_domain = {d: [e.product_id for e in mesh.in_domain(d)] for d in mesh.domains()}
    whole = next(
        d for d, pids in sorted(by_domain.items()) if all(c.startswith(d + ".") for p in pids for c in mesh.consumers_of(p))
    )  # a domain no other domain reads
    shutil.rmtree(project / "product_specs" / whole)

    bag = dag_bag(project, monkeypatch)
    for pid in by_domain[whole]:
        assert RETIRED_TAG in bag.dags[pid].tags and bag.dags[pid].fileloc.endswith(f"dags/{whole}.py"), pid

    (project / "dags" / f"{whole}.py").unlink()  # no DAG file either: the shared file keeps them
    bag = dag_bag(project, monkeypatch)
    assert bag.import_errors == {}
    for pid in by_domain[whole]:
        assert RETIRED_TAG in bag.dags[pid].tags and bag.dags[pid].fileloc.endswith("dags/dataproducts_new_domains.py"), pid

    monkeypatch.setenv("DATAPRODUCTS_RETIRED_DAG_DAYS", "0")
    assert not set(by_domain[whole]) & set(dag_bag(project, monkeypatch).dag_ids)
    assert not ledger_file(Project(project), whole).exists(), "a domain that is gone leaves nothing behind"


RUN_RETIRED = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    assert not bag.import_errors, bag.import_errors
    run = bag.dags[sys.argv[2]].test()
    print("TASKS", json.dumps({ti.task_id: str(ti.state) for ti in run.get_task_instances()}))
    print("RUN_STATE", run.state)
    """
)


def test_a_run_of_a_retired_dag_fails_at_its_build_task_with_the_message(project, tmp_path, monkeypatch):
    product_id, spec_path = a_leaf(project)
    dag_bag(project, monkeypatch)
    (project / spec_path).unlink()
    home = tmp_path / "airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATAHUB__ENABLED": "False",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        "DATAPRODUCTS_HOME": str(project),
    }
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    dag_file = project / "dags" / f"{product_id.split('.')[0]}.py"
    done = subprocess.run(
        [sys.executable, "-c", RUN_RETIRED, str(dag_file), product_id], env=env, capture_output=True, text=True, timeout=300
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    tasks = json.loads(output.rsplit("TASKS ", 1)[1].splitlines()[0])
    assert output.rsplit("RUN_STATE", 1)[1].split()[0] == "failed"
    assert tasks["build"] == "failed" and tasks["publish"] == "upstream_failed", tasks
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert f"the spec {spec_path} of {product_id} was deleted on {today}; this run cannot build; nothing was published" in output
