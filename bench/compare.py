#!/usr/bin/env python
"""Parse speed side by side with peers, in one run.

For each size (N products over D domains) this generates one synthetic mesh and writes the same
DAGs five ways:

  dataproducts      specs + compiled dbt manifests, one three-line DAG file per domain
  hand_per_domain   hand-written static Python, one file per domain (D files)
  hand_one_per_dag  hand-written static Python, one file per DAG (N files)
  dag_factory       dag-factory 1.1 YAML, one YAML + loader file per domain
  naive_yaml        a naive YAML factory (plain loops, libyaml), one YAML + loader file per domain

It refuses to measure unless Airflow gets structurally identical DAGs from every variant
(fingerprint.py). Then, round after round (ABCDE ABCDE ...: the machine's load hits every variant
alike), it measures in fresh processes:

  dagbag  Airflow's DagBag over the folder in one process (seconds for DagBag(), peak RSS)
  loop    one real `airflow dag-processor -n 1` loop on a fresh SQLite AIRFLOW_HOME (wall seconds
          of the whole command, peak RSS of its largest process), then checks in its database
          that every DAG was serialized and no file failed

dataproducts is measured with its mesh cache filled (the steady state: the dag-processor
re-parses unchanged files every 30 s; the cache holds the mesh's slices and each domain's DAG
plans, which the second parse after a change stores) and, for the DagBag, also right after a
change (cache emptied before each run: `dataproducts_cold`, followed by an unmeasured DagBag that
brings the steady state back; before, the next measurements paid for storing the plans). Bytecode caching is on for every process
(PYTHONDONTWRITEBYTECODE is unset; bytecode goes to one PYTHONPYCACHEPREFIX shared by all
variants and filled by an unmeasured warm-up).

    .venv/bin/python bench/compare.py                                  # every size, 5 rounds
    .venv/bin/python bench/compare.py --sizes 1000:10 --repeat 5
    .venv/bin/python bench/compare.py --sizes 1000:10,1000:100 --measure loop
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from parse_bench import generate, validate

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
AIRFLOW = str(Path(PYTHON).with_name("airflow"))
DAG_FACTORY = "dag-factory==1.1.0"
PEER_SITE = REPO / ".local" / "bench" / "dag-factory-1.1.0"
VARIANTS = ["dataproducts", "hand_per_domain", "hand_one_per_dag", "dag_factory", "naive_yaml"]
DEFAULT_SIZES = "100:10,100:100,1000:10,1000:100,3000:10,3000:100"

DAGBAG_SCRIPT = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
t1 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "seconds": t2 - t1, "dags": len(bag.dags), "errors": len(bag.import_errors),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

WRITE_PEERS_SCRIPT = r"""
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from peers import write_peers
write_peers(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def install_dag_factory() -> Path:
    """dag-factory goes into a folder of the benchmark's own, never into the package's dependencies
    (its own dependencies, Airflow, PyYAML, packaging and pathspec, are already in the venv)."""
    if not (PEER_SITE / "dagfactory" / "__init__.py").is_file():
        subprocess.run(
            [PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(PEER_SITE), DAG_FACTORY], check=True
        )
    return PEER_SITE


# ----------------------------------------------------------------------------------------------


class Size:
    def __init__(self, work: Path, products: int, domains: int, seed: int, macros: int):
        self.products, self.domains = products, domains
        self.work = work / f"n{products}_d{domains}"
        self.lib = self.work / "lib"
        self.project = self.work / "dataproducts"
        self.state = self.work / "state"
        self.folders: dict[str, Path] = {"dataproducts": self.project / "dags"}
        t = time.perf_counter()
        info = generate(self.project, products, domains, seed, macros)
        print(
            f"\n== N={products} over D={domains}: generated {info['products']} specs "
            f"({info['manifest_bytes'] / 1e6:.1f} MB of manifests) in {time.perf_counter() - t:.1f} s"
        )

    def env(self, variant: str, base: dict, airflow_home: Path) -> dict:
        env = dict(base)
        env["AIRFLOW_HOME"] = str(airflow_home)
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{airflow_home}/airflow.db"
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(self.folders[variant.removesuffix("_cold")])
        paths = [str(self.lib)] + ([str(PEER_SITE)] if variant == "dag_factory" else [])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        if variant.startswith("dataproducts"):
            env["DATAPRODUCTS_HOME"] = str(self.project)
            env["DATAPRODUCTS_STATE_DIR"] = str(self.state)
        return env


def base_env(pycache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DATAPRODUCTS_", "PYTHON"))}
    env.update(
        PYTHONPYCACHEPREFIX=str(pycache),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY="False",
        DO_NOT_TRACK="1",
        SCARF_NO_ANALYTICS="1",
    )
    return env


def run_json(args: list[str], env: dict, what: str) -> dict:
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-5000:])
        sys.exit(f"{what} failed (exit {result.returncode})")
    return json.loads(result.stdout.strip().splitlines()[-1])


