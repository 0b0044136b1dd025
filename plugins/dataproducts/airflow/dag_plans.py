"""Each DAG of a domain as plain data (a plan), kept beside the mesh cache's slices.

What a product's DAG is made of (its docs, assets, schedule, owner) depends only on the state of
the mesh, which Airflow's dag-processor re-parses unchanged every 30 seconds. So the plans are
worked out once per mesh state, from the domain's slice (rebuilding its validated specs and
rendering their docs), and stored in that state's cache folder: an unchanged domain file decodes
one JSON document and builds its DAGs from it. A change of any input gives a new folder (see
core/mesh_cache); a change of the code that makes plans gives a new file name. Plans hold JSON
values only, and a missing or unreadable plan file only costs the time it would have saved.
Reading plans needs neither the spec models nor the mesh: making them does (plan_builder).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Optional

from dataproducts.core import mesh_state
from dataproducts.core.project import Project

log = logging.getLogger(__name__)
FORMAT = 1
PRODUCT, BROKEN = "product", "broken"


def domain_plans(project: Project, domain: str) -> list[dict[str, Any]]:
    """The plans of the domain's products, sorted by product id (broken specs included)."""
    folder = mesh_state.state_folder(project)
    path = folder / "plans" / f"{mesh_state.slice_file_name(domain)}-{_code_key()}.json"
    stored = _read(path, domain)
    if stored is not None:
        return stored
    # only now the spec models: an unchanged domain's file never imports them (a third of its parse)
    from dataproducts.airflow.plan_builder import plans_of
    from dataproducts.core import mesh_cache

    try:
        part = mesh_cache.stored_slice(project, folder, domain)
    except (OSError, ValueError, KeyError, TypeError):
        part = None  # load_domain_cached below reports and mends it
    if part is None:  # the first parse after a change: plans are stored once the slices are
        return plans_of(mesh_cache.load_domain_cached(project, domain))
    plans = plans_of(part)
    _write(path, domain, plans)
    return plans


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
