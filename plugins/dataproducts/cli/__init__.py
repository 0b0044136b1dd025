"""`dataproducts`: the mesh from the command line, in milliseconds, without starting Airflow."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dataproducts.core import naming
from dataproducts.core.mesh import Mesh, load_mesh
from dataproducts.core.project import Project
from dataproducts.core.spec import json_schema

SCHEMA_FILE = Path("schema") / "dataproduct.schema.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dataproducts", description=__doc__)
    parser.add_argument("--root", type=Path, help="project root (default: $DATAPRODUCTS_HOME or the working directory)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("validate", help="load and check every spec; exit 1 when any is broken")
    sub.add_parser("check", help="what a team's CI runs: dbt parse of every project, validate, and Airflow's DagBag over dags/")
    sub.add_parser("list", help="products in run order, with inputs and consumers")
    down = sub.add_parser("downstream", help="products that read a product, directly or not (what a rerun touches)")
    down.add_argument("product_id")
    rerun = sub.add_parser("rerun", help="rebuild one business date of a product and of everything downstream of it")
    rerun.add_argument("product_id")
    rerun.add_argument("--business-date", required=True, help="YYYY-MM-DD")
    rerun.add_argument("--airflow-url", default=os.environ.get("AIRFLOW_API_URL", "http://localhost:8080"))
    rerun.add_argument("--token", default=os.environ.get("AIRFLOW_API_TOKEN"), help="API token (or $AIRFLOW_API_TOKEN)")
    rerun.add_argument("--user", default=os.environ.get("AIRFLOW_USERNAME"), help="or a user ($AIRFLOW_USERNAME) ...")
    rerun.add_argument("--password", default=os.environ.get("AIRFLOW_PASSWORD"), help="... and password ($AIRFLOW_PASSWORD)")
    rerun.add_argument("--dry-run", action="store_true", help="print what would be rebuilt, in order, and stop")
    rerun.add_argument("--timeout", type=int, default=3600)
    schema = sub.add_parser("schema", help="write the spec's JSON Schema to schema/dataproduct.schema.json")
    schema.add_argument("--check", action="store_true", help="exit 1 when the committed file is out of date")
    sub.add_parser("settings", help="every setting of the [dataproducts] section: value and where it came from")
    sub.add_parser("compile", help="run `dbt parse` in every dbt project, writing the manifests the DAG factory reads")
    metadata = sub.add_parser(
        "metadata", help="DataHub metadata: sync specs to the catalogue, flush the outbox, show the backlog"
    )
    metadata.add_argument("action", choices=["sync", "flush", "status"])
    metadata.add_argument("--airflow-url", default="http://localhost:8080", help="Airflow base URL for links (sync)")
    sub.add_parser("seed-landing", help="load the example's operational source data (dbt seed of dbt/landing)")
    demo = sub.add_parser("demo", help="run the example mesh under Airflow's scheduler on the embedded default")
    demo.add_argument("--business-date", default="2026-11-03")
    demo.add_argument("--keep-running", action="store_true", help="leave Airflow running (UI at localhost:8080)")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--timeout", type=int, default=900, help="seconds to wait for the whole mesh")
    args = parser.parse_args(argv)
    project = Project(args.root) if args.root else Project.from_env()
    return COMMANDS[args.command](project, args)


def cmd_validate(project: Project, args) -> int:
    mesh = load_mesh(project)
    problems = [str(e) for e in mesh.errors] + _missing_domain_dag_files(project, mesh)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(mesh.products)} products valid, {len(mesh.broken)} broken, in {len(mesh.domains())} domains")
    return 1 if problems else 0


def cmd_check(project: Project, args) -> int:
    from dataproducts.airflow.check import dagbag_problems

    if cmd_compile(project, args) != 0:
        return 1
    validated = cmd_validate(project, args)
    problems = dagbag_problems(load_mesh(project))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"Airflow DagBag over dags/: {len(problems)} problems")
    return 1 if validated or problems else 0


def _missing_domain_dag_files(project: Project, mesh: Mesh) -> list[str]:
    dags_dir = project.root / "dags"
    return [
        f"product_specs/{domain}/: no DAG factory file for the domain. Fix: copy dags/<any domain>.py to dags/{domain}.py and set the domain name"
        for domain in mesh.domains()
        if not (dags_dir / f"{domain}.py").is_file()
    ]


def cmd_list(project: Project, args) -> int:
    mesh = load_mesh(project)
    for pid in mesh.run_order():
        spec = mesh.products[pid]
        inputs = ", ".join(
            naming.port_id(*p.upstream) if p.is_product else f"{p.source_table.schema_}.{p.source_table.table}"
            for p in spec.input_ports
        )
        print(
            f"{pid:40} v{spec.version:8} owner={spec.owner.team:24} reads: {inputs or '-'}; read by: {', '.join(mesh.consumers_of(pid)) or '-'}"
        )
    for pid, entry in sorted(mesh.broken.items()):
        print(f"{pid:40} BROKEN ({len(entry.errors)} errors; see `dataproducts validate`)")
    return 0


def _mesh_knowing(project: Project, product_id: str, valid: bool) -> Mesh | None:
    """The mesh, when it knows the product (a valid one, if asked); else None, having said why."""
    mesh = load_mesh(project, check_dbt=False)
    known = mesh.products if valid else mesh.entries
    if product_id in known:
        return mesh
    print(
        f"'{product_id}' is not a{' valid' if valid else ' known'} product; those are: {', '.join(sorted(known))}",
        file=sys.stderr,
    )
    return None


def cmd_downstream(project: Project, args) -> int:
    mesh = _mesh_knowing(project, args.product_id, valid=False)
    if mesh is None:
        return 2
    for pid in mesh.downstream_of(args.product_id):
        print(pid)
    return 0


def cmd_rerun(project: Project, args) -> int:
    from dataproducts.core.business_date import BusinessDateError, parse_business_date
    from dataproducts.ops import rerun
    from dataproducts.ops.airflow_api import AirflowApi, report

    mesh = _mesh_knowing(project, args.product_id, valid=True)
    if mesh is None:
        return 2
    try:
        date = parse_business_date(args.business_date, "--business-date").isoformat()
    except BusinessDateError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"rebuilding {date} of, in this order: {', '.join(rerun.plan(mesh, args.product_id))}")
    if args.dry_run:
        return 0
    api = AirflowApi(args.airflow_url, token=args.token, username=args.user, password=args.password)
    try:
        records = rerun.rerun(api, mesh, args.product_id, date, args.timeout)
    except rerun.RerunFailed as exc:
        print(f"RERUN STOPPED: {exc}", file=sys.stderr)
        return 1
    print(report(records))
    return 0


def cmd_schema(project: Project, args) -> int:
    path = project.root / SCHEMA_FILE
    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if args.check:
        if not path.is_file() or path.read_text() != text:
            print(f"{SCHEMA_FILE} is out of date: run `dataproducts schema`", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {SCHEMA_FILE}")
    return 0


def cmd_settings(project: Project, args) -> int:
    from dataproducts.core import settings

    for name in settings.SETTINGS:
        value, source = settings.lookup(name)
        print(f"{name:16} {value or '(empty)':40} {source}")
    return 0


def cmd_compile(project: Project, args) -> int:
    from dataproducts.dbt import runner as dbt_runner

    dbt_runner.warehouse_env(project)
    failed = []
    for project_dir in sorted(p.parent for p in project.dbt_dir.glob("*/dbt_project.yml")):
        name = project_dir.name
        result = dbt_runner.invoke(dbt_runner.dbt_args(project, "parse", name, project_dir, []))
        print(f"dbt parse {name}: {'ok' if result.success else 'FAILED'}")
        if not result.success:
            failed.append(name)
    return 1 if failed else 0


def cmd_metadata(project: Project, args) -> int:
    from dataproducts.metadata import delivery

    if args.action == "status":
        batches, mcps = delivery.outbox_for(project).backlog()
        print(f"outbox {delivery.outbox_for(project).directory}: {batches} batches ({mcps} MCPs) waiting")
        return 0
    if args.action == "sync":
        from dataproducts.metadata.catalog_sync import sync_catalog

        synced = sync_catalog(load_mesh(project), delivery.git_revision(project.root), args.airflow_url)
        print(
            f"catalogue: {len(synced.published)} published, {len(synced.removed)} marked removed, "
            f"{len(synced.unchanged)} unchanged, {len(synced.kept_broken)} broken (last good metadata kept)"
        )
    flushed = delivery.flush(project)
    print(
        f"sent {flushed.sent_batches} batches ({flushed.sent_mcps} MCPs); {flushed.remaining_batches} batches wait"
        + (f"; error: {flushed.error}" if flushed.error else "")
    )
    return 0 if flushed.ok else 1


def cmd_seed_landing(project: Project, args) -> int:
    from dataproducts.dbt import runner as dbt_runner

    dbt_runner.warehouse_env(project)
    landing = project.dbt_project_dir("landing")
    result = dbt_runner.invoke(dbt_runner.dbt_args(project, "seed", "landing", landing, ["--full-refresh"]))
    print(f"dbt seed landing: {'ok' if result.success else 'FAILED'}")
    return 0 if result.success else 1


def cmd_demo(project: Project, args) -> int:
    from dataproducts.ops import embedded

    return embedded.run_demo(project, args.business_date, args.port, args.keep_running, args.timeout)


COMMANDS = {
    "validate": cmd_validate,
    "check": cmd_check,
    "list": cmd_list,
    "downstream": cmd_downstream,
    "rerun": cmd_rerun,
    "schema": cmd_schema,
    "settings": cmd_settings,
    "compile": cmd_compile,
    "metadata": cmd_metadata,
    "seed-landing": cmd_seed_landing,
    "demo": cmd_demo,
}