def prepare(size: Size, base: dict, template_home: Path) -> None:
    from peers import write_lib

    write_lib(size.lib)
    env = size.env("dataproducts", base, template_home)
    validate(size.project, env, size.products)
    subprocess.run(
        [PYTHON, "-c", WRITE_PEERS_SCRIPT, str(size.project / "dags"), str(size.work), str(Path(__file__).parent)],
        env=env,
        check=True,
    )
    folders = {"dataproducts": size.project / "dags", **json.loads((size.work / "peers.json").read_text())}
    size.folders = {k: Path(v) for k, v in folders.items()}


# What a peer cannot express; the check compares everything else.
CANNOT_EXPRESS = {"dag_factory": ("owner_links",)}  # dag-factory 1.1 passes no owner_links to the DAG


def check_same_dags(size: Size, variants: list[str], base: dict, template_home: Path) -> str:
    script = str(Path(__file__).with_name("fingerprint.py"))
    prints = {}
    for variant in variants:
        out = run_json(
            [PYTHON, script, str(size.folders[variant])], size.env(variant, base, template_home), f"fingerprint {variant}"
        )
        if out["import_errors"] or out["dags"] != size.products:
            sys.exit(
                f"{variant}: {out['dags']} DAGs (expected {size.products}), import errors: {json.dumps(out['import_errors'])[:3000]}"
            )
        prints[variant] = out["lines"]
    reference = variants[0]
    for variant, lines in prints.items():
        ignored = CANNOT_EXPRESS.get(variant, ())
        ours, theirs = _without(prints[reference], ignored), _without(lines, ignored)
        if ours != theirs:
            first = next(line for line in ours if line not in set(theirs))
            dag_id = json.loads(first)["dag_id"]
            other = next((line for line in theirs if json.loads(line)["dag_id"] == dag_id), "(missing)")
            sys.exit(f"{variant} does not produce the same DAGs as {reference}:\n  {first}\n  {other}")
    digest = hashlib.sha256("\n".join(prints[reference]).encode()).hexdigest()[:16]
    print(f"same DAGs in every variant ({', '.join(variants)}): {size.products} DAGs, fingerprint {digest}")
    return digest


def _without(lines: list[str], keys: tuple[str, ...]) -> list[str]:
    if not keys:
        return lines
    return sorted(json.dumps({k: v for k, v in json.loads(line).items() if k not in keys}, sort_keys=True) for line in lines)


def migrate_template(work: Path, base: dict) -> Path:
    home = work / "airflow_template"
    home.mkdir()
    env = dict(
        base,
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__CORE__DAGS_FOLDER=str(work / "no_dags"),
    )
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    return home


def fresh_home(template: Path, into: Path) -> Path:
    if into.exists():
        shutil.rmtree(into)
    shutil.copytree(template, into, ignore=shutil.ignore_patterns("logs"))
    return into


# ----------------------------------------------------------------------------------------------


def measure_dagbag(size: Size, variant: str, base: dict, template: Path) -> dict:
    if variant == "dataproducts_cold":
        shutil.rmtree(size.state / "cache", ignore_errors=True)
    env = size.env(variant, base, template)
    wall = time.perf_counter()
    out = run_json([PYTHON, "-c", DAGBAG_SCRIPT, str(size.folders[variant.removesuffix("_cold")])], env, f"DagBag {variant}")
    out["wall_s"] = time.perf_counter() - wall
    if out["errors"] or out["dags"] != size.products:
        sys.exit(f"DagBag {variant}: {out['dags']} DAGs, {out['errors']} import errors")
    return out


LOOP_SCRIPT = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[2], "w") as log:
    code = subprocess.run([sys.argv[1], "dag-processor", "-n", "1"], stdout=log, stderr=subprocess.STDOUT).returncode
