"""A domain's DAG plans made from its validated slice of the mesh (see dag_plans for why and
where they are kept): the specs' docs rendered, their assets, schedule and owner as plain data."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from dataproducts.airflow import broken_spec
from dataproducts.airflow.assets import asset_definition
from dataproducts.airflow.dag_plans import BROKEN, PRODUCT
from dataproducts.airflow.docs import product_doc_md
from dataproducts.core import naming
from dataproducts.core.loader import LoadedSpec
from dataproducts.core.mesh_cache import DomainSlice
from dataproducts.core.spec import DataProductSpec

log = logging.getLogger(__name__)


def plans_of(part: DomainSlice) -> list[dict[str, Any]]:
    return [plan_of(part, entry) for entry in part.entries]


def plan_of(part: DomainSlice, entry: LoadedSpec) -> dict[str, Any]:
    known = {
        "product_id": entry.product_id,
        "spec_path": entry.path,
        "broken": not entry.ok,
        "owner": entry.spec.owner.team if entry.spec else part.domain,
    }
    if entry.spec is None or entry.errors:
        return broken_plan(part, entry.product_id, entry.path, [str(e) for e in entry.errors], known)
    try:
        return product_plan(part, entry.spec, entry.path, [str(w) for w in entry.warnings], known)
    except Exception as exc:  # a bug of ours must still only cost this one product its DAG
        log.exception("could not plan the DAG of %s", entry.product_id)
        return broken_plan(part, entry.product_id, entry.path, [f"{entry.path}: the DAG could not be built: {exc!r}"], known)


def product_plan(
    part: DomainSlice, spec: DataProductSpec, spec_path: str, warnings: Sequence[str], known: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": PRODUCT,
        "product_id": spec.id,
        "spec_path": spec_path,
        "description": spec.name + (f" ({spec.status.value})" if spec.status.value != "active" else ""),
        "tags": naming.dag_tags(spec.domain, spec.tags),
        "team": spec.owner.team,
        "contact": spec.owner.contact,
        "doc_md": product_doc_md(spec, spec_path, part.consumers_of(spec.id), warnings),
        "cron": spec.schedule.cron if spec.schedule else None,
        "timezone": spec.timezone,
        "trigger": spec.trigger,
        "inputs": [asset_definition(*p.upstream, producer=part.product(p.upstream[0])) for p in spec.product_inputs],
        "outputs": [asset_definition(spec.id, port.name, producer=spec) for port in spec.output_ports],
        "known": known,
    }


def broken_plan(part: DomainSlice, product_id: str, spec_path: str, messages: list[str], known: dict[str, Any]) -> dict[str, Any]:
    owner = broken_spec.owner_of(part.project, product_id, spec_path, part)
    return {
        "kind": BROKEN,
        "product_id": product_id,
        "spec_path": spec_path,
        "messages": messages,
        "owner": owner,
        "known": known,
    }
