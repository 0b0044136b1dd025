#!/usr/bin/env python
"""Scale, measured: a synthetic mesh of N products with small dbt models, run for one business date
on the production stack (CeleryExecutor with two workers, Postgres metadata DB and warehouse, Redis)
and on the embedded default (LocalExecutor on SQLite, DuckDB with one warehouse slot).

For each stack, from the same generated project:
  wall time        triggering the roots -> the end of the last product run
  critical path    the longest chain of product runs through the mesh, each weighted by the
                   duration of its own run in this measurement (what no platform can beat)
  ratio            wall / critical path (1.0: the platform adds nothing to the dependency chain)
  parallelism      sum of all run durations / wall (how many runs were in flight on average)
  event latency    producer publishes its asset event -> the consumer's run starts (median, p95)

Run from the repository root (Postgres and Redis as for `./run demo --stack celery`):

    .venv/bin/python bench/mesh_bench.py [--products 100] [--domains 10] [--stacks celery,embedded]

Nothing outside a temporary directory is written; the Celery stack's databases, roles and Redis
keys are named for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BUSINESS_DATE = "2026-11-03"
DATES = ["2026-11-02", "2026-11-03"]


# ----------------------------------------------------------------------------- the synthetic mesh
def layered_mesh(products: int, domains: int, seed: int = 7) -> dict[str, list[str]]:
    """product id -> the products it reads. Layers of about sqrt(N) products; each product of a
    layer reads one product of the previous layer and up to two of any earlier one."""
    rng = random.Random(seed)
    width = max(2, round(products**0.5))
    ids = [f"dom{i % domains:02d}.p{i:03d}" for i in range(products)]
    layers = [ids[i : i + width] for i in range(0, products, width)]
    reads: dict[str, list[str]] = {p: [] for p in layers[0]}
    for depth, layer in enumerate(layers[1:], start=1):
        earlier = [p for lower in layers[:depth] for p in lower]
        for product in layer:
            inputs = {rng.choice(layers[depth - 1])}
            inputs |= set(rng.sample(earlier, k=min(len(earlier), rng.randint(0, 2))))
            reads[product] = sorted(inputs)
    return reads


def generate(root: Path, reads: dict[str, list[str]]) -> None:
    for part in ("platform_macros",):
        shutil.copytree(REPO / "dbt" / part, root / "dbt" / part)
    shutil.copy(REPO / "dbt" / "profiles.yml", root / "dbt" / "profiles.yml")
    (root / "plugins").symlink_to(REPO / "plugins")
    _landing(root / "dbt" / "landing")
    domains = sorted({p.split(".")[0] for p in reads})
    for domain in domains:
        _domain_project(root, domain, {p: r for p, r in reads.items() if p.startswith(domain + ".")}, reads)
        (root / "dags").mkdir(exist_ok=True)
        (root / "dags" / f"{domain}.py").write_text((REPO / "dags" / "pricing.py").read_text().replace("pricing", domain))
    for product, inputs in reads.items():
        _spec(root, product, inputs)


def _landing(project: Path) -> None:
    (project / "seeds").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: landing\nversion: '1.0.0'\nconfig-version: 2\nprofile: dataproducts\nseed-paths: [seeds]\n"
        "macro-paths: [../platform_macros]\nseeds:\n  landing:\n    +schema: landing\n"
        "    raw_events:\n      +column_types: {business_date: date, key: varchar(16), value: integer}\n"
    )
    with (project / "seeds" / "raw_events.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["business_date", "key", "value"])
        for date in DATES:
            for k in range(50):
                writer.writerow([date, f"k{k:02d}", k])


def _domain_project(root: Path, domain: str, own: dict[str, list[str]], reads: dict[str, list[str]]) -> None:
    project = root / "dbt" / domain
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        f"name: {domain}\nversion: '1.0.0'\nconfig-version: 2\nprofile: dataproducts\nmodel-paths: [models]\n"
        "macro-paths: [../platform_macros]\nvars:\n  business_date: '2026-11-01'\n"
        f"models:\n  {domain}:\n    +schema: {domain}\n    +materialized: incremental\n"
        "    +incremental_strategy: delete+insert\n    +unique_key: business_date\n"
    )
    sources: dict[str, set[str]] = {"landing": {"raw_events"}} if any(not r for r in own.values()) else {}
    for inputs in own.values():
        for upstream in inputs:
            schema, table = upstream.split(".")
            sources.setdefault(schema, set()).add(table)
    (project / "models" / "sources.yml").write_text(
        yaml.safe_dump(
            {
                "version": 2,
                "sources": [
                    {"name": s, "schema": s, "tables": [{"name": t} for t in sorted(ts)]} for s, ts in sorted(sources.items())
                ],
            },
            sort_keys=False,
        )
    )
    date = "cast('{{ var(\"business_date\") }}' as date)"
    for product, inputs in own.items():
        name = product.split(".")[1]
        folder = project / "models" / name
        folder.mkdir()
        if inputs:
            parts = [
                f"select key, value from {{{{ source('{u.split('.')[0]}', '{u.split('.')[1]}') }}}} where business_date = {date}"
                for u in inputs
            ]
            body = (
                "select key, sum(value) as value from (\n    " + "\n    union all\n    ".join(parts) + "\n) inputs group by key"
            )
        else:
            body = f"select key, value from {{{{ source('landing', 'raw_events') }}}} where business_date = {date}"
        (folder / f"{name}.sql").write_text(f"select {date} as business_date, key, value from (\n{body}\n) built\n")
        columns = [{"name": c, "description": c} for c in ("business_date", "key", "value")]
        (folder / f"{name}.yml").write_text(
            yaml.safe_dump({"version": 2, "models": [{"name": name, "description": product, "columns": columns}]})
        )


def _spec(root: Path, product: str, inputs: list[str]) -> None:
    domain, name = product.split(".")
    spec = {
        "apiVersion": "dataproducts/v1",
        "id": product,
        "name": product,
        "domain": domain,
        "description": f"Synthetic product {product}.",
        "version": "1.0.0",
        "owner": {"team": domain, "contact": f"{domain}@example.com"},
        "input_ports": [{"name": f"in{i}", "product": u, "port": "out"} for i, u in enumerate(inputs)]
        or [{"name": "raw", "source": {"schema": "landing", "table": "raw_events"}}],
        "transform": {"dbt": {"project": domain, "select": [f"path:models/{name}"]}},
        "output_ports": [
            {
                "name": "out",
                "table": name,
                "contract": {
                    "columns": [
                        {"name": "business_date", "type": "date"},
                        {"name": "key", "type": "string"},
                        {"name": "value", "type": "number"},
                    ]
                },
            }
        ],
    }
    if not inputs:
        spec["schedule"] = {"cron": "0 3 * * *", "timezone": "UTC"}
    path = root / "product_specs" / domain / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


# ----------------------------------------------------------------------------- measuring
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def measure(stack_name: str, root: Path, reads: dict[str, list[str]], timeout: float) -> dict:
    import os

    os.environ["DATAPRODUCTS_STATE_DIR"] = str(root / ".local")
    from dataproducts.core.mesh import load_mesh
    from dataproducts.core.project import Project
    from dataproducts.ops.airflow_api import now_iso
    from dataproducts.ops.embedded import EmbeddedAirflow, run_mesh

    project = Project(root)
    home = root / ".local" / "airflow"
    if stack_name == "celery":
        from dataproducts.ops.celery_stack import CeleryStack, StackSettings

        stack = CeleryStack(project, home, StackSettings.from_env(name=f"bench{secrets.token_hex(3)}"), free_port(), free_port())
    else:
        stack = EmbeddedAirflow(project, home, free_port(), free_port())
    prepared = time.monotonic()
    try:
        stack.prepare()
        with stack:
            stack.wait_until_up(600)
            print(f"{stack_name}: up after {time.monotonic() - prepared:.0f} s; running {len(reads)} products", flush=True)
            mesh = load_mesh(project)
            assert not mesh.errors, mesh.errors[:3]
            triggered = now_iso()
            records = run_mesh(stack.api, mesh, BUSINESS_DATE, timeout)
            latencies = event_latencies(stack.api, records)
    finally:
        stack.stop()
        if stack_name == "celery":
            stack.drop()
    return summarize(stack_name, reads, records, triggered, latencies)


def event_latencies(api, records) -> list[float]:
    """Per asset-triggered run: its last triggering event's timestamp -> the run's start."""
    latencies = []
    for record in records:
        if record.run_type != "asset_triggered" or not record.start_date:
            continue
        events = api.triggering_events(record.product_id, record.run_id)
        if events:
            published = max(e.timestamp for e in events)
            latencies.append((instant(record.start_date) - published).total_seconds())
    return latencies


def summarize(stack_name: str, reads: dict[str, list[str]], records, triggered: str, latencies: list[float]) -> dict:
    building = {r.product_id: r for r in records if r.business_date == BUSINESS_DATE and r.state == "success"}
    failed = sorted({r.product_id for r in records if r.state != "success"})
    duration = {p: (instant(r.end_date) - instant(r.start_date)).total_seconds() for p, r in building.items()}
    finish: dict[str, float] = {}
    for product in reads:  # ids are in layer order: inputs come first
        finish[product] = duration.get(product, 0.0) + max((finish[u] for u in reads[product]), default=0.0)
    critical = max(finish.values())
    wall = (max(instant(r.end_date) for r in building.values()) - instant(triggered)).total_seconds()
    ordered = sorted(latencies)
    return {
        "stack": stack_name,
        "products": len(reads),
        "built": len(building),
        "failed": failed,
        "runs": len(records),
        "wall_s": round(wall, 1),
        "critical_path_s": round(critical, 1),
        "ratio": round(wall / critical, 2),
        "parallelism": round(sum(duration.values()) / wall, 2),
        "median_run_s": round(statistics.median(duration.values()), 1),
        "event_latency_median_s": round(statistics.median(ordered), 1) if ordered else None,
        "event_latency_p95_s": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1) if ordered else None,
    }


def depth(reads: dict[str, list[str]]) -> int:
    level: dict[str, int] = {}
    for product in reads:
        level[product] = 1 + max((level[u] for u in reads[product]), default=0)
    return max(level.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--domains", type=int, default=10)
    parser.add_argument("--stacks", default="celery,embedded")
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    reads = layered_mesh(args.products, args.domains)
    print(
        f"mesh: {len(reads)} products in {args.domains} domains, {sum(map(len, reads.values()))} input ports, "
        f"{sum(1 for r in reads.values() if not r)} roots, {depth(reads)} levels deep",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="mesh-bench-") as tmp:
        for stack_name in args.stacks.split(","):
            root = Path(tmp) / stack_name
            generate(root, reads)
            results.append(measure(stack_name, root, reads, args.timeout))
            print(json.dumps(results[-1]), flush=True)
    header = [
        "stack",
        "built",
        "wall_s",
        "critical_path_s",
        "ratio",
        "parallelism",
        "median_run_s",
        "event_latency_median_s",
        "event_latency_p95_s",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for result in results:
        print("| " + " | ".join(str(result[h]) for h in header) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(not r["failed"] and r["built"] == r["products"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
