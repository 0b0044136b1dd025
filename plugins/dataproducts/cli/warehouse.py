"""Commands that run dbt or prepare the warehouse outside Airflow: compile the manifests, load the
example's landing data, provision the warehouse's roles."""

from __future__ import annotations

from dataproducts.core.project import Project


def register(sub) -> None:
    sub.add_parser(
        "compile", help="run `dbt parse` in every dbt project, writing the manifests the DAG factory reads"
    ).set_defaults(handler=cmd_compile)
    sub.add_parser("seed-landing", help="load the example's operational source data (dbt seed of dbt/landing)").set_defaults(
        handler=cmd_seed_landing
    )
    warehouse = sub.add_parser(
        "warehouse", help="postgres target: a role per domain, its schema, SELECT on the sources it declares"
    )
    warehouse.add_argument("action", choices=["provision"])
    warehouse.set_defaults(handler=cmd_warehouse)


def cmd_compile(project: Project, args) -> int:
    from dataproducts.dbt import runner as dbt_runner

    dbt_runner.warehouse_env(project)
    failed = []
    for project_dir in sorted(p.parent for p in project.dbt_dir.glob("*/dbt_project.yml")):
        name = project_dir.name
        ok = compile_project(project, name)
        print(f"dbt parse {name}: {'ok' if ok else 'FAILED'}")
        if not ok:
            failed.append(name)
    return 1 if failed else 0


def compile_project(project: Project, name: str) -> bool:
    """`dbt parse` into a staging folder, then the manifest replaces the old one atomically: the DAG
    factory, reading it at any moment (or after compile was killed), sees the old or the new one whole."""
    from filelock import FileLock

    from dataproducts.core.files import atomic_write_bytes
    from dataproducts.dbt import runner as dbt_runner

    target = project.manifest_path(name).parent
    target.mkdir(parents=True, exist_ok=True)
    staging = target / ".compile"  # kept between runs: dbt's partial parsing reuses what it left there
    with FileLock(str(target / ".compile.lock")):
        (staging / "target" / "manifest.json").unlink(missing_ok=True)
        result = dbt_runner.invoke(dbt_runner.dbt_args(project, "parse", name, staging, []))
        written = staging / "target" / "manifest.json"
        if not result.success or not written.is_file():
            return False
        atomic_write_bytes(target / "manifest.json", written.read_bytes())
        return True


def cmd_seed_landing(project: Project, args) -> int:
    from dataproducts.dbt import runner as dbt_runner

    dbt_runner.warehouse_env(project)
    landing = project.dbt_project_dir("landing")
    result = dbt_runner.invoke(dbt_runner.dbt_args(project, "seed", "landing", landing, ["--full-refresh"]))
    print(f"dbt seed landing: {'ok' if result.success else 'FAILED'}")
    return 0 if result.success else 1


def cmd_warehouse(project: Project, args) -> int:
    import sys

    from dataproducts.core.mesh import load_mesh
    from dataproducts.dbt import warehouse

    prefix = project.warehouse_role_prefix
    if prefix is None:
        print(f"the '{project.dbt_target}' target has no roles; set DATAPRODUCTS_DBT_TARGET=postgres", file=sys.stderr)
        return 2
    print(warehouse.provision(load_mesh(project, check_dbt=False), prefix))
    return 0