wall = time.perf_counter() - start
print(json.dumps({"code": code, "seconds": wall, "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def measure_loop(size: Size, variant: str, base: dict, template: Path, run_dir: Path) -> dict:
    home = fresh_home(template, run_dir / "airflow_home")
    env = size.env(variant, base, home)
    log = run_dir / f"dag_processor_{variant}.log"
    out = run_json([PYTHON, "-c", LOOP_SCRIPT, AIRFLOW, str(log)], env, f"dag-processor loop {variant}")
    with sqlite3.connect(home / "airflow.db") as db:
        serialized = db.execute("select count(*) from serialized_dag").fetchone()[0]
        errors = db.execute("select count(*) from import_error").fetchone()[0]
    if out["code"] != 0 or serialized != size.products or errors:
        sys.exit(f"dag-processor {variant}: exit {out['code']}, {serialized} DAGs serialized, {errors} import errors; see {log}")
    return out


def rounds(size: Size, variants: list[str], measures: list[str], repeat: int, base: dict, template: Path) -> dict:
    results: dict = {m: {v: [] for v in variants} for m in measures}
    if "dagbag" in measures and "dataproducts" in variants:
        results["dagbag"]["dataproducts_cold"] = []
    run_dir = size.work / "runs"
    run_dir.mkdir(exist_ok=True)
    print("warm-up (unmeasured): a DagBag per variant fills the bytecode cache; dataproducts' second fills its DAG plans")
    for variant in variants:
        measure_dagbag(size, variant, base, template)
    if "dataproducts" in variants:  # the first parse after a change stores the mesh's slices, the second the plans
        measure_dagbag(size, "dataproducts", base, template)
    for r in range(repeat):
        line = []
        for measure in measures:
            for variant in results[measure]:
                if measure == "dagbag":
                    out = measure_dagbag(size, variant, base, template)
                    if variant == "dataproducts_cold":  # unmeasured: back to the steady state (slices and plans)
                        measure_dagbag(size, "dataproducts", base, template)
                else:
                    out = measure_loop(size, variant, base, template, run_dir)
                results[measure][variant].append(out)
                line.append(f"{variant[:14]} {out['seconds']:.2f}")
        print(f"round {r + 1}/{repeat}: " + "  ".join(line), flush=True)
    return results


# ----------------------------------------------------------------------------------------------


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def report(size: Size, results: dict, repeat: int) -> str:
    files = {v: len(list(size.folders[v.removesuffix("_cold")].glob("*.py"))) for m in results for v in results[m]}
    out = [f"\n### N = {size.products} products over D = {size.domains} domains (medians of {repeat} fresh processes; min-max)\n"]
    names = {
        "dataproducts": "dataproducts (mesh cache filled)",
        "dataproducts_cold": "dataproducts (right after a change)",
        "hand_per_domain": "hand-written, one file per domain",
        "hand_one_per_dag": "hand-written, one file per DAG",
        "dag_factory": "dag-factory 1.1",
        "naive_yaml": "naive YAML factory",
    }
    for measure, title in (("dagbag", "DagBag in one process"), ("loop", "`airflow dag-processor -n 1`, one loop")):
        if measure not in results:
            continue
        out.append(f"| {title} | files | seconds | spread | peak RSS MB | x hand-written (same files) |")
        out.append("|---|---:|---:|---:|---:|---:|")
        ref = results[measure].get("hand_per_domain")
        ref_s = statistics.median(o["seconds"] for o in ref) if ref else None
        for variant, runs in results[measure].items():
            s = summary([o["seconds"] for o in runs])
            rss = statistics.median(o["rss_mb"] for o in runs)
            ratio = f"{s['median'] / ref_s:.2f}" if ref_s and variant != "hand_one_per_dag" else ""
            out.append(
                f"| {names[variant]} | {files[variant]} | {s['median']:.2f} | {s['min']:.2f}-{s['max']:.2f} | {rss:.0f} | {ratio} |"
            )
        out.append("")
    return "\n".join(out)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    return [(int(n), int(d)) for n, d in (item.split(":") for item in text.split(","))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"N:D pairs (default {DEFAULT_SIZES})")
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds (fresh processes each)")
    parser.add_argument("--measure", default="dagbag,loop", help="dagbag, loop or both")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--one-per-dag-domains",
        type=int,
        default=10,
        help="measure the one-file-per-DAG variant only at this D (its N files do not depend on D); 0: always",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--macros", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects")
    args = parser.parse_args()

    measures = [m for m in args.measure.split(",") if m]
    wanted = [v for v in args.variants.split(",") if v]
    work = Path(tempfile.mkdtemp(prefix="dataproducts_compare_"))
    base = base_env(work / "pycache")
    install_dag_factory()
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"bytecode cached (PYTHONDONTWRITEBYTECODE unset, PYTHONPYCACHEPREFIX={work / 'pycache'}); work dir {work}"
    )
    template = migrate_template(work, base)
    all_results = {}
    text = []
    try:
        for products, domains in parse_sizes(args.sizes):
            size = Size(work, products, domains, args.seed, args.macros)
            prepare(size, base, template)
            variants = [
                v
                for v in wanted
                if v != "hand_one_per_dag" or not args.one_per_dag_domains or domains == args.one_per_dag_domains
            ]
            check_same_dags(size, variants, base, template)
            started = time.perf_counter()
            results = rounds(size, variants, measures, args.repeat, base, template)
            section = report(size, results, args.repeat)
            section += f"\n({time.perf_counter() - started:.0f} s of measuring; load average after: {os.getloadavg()[0]:.2f})\n"
            print(section, flush=True)
            text.append(section)
            all_results[f"{products}:{domains}"] = results
            if not args.keep:
                shutil.rmtree(size.work, ignore_errors=True)
    finally:
        if args.json:
            args.json.write_text(json.dumps(all_results, indent=1))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(["", "## Summary", *text]))
    print(
        f"Command: {Path(PYTHON).relative_to(REPO) if PYTHON.startswith(str(REPO)) else PYTHON} bench/compare.py {' '.join(sys.argv[1:])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
