"""What the largest spec file the limits allow costs: `validate` (load_mesh) and Airflow's DagBag over
the test mesh's dags/ with that file beside the good specs, time and peak memory, each in a fresh
process. A benchmark, not a test: it prints figures (bench/README.md records them).

    .venv/bin/python bench/spec_limits.py [--repeat 3]

Shapes, each just under `max_spec_bytes` (256 KB by default): a valid-looking spec with as many
contract columns as fit (it breaks on the dbt manifest, with its errors capped), a list of as many
values as fit (stops at the value bound), an alias fan-out, and 'none' (the good mesh alone).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT = 256 * 1024


def columns_spec() -> str:
    head = (REPO / "tests" / "fixtures" / "mesh" / "product_specs" / "pricing" / "market_prices.yaml").read_text()
    head = head.replace("pricing.market_prices", "pricing.huge").split("output_ports:")[0]
    text = head + "output_ports:\n  - name: huge\n    table: market_prices\n    contract:\n      columns:\n"
    i = 0
    while True:
        line = (
            f"        - {{name: column_{i:05d}, type: string, required: false, description: 'Column {i} of the largest spec.'}}\n"
        )
        if len((text + line).encode()) > LIMIT:
            return text
        text += line
        i += 1


SHAPES = {
    "none": lambda: None,
    "max columns": columns_spec,
    "max values": lambda: ("x:\n" + "- 1\n" * LIMIT)[: LIMIT - 1],
    "alias fan-out": lambda: ("a: &a [" + ", ".join(["1"] * 100) + "]\n" + "".join(f"b{i}: *a\n" for i in range(LIMIT // 12)))[
        :LIMIT
    ],
}


def measure(root: Path, what: str) -> dict:
    """In this (fresh) process: one load_mesh or one DagBag, seconds and peak RSS."""
    os.environ["DATAPRODUCTS_HOME"] = str(root)
    os.environ["DATAPRODUCTS_STATE_DIR"] = str(root / ".local")
    shutil.rmtree(root / ".local", ignore_errors=True)  # the mesh cache empty: what the first parse after a change pays
    sys.path.insert(0, str(REPO / "plugins"))
    if what == "validate":
        from dataproducts.core.mesh import load_mesh
        from dataproducts.core.project import Project

        started = time.perf_counter()
        mesh = load_mesh(Project(root))
        seconds = time.perf_counter() - started
        errors = len(mesh.errors)
    else:
        from airflow.dag_processing.dagbag import DagBag

        started = time.perf_counter()
        bag = DagBag(dag_folder=str(root / "dags"))
        seconds = time.perf_counter() - started
        assert not bag.import_errors, bag.import_errors
        errors = sum("broken-spec" in d.tags for d in bag.dags.values())
    return {"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "errors": errors}


def prepare(base: Path, shape: str) -> Path:
    root = base / shape.replace(" ", "_")
    for part in ("dags", "product_specs", "dbt"):
        shutil.copytree(REPO / "tests" / "fixtures" / "mesh" / part, root / part)
    text = SHAPES[shape]()
    if text is not None:
        (root / "product_specs" / "pricing" / "huge.yaml").write_text(text)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure-one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_one:
        print(json.dumps(measure(Path(args.measure_one[0]), args.measure_one[1])))
        return 0
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # bytecode cached, as in production
    env.setdefault("AIRFLOW_HOME", str(REPO / ".local" / "bench-airflow-home"))
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    with tempfile.TemporaryDirectory() as tmp:
        compiled = Path(tmp) / "compiled"
        shutil.copytree(REPO / "tests" / "fixtures" / "mesh", compiled)
        subprocess.run(
            [sys.executable, "-m", "dataproducts.cli", "--root", str(compiled), "compile"],
            check=True,
            capture_output=True,
            env=env,
        )
        print(f"{'shape':<14} {'file bytes':>10} {'what':<9} {'median s':>9} {'peak MB':>8}  broken")
        for shape in SHAPES:
            root = prepare(Path(tmp), shape)
            shutil.rmtree(root / "dbt")
            shutil.copytree(compiled / "dbt", root / "dbt")
            size = (root / "product_specs" / "pricing" / "huge.yaml").stat().st_size if shape != "none" else 0
            for what in ("validate", "dagbag"):
                runs = []
                for _ in range(args.repeat):
                    out = subprocess.run(
                        [sys.executable, __file__, "--measure-one", str(root), what],
                        check=True,
                        capture_output=True,
                        text=True,
                        env=env,
                    )
                    runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                seconds = statistics.median(r["seconds"] for r in runs)
                peak = max(r["peak_mb"] for r in runs)
                print(f"{shape:<14} {size:>10,} {what:<9} {seconds:>9.2f} {peak:>8.0f}  {runs[0]['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
