"""Each DAG of a domain as plain data (a plan), kept beside the mesh cache's slices.

What a product's DAG is made of (its docs, assets, schedule, owner) depends only on the state of
the mesh, which Airflow's dag-processor re-parses unchanged every 30 seconds. So the plans are
worked out once per mesh state, from the domain's slice (rebuilding its validated specs and
rendering their docs), and stored in that state's cache folder: an unchanged domain file decodes
one JSON document and builds its DAGs from it. A change of any input gives a new folder (see
core/mesh_cache); a change of the code that makes plans gives a new file name. Plans hold JSON
values only, and a missing or unreadable plan file only costs the time it would have saved.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from dataproducts.airflow import broken_spec
from dataproducts.airflow.assets import asset_definition
from dataproducts.airflow.docs import product_doc_md
from dataproducts.core import mesh_cache, naming
from dataproducts.core.loader import LoadedSpec
from dataproducts.core.mesh_cache import DomainSlice
from dataproducts.core.project import Project
from dataproducts.core.spec import DataProductSpec

log = logging.getLogger(__name__)
FORMAT = 1
PRODUCT, BROKEN = "product", "broken"


def domain_plans(project: Project, domain: str) -> list[dict[str, Any]]:
    """The plans of the domain's products, sorted by product id (broken specs included)."""
    folder = mesh_cache.state_folder(project)
    path = folder / "plans" / f"{mesh_cache.slice_file_name(domain)}-{_code_key()}.json"
    stored = _read(path, domain)
    if stored is not None:
        return stored
    try:
        part = mesh_cache.stored_slice(project, folder, domain)
    except (OSError, ValueError, KeyError, TypeError):
        part = None  # load_domain_cached below reports and mends it
    if part is None:  # the first parse after a change: plans are stored once the slices are
        return plans_of(mesh_cache.load_domain_cached(project, domain))
    plans = plans_of(part)
    _write(path, domain, plans)
    return plans


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


def _read(path: Path, domain: str) -> Optional[list[dict[str, Any]]]:
    try:
        data = json.loads(path.read_bytes())
        if data["format"] == FORMAT and data["domain"] == domain:
            return list(data["plans"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable DAG plans %s: %s", path, exc)
    return None


def _write(path: Path, domain: str, plans: list[dict[str, Any]]) -> None:
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(exist_ok=True)
        staging.write_bytes(json.dumps({"format": FORMAT, "domain": domain, "plans": plans}).encode())
        os.replace(staging, path)  # atomic: a reader sees a whole file or none
    except OSError as exc:
        staging.unlink(missing_ok=True)
        log.info("DAG plans not written (%s); parsing stays correct, only slower", exc)


@functools.cache
def _code_key() -> str:
    """The state of the code that makes plans (this package's modules): new code, new plans."""
    states = []
    for module in sorted(Path(__file__).parent.glob("*.py")):
        stat = module.stat()
        states.append(f"{module.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(states).encode()).hexdigest()[:12]
