#!/usr/bin/env python
"""`dataproducts validate` at scale, and the domain file parses that depend on it.

Generates the synthetic mesh of `parse_bench.py` (default: the issue's N = 10,000 products over
300 domains, 500 dbt macros per manifest) and measures, each in a fresh process, round after round
(interleaved, so the machine's load hits each measurement alike):

  validate   `dataproducts --root <project> validate` (the CLI, as a team's CI runs it): wall time
             and CPU time (user + system) of the process; it must print 'N products valid, 0 broken'.
  cold file  one domain DAG file exec'd as the dag-processor does, with the mesh cache empty (the
             first file parsed after a change validates the whole mesh and stores it).
  warm file  the same file with the mesh cache filled (the steady state): CPU time of the exec.

Bytecode caching is on (the production default): PYTHONDONTWRITEBYTECODE, which this machine sets,
is removed from the processes' environment and bytecode goes to a temporary PYTHONPYCACHEPREFIX,
filled by one unmeasured warm-up round. Load averages are printed before and after.

    .venv/bin/python bench/validate_bench.py                                  # 10,000 over 300, 3 rounds
    .venv/bin/python bench/validate_bench.py --project /tmp/mesh10k --keep    # generate once, reuse later
    .venv/bin/python bench/validate_bench.py --profile                        # + cProfile of load_mesh
    .venv/bin/python bench/validate_bench.py --only validate --baseline f37b44d # before/after in one window

--baseline REV exports that revision's plugins/ (git archive) into the temporary directory and runs
`validate` with them first on PYTHONPATH, alternating with the worktree's own in every round (in
turn first), so that both see the same machine: on a shared 2-core machine the speed of one code
drifts by 20-30% from one minute to the next. It prints the per-round ratio of their CPU times.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parse_bench import DOMAIN_SCRIPT, generate

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CLI = str(Path(PYTHON).with_name("dataproducts"))

DOMAIN_CPU_SCRIPT = (
    DOMAIN_SCRIPT.replace("t1 = time.perf_counter()\n", "t1 = time.perf_counter()\nc1 = time.process_time()\n", 1)
    .replace("t2 = time.perf_counter()\n", "t2 = time.perf_counter()\nc2 = time.process_time()\n", 1)
    .replace('"dags": n}', '"dags": n, "domain_file_cpu_s": c2 - c1}')
)

PROFILE_SCRIPT = r"""
import cProfile, pstats, sys
from pathlib import Path
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
prof = cProfile.Profile()
prof.enable(); mesh = load_mesh(Project(Path(sys.argv[1]))); prof.disable()
prof.dump_stats(sys.argv[2])
stats = pstats.Stats(sys.argv[2]); stats.sort_stats(sys.argv[3]).print_stats(int(sys.argv[4]))
"""


def child_run(argv: list[str], env: dict) -> tuple[float, float, float, str]:
    """wall s, CPU s (user + system) and peak RSS MB of one child process, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in (0,):
        sys.stderr.write(result.stderr[-4000:])
        sys.exit(f"{' '.join(argv[:3])}... exited {result.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024, result.stdout


def run_validate(root: Path, env: dict, expected: int) -> dict:
    wall, cpu, _, out = child_run([CLI, "--root", str(root), "validate"], env)
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    if not summary.startswith(f"{expected} products valid, 0 broken"):
        sys.exit(f"refusing to report: validate printed {summary!r}")
    return {"wall": wall, "cpu": cpu}


def run_domain_file(root: Path, domain: str, env: dict, state: str, expected: int) -> dict:
    argv = [PYTHON, "-c", DOMAIN_CPU_SCRIPT, str(root / "dags" / f"{domain}.py")]
    wall, cpu, _, out = child_run(argv, {**env, "DATAPRODUCTS_STATE_DIR": state})
    found = json.loads(out.strip().splitlines()[-1])
    if found["dags"] != expected:
        sys.exit(f"dags/{domain}.py built {found['dags']} DAGs, expected {expected}")
    return {"wall": wall, "cpu": cpu, "exec_s": found["domain_file_s"], "exec_cpu_s": found["domain_file_cpu_s"]}


def make_env(root: Path, work: Path) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["DATAPRODUCTS_HOME"] = str(root)
    env["AIRFLOW_HOME"] = str(work / "airflow_home")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(root / "dags")
    env.pop("DATAPRODUCTS_STATE_DIR", None)
    return env


def baseline(rev: str, work: Path, env: dict) -> dict:
    """The environment that runs `rev`'s plugins/ (exported into work) instead of the worktree's."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "plugins"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(work / "baseline", filter="data")
    return {**env, "PYTHONPATH": str(work / "baseline" / "plugins")}


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", type=int, default=10_000)
    parser.add_argument("--domains", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--macros", type=int, default=500, help="dbt macros per manifest (a real dbt-duckdb manifest has ~510)")
    parser.add_argument("--project", type=Path, help="generate the mesh here, or reuse the one already there")
    parser.add_argument("--only", choices=("validate", "domain"), help="measure only validate, or only the domain file")
    parser.add_argument("--profile", choices=("tottime", "cumulative"), help="also cProfile load_mesh once, sorted so")
    parser.add_argument("--baseline", metavar="REV", help="also validate with this git revision's plugins/, alternating rounds")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dataproducts_validate_bench_"))
    (work / "airflow_home").mkdir()
    root = args.project or work / "project"
    try:
        if not (root / "product_specs").is_dir():
            started = time.perf_counter()
            info = generate(root, args.specs, args.domains, args.seed, args.macros)
            print(
                f"generated {info['products']} specs in {info['domains']} domains under {root} "
                f"(manifests {info['manifest_bytes'] / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s"
            )
        n_products = len(list((root / "product_specs").glob("*/*.yaml")))
        domain = sorted(p.name for p in (root / "product_specs").iterdir())[0]
        in_domain = len(list((root / "product_specs" / domain).glob("*.yaml")))
        env = make_env(root, work)
        warm_state = str(work / "state_warm")
        print(f"{n_products} specs; domain file dags/{domain}.py ({in_domain} products); load average before: {load()}")

        run_validate(root, env, n_products)  # warm-up: bytecode, OS file cache
        baseline_env = baseline(args.baseline, work, env) if args.baseline else None
        if baseline_env is not None:
            run_validate(root, baseline_env, n_products)
        if args.only != "validate":
            run_domain_file(root, domain, env, warm_state, in_domain)  # warm-up: airflow.cfg, fills the mesh cache
        rounds: dict[str, list[dict]] = {"validate": [], "baseline": [], "cold": [], "warm": []}
        for i in range(args.repeat):
            if args.only != "domain":
                if baseline_env is not None and i % 2 == 0:
                    rounds["baseline"].append(run_validate(root, baseline_env, n_products))
                rounds["validate"].append(run_validate(root, env, n_products))
                if baseline_env is not None and i % 2 == 1:
                    rounds["baseline"].append(run_validate(root, baseline_env, n_products))
            if args.only != "validate":
                rounds["cold"].append(run_domain_file(root, domain, env, tempfile.mkdtemp(dir=work), in_domain))
                rounds["warm"].append(run_domain_file(root, domain, env, warm_state, in_domain))
            print(f"round {i + 1}: load average {load()}", flush=True)

        print(f"\n| {n_products:,} products over {args.domains} domains, median (min-max) of {args.repeat} | wall s | CPU s |")
        print("|---|---:|---:|")
        if rounds["baseline"]:
            r = rounds["baseline"]
            print(
                f"| `dataproducts validate` at {args.baseline} (process) | {spread([x['wall'] for x in r])} | {spread([x['cpu'] for x in r])} |"
            )
        if rounds["validate"]:
            r = rounds["validate"]
            print(f"| `dataproducts validate` (process) | {spread([x['wall'] for x in r])} | {spread([x['cpu'] for x in r])} |")
        if rounds["baseline"]:
            ratios = [b["cpu"] / a["cpu"] for b, a in zip(rounds["baseline"], rounds["validate"], strict=True)]
            print(f"\nCPU of {args.baseline} / CPU now, round by round: {spread(ratios)}")
        if rounds["cold"]:
            r = rounds["cold"]
            print(
                f"| dags/{domain}.py, mesh cache empty: exec (whole-mesh validation) | {spread([x['exec_s'] for x in r])} | {spread([x['exec_cpu_s'] for x in r])} |"
            )
            r = rounds["warm"]
            print(
                f"| dags/{domain}.py, mesh cache filled: exec | {spread([x['exec_s'] for x in r])} | {spread([x['exec_cpu_s'] for x in r])} |"
            )
            print(
                f"| dags/{domain}.py, mesh cache filled: process | {spread([x['wall'] for x in r])} | {spread([x['cpu'] for x in r])} |"
            )
        print(
            f"\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, bytecode cached (PYTHONDONTWRITEBYTECODE unset); "
            f"load average after: {load()}"
        )
        print(f"Command: `.venv/bin/python bench/validate_bench.py {' '.join(sys.argv[1:])}`")
        if args.profile:
            out = work / "load_mesh.prof"
            profiled = subprocess.run(
                [PYTHON, "-c", PROFILE_SCRIPT, str(root), str(out), args.profile, str(args.top)],
                capture_output=True,
                text=True,
                env=env,
            )
            print(profiled.stdout[-20000:], profiled.stderr[-3000:])
            args.keep = True
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
