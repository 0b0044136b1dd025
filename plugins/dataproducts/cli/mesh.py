"""Commands on the mesh itself (the pure core): validate, check, list, show, downstream, schema, settings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dataproducts.core import naming, settings
from dataproducts.core.errors import SpecError
from dataproducts.core.mesh import Mesh, load_mesh
from dataproducts.core.project import Project
from dataproducts.core.spec import json_schema

SCHEMA_FILE = Path("schema") / "dataproduct.schema.json"


def register(sub) -> None:
    validate = sub.add_parser(
        "validate",
        help="load and check every spec, with warnings (reads of deprecated ports, naming rules at warn); exit 1 when any is broken",
    )
    validate.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or one JSON document")
    validate.set_defaults(handler=cmd_validate)
    sub.add_parser(
        "check", help="what a team's CI runs: dbt parse of every project, validate, and Airflow's DagBag over dags/"
    ).set_defaults(handler=cmd_check)
    sub.add_parser("list", help="products in run order, with inputs and consumers").set_defaults(handler=cmd_list)
    down = sub.add_parser("downstream", help="products that read a product, directly or not (what a rerun touches)")
    down.add_argument("product_id")
    down.set_defaults(handler=cmd_downstream)
    schema = sub.add_parser("schema", help="write the spec's JSON Schema to schema/dataproduct.schema.json")
    schema.add_argument("--check", action="store_true", help="exit 1 when the committed file is out of date")
    schema.set_defaults(handler=cmd_schema)
    sub.add_parser("settings", help="every setting of the [dataproducts] section: value and where it came from").set_defaults(
        handler=cmd_settings
    )


def cmd_validate(project: Project, args) -> int:
    mesh = load_mesh(project)
    problems = [str(e) for e in mesh.errors] + _missing_domain_dag_files(project, mesh)
    if getattr(args, "format", "text") == "json":
        print(json.dumps(_validation_json(mesh, problems[len(mesh.errors) :]), indent=2))
        return 1 if problems else 0
    for problem in problems:
        print(problem, file=sys.stderr)
    for warning in mesh.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    warned = f", {len(mesh.warnings)} warning{'s' if len(mesh.warnings) > 1 else ''}" if mesh.warnings else ""
    print(f"{len(mesh.products)} products valid, {len(mesh.broken)} broken{warned}, in {len(mesh.domains())} domains")
    return 1 if problems else 0


def _validation_json(mesh: Mesh, other_problems: list[str]) -> dict:
    """`validate --format json`: errors and warnings with their place, as `diff --format json` gives errors."""

    def item(error: SpecError) -> dict:
        fields = ("file", "line", "column", "field", "problem", "fix")
        return {**{name: getattr(error, name) for name in fields}, "message": str(error)}

    return {
        "products_valid": len(mesh.products),
        "products_broken": len(mesh.broken),
        "domains": len(mesh.domains()),
        "errors": [item(e) for e in mesh.errors],
        "warnings": [item(w) for w in mesh.warnings],
        "other_problems": other_problems,
    }


def cmd_check(project: Project, args) -> int:
    from dataproducts.airflow.check import dagbag_problems
    from dataproducts.cli.warehouse import cmd_compile

    if cmd_compile(project, args) != 0:
        return 1
    validated = cmd_validate(project, args)
    problems = dagbag_problems(load_mesh(project))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"Airflow DagBag over dags/: {len(problems)} problems")
    return 1 if validated or problems else 0


def _missing_domain_dag_files(project: Project, mesh: Mesh) -> list[str]:
    """Domains no DAG file builds: neither dags/<domain>.py nor the shared loader of new domains."""
    if (project.dags_dir / naming.NEW_DOMAINS_DAG_FILE).is_file():
        return []
    return [
        f"product_specs/{domain}/: no DAG file builds the domain. Fix: `dataproducts new {domain}.<product>` writes dags/{domain}.py, "
        f"or keep dags/{naming.NEW_DOMAINS_DAG_FILE}, which builds every domain without a file of its own"
        for domain in project.domains_without_dag_file()
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


def mesh_knowing(project: Project, product_id: str, valid: bool) -> Mesh | None:
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
    mesh = mesh_knowing(project, args.product_id, valid=False)
    if mesh is None:
        return 2
    for pid in mesh.downstream_of(args.product_id):
        print(pid)
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
    for name in settings.SETTINGS:
        value, source = settings.lookup(name)
        print(f"{name:28} {value or '(empty)':40} {source}")
    return 0
