"""The platform's naming conventions, in one place.

A spec lives at product_specs/<domain>/<name>.yaml and has id '<domain>.<name>'. Everything else
is derived: the DAG id is the product id, an output port is '<product id>.<port>', and its
Airflow Asset has that name and a warehouse-independent URI, so consumers can be scheduled on it
without knowing where (DuckDB here, Postgres in production) the table lives. Table URNs for
DataHub come from dbt's manifest instead (see metadata).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

ASSET_SCHEME = "dataproduct"
ASSET_GROUP = "data-product"
DAG_TAG = "data-product"
BROKEN_TAG = "broken-spec"
MAINTENANCE_TAG = "dataproducts-maintenance"
CATALOG_DAG_ID = "dataproducts_catalog_sync"
BUILD_TASK = "build"  # a product DAG's task that builds and leaves the run's outcome (core/run_outcome)

NEW_DOMAINS_DAG_FILE = "dataproducts_new_domains.py"  # dags/ file that builds domains without a file of their own


def product_id(domain: str, name: str) -> str:
    return f"{domain}.{name}"


IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


def product_id_for_file(spec_file: Path) -> str:
    """The id a spec file must carry: its folder and its file stem."""
    return product_id(spec_file.parent.name, spec_file.stem)


def file_place_is_valid(spec_file: Path) -> bool:
    return bool(IDENTIFIER.match(spec_file.parent.name) and IDENTIFIER.match(spec_file.stem))


INVALID_NAME_SUFFIX = "_invalid_file_name"


def placeholder_id_for_file(spec_file: Path) -> str:
    """A valid id for a file whose place makes none, so its broken DAG can still be shown."""

    def slug(text: str) -> str:
        cleaned = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "x"
        return cleaned if cleaned[0].isalpha() else f"x_{cleaned}"

    return product_id(slug(spec_file.parent.name), f"{slug(spec_file.stem)}{INVALID_NAME_SUFFIX}")


def dag_id(product_id: str) -> str:
    return product_id


def dag_tags(domain: str, spec_tags: Iterable[str]) -> list[str]:
    """A product DAG's tags (the DataHub plugin copies them onto the pipeline)."""
    return [DAG_TAG, f"domain:{domain}", *spec_tags]


def port_id(product_id: str, port: str) -> str:
    return f"{product_id}.{port}"


def table_ref(domain: str, table: str) -> str:
    """Where a port's table lives in the warehouse: the schema is the domain."""
    return f"{domain}.{table}"


def asset_uri(product_id: str, port: str) -> str:
    domain, name = product_id.split(".", 1)
    return f"{ASSET_SCHEME}://{domain}/{name}/{port}"


def split_port_id(port_ref: str) -> tuple[str, str]:
    """'pricing.market_prices.daily' -> ('pricing.market_prices', 'daily')"""
    product, _, port = port_ref.rpartition(".")
    return product, port


def split_table_ref(ref: str) -> tuple[str, str]:
    """'pricing.market_prices' -> ('pricing', 'market_prices'): table_ref taken apart."""
    schema, _, table = ref.partition(".")
    return schema, table
