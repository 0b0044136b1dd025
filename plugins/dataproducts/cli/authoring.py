"""Commands for domain teams writing products: scaffold a new one, build one outside Airflow."""

from __future__ import annotations

import sys

from dataproducts.cli.mesh import mesh_knowing
from dataproducts.core.project import Project


def register(sub) -> None:
    new = sub.add_parser(
        "new", help="scaffold a product: spec, dbt model and tests, sources, the domain's dbt project and DAG file when new"
    )
    new.add_argument("product_id", help="<domain>.<name>")
    new.add_argument("--reads", action="append", default=[], metavar="PRODUCT.PORT", help="another product's output port")
    new.add_argument("--source", action="append", default=[], metavar="SCHEMA.TABLE", help="an external table")
    new.add_argument("--owner", help="owning team (default: the domain)")
    new.add_argument("--contact", help="the team's e-mail (default: <team>@example.com)")
    new.add_argument("--no-compile", action="store_true", help="do not run `dbt parse` of the domain's project afterwards")
    new.set_defaults(handler=cmd_new)
    build = sub.add_parser("build", help="one product's dbt build for one business date, outside Airflow (development)")
    build.add_argument("product_id")
    build.add_argument("--business-date", required=True, help="YYYY-MM-DD")
    build.add_argument("--full-refresh", action="store_true", help="recreate the product's tables (only this date remains)")
    build.set_defaults(handler=cmd_build)


def cmd_new(project: Project, args) -> int:
    from dataproducts.core.mesh import load_mesh
    from dataproducts.core.scaffold import ScaffoldError, scaffold_product

    mesh = load_mesh(project, check_dbt=False)
    try:
        scaffold = scaffold_product(project, mesh, args.product_id, args.reads, args.source, args.owner, args.contact)
    except ScaffoldError as exc:
        print(f"new: {exc}", file=sys.stderr)
        return 2
    existing = [path for path in scaffold.files if (project.root / path).exists()]
    if existing:
        print(f"new: would overwrite {', '.join(existing)}; nothing written", file=sys.stderr)
        return 1
    domain = args.product_id.split(".", 1)[0]
    # The spec and the domain's DAG file come last, once the dbt project is compiled: Airflow,
    # parsing at any moment, never sees the product before it can build (a broken-spec DAG).
    visible_to_airflow = [path for path in scaffold.files if path.startswith(("dags/", "product_specs/"))]
    _write(project, {path: text for path, text in scaffold.files.items() if path not in visible_to_airflow})
    compiled = args.no_compile or _compile(project, domain)
    _write(project, {path: scaffold.files[path] for path in sorted(visible_to_airflow)})
    if not compiled:
        return 1
    print(f"next: edit the model and the spec's contract together, then `dataproducts validate` and "
          f"`dataproducts build {args.product_id} --business-date YYYY-MM-DD`")  # fmt: skip
    return 0


def _write(project: Project, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = project.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"wrote {path}")


def _compile(project: Project, name: str) -> bool:
    from dataproducts.cli.warehouse import compile_project
    from dataproducts.dbt import runner as dbt_runner

    dbt_runner.warehouse_env(project)
    compiled = compile_project(project, name)
    print(f"dbt parse {name}: {'ok' if compiled else 'FAILED'}")
    return compiled


def cmd_build(project: Project, args) -> int:
    import logging

    from dataproducts.core.business_date import BusinessDateError, parse_business_date
    from dataproducts.dbt.product_build import build_product
    from dataproducts.dbt.runner import DbtFailed

    mesh = mesh_knowing(project, args.product_id, valid=True)
    if mesh is None:
        return 2
    try:
        date = parse_business_date(args.business_date, "--business-date")
    except BusinessDateError as exc:
        print(exc, file=sys.stderr)
        return 2
    spec = mesh.products[args.product_id]
    logger = logging.getLogger("dataproducts.build")
    if not logger.handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    work_dir = project.state_dir / "builds" / args.product_id / date.isoformat()
    try:
        built = build_product(project, spec, date, work_dir, logger, full_refresh=args.full_refresh)
    except DbtFailed as exc:
        print(f"build FAILED: {exc}", file=sys.stderr)
        return 1
    rows = ", ".join(f"{table}={count}" for table, count in built.result.row_counts.items())
    print(f"built {args.product_id} for {date}: {rows} rows")
    for check in built.contract_checks:
        if not check.passed:
            print(f"CONTRACT BROKEN: {check.message}", file=sys.stderr)
    if not built.contract_held:
        return 1
    return _quality_report(built.quality_results)


def _quality_report(results) -> int:
    """The ports' quality rules on the built date, as the build task measured them: 1 when one of
    severity error failed (the task would not publish)."""
    for result in results:
        label = "quality" if result.passed else "QUALITY FAILED" if result.blocks else "quality warning"
        print(f"{label}: {result.message}", file=sys.stderr)
    return 1 if any(r.blocks for r in results) else 0
