"""Airflow Assets of output ports (names and URIs come from naming).

An asset's definition carries what someone looking at it in Airflow's Assets view wants to know:
the product and port, the owning team, the table and the contract version (the product's
version). Airflow keeps the definition it parsed last, so every DAG that names a port's asset
(its producer's outlets, its consumers' schedules and inlets) passes the producing spec, and the
definitions agree.
"""

from __future__ import annotations

from typing import Any, Optional

from airflow.sdk import Asset

from dataproducts.core import naming
from dataproducts.core.spec import DataProductSpec


def product_asset(product_id: str, port: str, producer: Optional[DataProductSpec] = None) -> Asset:
    return Asset(**asset_definition(product_id, port, producer))


def asset_definition(product_id: str, port: str, producer: Optional[DataProductSpec] = None) -> dict[str, Any]:
    """The Asset's arguments, as plain data (DAG plans keep them so)."""
    return {
        "name": naming.port_id(product_id, port),
        "uri": naming.asset_uri(product_id, port),
        "group": naming.ASSET_GROUP,
        "extra": asset_extra(producer, port) if producer is not None else {},
    }


def asset_extra(producer: DataProductSpec, port_name: str) -> dict[str, Any]:
    port = next(p for p in producer.output_ports if p.name == port_name)
    return {
        "product": producer.id,
        "port": port.name,
        "owner": producer.owner.team,
        "contact": producer.owner.contact,
        "table": naming.table_ref(producer.domain, port.table_name),
        "contract_version": producer.version,
        "contract_columns": len(port.contract.columns),
        **({"freshness_max_age_hours": port.freshness.max_age_hours} if port.freshness else {}),
    }
