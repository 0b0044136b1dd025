"""Shared test helpers: a throwaway project with spec files written from dicts."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Keep tests off the developer's own Airflow home and state.
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".local" / "test-airflow-home"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

BASE_SPEC = {
    "id": "inventory.listings",
    "name": "Listings",
    "domain": "inventory",
    "description": "Active listings per day.",
    "version": "1.0.0",
    "owner": {"team": "inventory_team", "contact": "inventory@example.com"},
    "schedule": {"cron": "0 2 * * *", "timezone": "Europe/Berlin"},
    "input_ports": [{"name": "raw", "source": {"schema": "landing", "table": "raw_listings"}}],
    "transform": {"dbt": {"project": "inventory", "select": ["path:models/listings"]}},
    "output_ports": [
        {
            "name": "listings",
            "contract": {"columns": [{"name": "listing_id", "type": "string", "required": True, "unique": True}]},
        }
    ],
}


def spec(**changes) -> dict:
    """BASE_SPEC with top-level fields replaced."""
    result = copy.deepcopy(BASE_SPEC)
    result.update(changes)
    return result


def consumer(product_id: str, reads: list[tuple[str, str]], **changes) -> dict:
    domain, name = product_id.split(".")
    return spec(
        id=product_id,
        domain=domain,
        name=name,
        schedule=None,
        input_ports=[{"name": f"in_{i}", "product": p, "port": port} for i, (p, port) in enumerate(reads)],
        transform={"dbt": {"project": domain, "select": [f"path:models/{name}"]}},
        output_ports=[{"name": name, "contract": {"columns": [{"name": "id", "type": "string"}]}}],
        **changes,
    )


def write_spec(root: Path, document, product_id: str | None = None) -> Path:
    product_id = product_id or (document["id"] if isinstance(document, dict) else "inventory.listings")
    domain, name = product_id.split(".")
    path = root / "product_specs" / domain / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def tmp_project(tmp_path):
    from dataproducts.project import Project

    return Project(tmp_path)
