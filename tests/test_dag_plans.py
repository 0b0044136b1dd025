"""DAG plans: an unchanged domain file builds its DAGs from the plans stored for the mesh's state,
without rebuilding specs or rendering docs, and gets exactly the DAGs a fresh parse gets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from dataproducts.airflow import dag_factory, plan_builder
from dataproducts.core import mesh_cache
from dataproducts.core.project import Project

DOMAINS = ("advertising", "inventory", "pricing", "user_behaviour")


@pytest.fixture
def project(project_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPRODUCTS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPRODUCTS_HOME", str(project_copy))
    return Project(project_copy)


def serialized(dags) -> dict:
    from airflow.serialization.serialized_objects import DagSerialization

    return {name: DagSerialization.to_dict(dag) for name, dag in dags.items()}


def parse(domain: str) -> dict:
    return serialized(dag_factory.build_domain_dags(domain))


def plan_files(project) -> list:
    return sorted((project.state_dir / "cache").glob("mesh-*/plans/*.json"))


def test_a_reparse_builds_the_same_dags_from_the_plans_alone(project, monkeypatch):
    broken = project.specs_dir / "pricing" / "price_ratings.yaml"
    broken.write_text(broken.read_text().replace("version:", "versoin:", 1))
    first = {d: parse(d) for d in DOMAINS}  # the first validates the mesh and writes the slices
    assert len(plan_files(project)) == len(DOMAINS) - 1, "plans are made from stored slices only"
    second = {d: parse(d) for d in DOMAINS}  # every domain's plans stored
    assert len(plan_files(project)) == len(DOMAINS)

    def refuse(*args, **kwargs):
        raise AssertionError("a reparse with plans must not read slices or render docs")

    monkeypatch.setattr(mesh_cache, "stored_slice", refuse)
    monkeypatch.setattr(mesh_cache, "load_domain_cached", refuse)
    monkeypatch.setattr(plan_builder, "product_doc_md", refuse)
    third = {d: parse(d) for d in DOMAINS}
    assert first == second == third
    assert "pricing__price_ratings" in third["pricing"] and "inventory__listings" in third["inventory"]
    assert "BROKEN SPEC" in third["pricing"]["pricing__price_ratings"]["dag"]["description"]


STEADY_PARSE = """
import json, sys
from dataproducts.airflow.dag_factory import build_domain_dags
dags = build_domain_dags("pricing")
print(json.dumps({"dags": sorted(dags), "modules": sorted(m for m in sys.modules if m.startswith("dataproducts"))}))
"""


def test_an_unchanged_domain_file_imports_no_spec_model_and_no_mesh(project):
    """The steady state of the dag-processor (a process per file, every 30 s): the plans are read,
    so the spec models, the loader and the mesh are never imported (a third of a file's parse)."""
    for _ in range(2):  # the first validates and stores slices, the second stores the plans
        expected = sorted(dag_factory.build_domain_dags("pricing"))
    done = subprocess.run([sys.executable, "-c", STEADY_PARSE], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["dags"] == expected and "pricing__market_prices" in expected
    heavy = {"dataproducts.core.spec", "dataproducts.core.loader", "dataproducts.core.mesh", "dataproducts.core.mesh_cache"}
    assert "dataproducts.airflow.dag_plans" in found["modules"]
    assert heavy.isdisjoint(found["modules"]), sorted(heavy & set(found["modules"]))


def test_an_edited_spec_gets_new_plans(project):
    for _ in range(2):
        parse("pricing")
    path = project.specs_dir / "pricing" / "market_prices.yaml"
    document = yaml.safe_load(path.read_text())
    document["name"] = "Market prices, edited"
    path.write_text(yaml.safe_dump(document))
    dags = dag_factory.build_domain_dags("pricing")
    assert dags["pricing__market_prices"].description == "Market prices, edited"


def test_an_unreadable_plan_file_is_ignored(project, caplog):
    for _ in range(2):
        parse("inventory")
    (plan,) = plan_files(project)
    plan.write_text("{not json")
    dags = dag_factory.build_domain_dags("inventory")
    assert "inventory__listings" in dags and "ignoring the unreadable DAG plans" in caplog.text
