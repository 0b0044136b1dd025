"""The validated mesh kept on disk, so a parse pass validates every spec once, not once per file.

Airflow's dag-processor parses each DAG file in a process of its own, and every domain file
needs the whole mesh (references and cycles cross domains). The first file parsed after a change
validates everything and stores the outcome; the other files read it back. The key is the exact
state of every input: each spec's, dbt project's and manifest's path, size and modification
time, and the package's own source files. The cache holds validated data (JSON), never code, and
a cache that is missing, unreadable or unwritable only costs the time it would have saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

from pydantic import ValidationError

from dataproducts.core.errors import SpecError
from dataproducts.core.files import atomic_write_bytes
from dataproducts.core.loader import LoadedSpec, spec_files
from dataproducts.core.mesh import Mesh, load_mesh
from dataproducts.core.project import Project
from dataproducts.core.spec import DataProductSpec

log = logging.getLogger(__name__)
FORMAT = 1


def load_mesh_cached(project: Project) -> Mesh:
    path = project.state_dir / "cache" / f"mesh-{fingerprint(project)}.json"
    try:
        return _from_json(project, json.loads(path.read_bytes()))
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
        log.warning("ignoring the unreadable mesh cache %s: %s", path, exc)
    mesh = load_mesh(project)
    try:
        atomic_write_bytes(path, json.dumps(_to_json(mesh)).encode())
        for old in path.parent.glob("mesh-*.json"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.info("mesh cache not written (%s); parsing stays correct, only slower", exc)
    return mesh


def fingerprint(project: Project) -> str:
    inputs = [*spec_files(project.specs_dir)]
    for dbt_project in sorted(project.dbt_dir.glob("*/dbt_project.yml")):
        inputs += [dbt_project, dbt_project.parent / "target" / "manifest.json"]
    inputs += sorted(Path(__file__).parent.glob("*.py"))
    digest = hashlib.sha256(f"{FORMAT}|{project.root.resolve()}".encode())
    for path in inputs:
        try:
            stat = path.stat()
            digest.update(f"|{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        except FileNotFoundError:
            digest.update(f"|{path}:missing".encode())
    return digest.hexdigest()[:24]


def _to_json(mesh: Mesh) -> dict:
    return {
        "format": FORMAT,
        "entries": {
            pid: {
                "path": entry.path,
                "spec": entry.spec.model_dump(mode="json", by_alias=True) if entry.spec else None,
                "errors": [asdict(e) for e in entry.errors],
            }
            for pid, entry in mesh.entries.items()
        },
    }


def _from_json(project: Project, data: dict) -> Mesh:
    if data.get("format") != FORMAT:
        raise ValueError(f"cache format {data.get('format')}, expected {FORMAT}")
    entries = {}
    for pid, item in data["entries"].items():
        spec = DataProductSpec.model_validate(item["spec"]) if item["spec"] is not None else None
        entries[pid] = LoadedSpec(pid, item["path"], spec, tuple(SpecError(**e) for e in item["errors"]))
    return Mesh(project, entries)
