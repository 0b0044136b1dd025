"""The repository's own mesh (whatever product_specs/, dbt/ and dags/ hold) passes `dataproducts check`.

Every other test runs on tests/fixtures/mesh, so a team that replaces the example with its own
specs keeps a green suite; this one checks their mesh: dbt parse of every project, every spec
valid, and Airflow's DagBag over dags/ with no import error and one healthy DAG per spec.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_repository_mesh_passes_dataproducts_check():
    done = subprocess.run(
        [sys.executable, "-m", "dataproducts.cli", "--root", str(REPO), "check"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "Airflow DagBag over dags/: 0 problems" in done.stdout
