"""Airflow Assets of output ports (names and URIs come from naming)."""

from __future__ import annotations

from airflow.sdk import Asset

from dataproducts.core import naming


def product_asset(product_id: str, port: str) -> Asset:
    return Asset(name=naming.port_id(product_id, port), uri=naming.asset_uri(product_id, port), group=naming.ASSET_GROUP)
