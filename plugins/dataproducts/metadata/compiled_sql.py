"""The SQL dbt compiled for a product's output models: read from a run's own target path, and
remembered from each product's latest run for catalogue syncs, which have no run of their own.

Column lineage is parsed from this SQL (see lineage.py). It is kept in one small JSON file next to
the outbox (``<state_dir>/datahub/compiled_sql.json``, model unique id -> SQL), changed under its
filelock; a file that cannot be read counts as empty (catalogue syncs then draw table-level
lineage until the next run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import filelock

from dataproducts.core.files import atomic_write_bytes
from dataproducts.core.manifest import compiled_sql, load_manifest
from dataproducts.core.mesh import Mesh
from dataproducts.core.project import Project
from dataproducts.metadata.run_record import RunRecord

log = logging.getLogger(__name__)


def with_run_sql(mesh: Mesh, record: RunRecord) -> RunRecord:
    """The record with the SQL its run compiled for the product's output models (when it compiled any)."""
    spec = mesh.products.get(record.product_id)
    if spec is None or not record.dbt_target_path or record.compiled_sql:
        return record
    manifest = load_manifest(mesh.project.manifest_path(spec.transform.dbt.project))
    if manifest is None:
        return record
    found = {}
    for port in spec.output_ports:
        model = manifest.model_for_table(port.table_name)
        sql = compiled_sql(Path(record.dbt_target_path), manifest.project_name, model) if model else None
        if model and sql:
            found[model.unique_id] = sql
    return replace(record, compiled_sql=found)


def _path(project: Project) -> Path:
    return project.state_dir / "datahub" / "compiled_sql.json"


def remembered(project: Project) -> dict[str, str]:
    path = _path(project)
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s): catalogue syncs draw table-level lineage until the next runs", path, exc)
        return {}


def remember(project: Project, sql_by_model: Mapping[str, str]) -> None:
    """Keep the latest compiled SQL of these models (a run's)."""
    if not sql_by_model:
        return
    path = _path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(path.with_suffix(".lock")):
        known = remembered(project)
        known.update(sql_by_model)
        atomic_write_bytes(path, json.dumps(known, indent=1, sort_keys=True).encode())
