"""Builds business dates one at a time, every product in run order, straight through dbt (no
Airflow): the reference that runs with several dates in flight must equal. Run as a script in its
own process (its own warehouse): prints {date: {"domain.table": rows}} as JSON."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import tempfile
from pathlib import Path

from dataproducts.core import naming
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.dbt import runner


def build_one_at_a_time(project: Project, dates: list[str]) -> dict[str, dict[str, int]]:
    mesh = load_mesh(project)
    rows: dict[str, dict[str, int]] = {}
    work = Path(tempfile.mkdtemp(prefix="reference-"))
    quiet = logging.getLogger("reference")
    for date in dates:
        for product_id in mesh.run_order():
            spec = mesh.products[product_id]
            tables = [p.table_name for p in spec.output_ports]
            result = runner.build(
                project,
                spec.transform.dbt.project,
                list(spec.transform.dbt.select),
                dt.date.fromisoformat(date),
                work / date / product_id,
                tables,
                quiet,
            )
            rows.setdefault(date, {}).update({naming.table_ref(spec.domain, t): n for t, n in result.row_counts.items()})
    return rows


if __name__ == "__main__":
    print(json.dumps(build_one_at_a_time(Project.from_env(), sys.argv[1:])))
