"""Commands that run dbt outside Airflow: compile the manifests, load the example's landing data."""

from __future__ import annotations

from dataproducts.core.project import Project


def register(sub) -> None:
    sub.add_parser(
        "compile", help="run `dbt parse` in every dbt project, writing the manifests the DAG factory reads"
    ).set_defaults(handler=cmd_compile)
    sub.add_parser("seed-landing", help="load the example's operational source data (dbt seed of dbt/landing)").set_defaults(
        handler=cmd_seed_landing
    )


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


def cmd_seed_landing(project: Project, args) -> int:
    from dataproducts.dbt import runner as dbt_runner

    dbt_runner.warehouse_env(project)
    landing = project.dbt_project_dir("landing")
    result = dbt_runner.invoke(dbt_runner.dbt_args(project, "seed", "landing", landing, ["--full-refresh"]))
    print(f"dbt seed landing: {'ok' if result.success else 'FAILED'}")
    return 0 if result.success else 1
