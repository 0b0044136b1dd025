"""Commands that look at the mesh: one product in full, the product graph, the impact of a change."""

from __future__ import annotations

import sys

from dataproducts.cli.airflow_access import add_airflow_options, airflow_api
from dataproducts.cli.mesh import mesh_knowing
from dataproducts.core import naming
from dataproducts.core.project import Project

LAST_RUNS = 5


def register(sub) -> None:
    show = sub.add_parser("show", help="one product: ports, contract, schedule, owner, upstream, downstream, last runs")
    show.add_argument("product_id")
    add_airflow_options(show)
    show.set_defaults(handler=cmd_show)
    graph = sub.add_parser("graph", help="the product graph as text, Mermaid or Graphviz DOT")
    graph.add_argument("--format", choices=["text", "mermaid", "dot"], default="text")
    graph.add_argument("--domain", help="only this domain's products and their direct neighbours")
    graph.set_defaults(handler=cmd_graph)
    impact = sub.add_parser("impact", help="every product a change of a product (or of one port) reaches, with owners")
    impact.add_argument("target", metavar="PRODUCT[.PORT]")
    impact.set_defaults(handler=cmd_impact)


def cmd_show(project: Project, args) -> int:
    from dataproducts.core.inspection import describe

    mesh = mesh_knowing(project, args.product_id, valid=False)
    if mesh is None:
        return 2
    print("\n".join(describe(mesh, args.product_id)))
    if args.product_id in mesh.products:
        print("\n".join(_score(mesh, args.product_id)))
    print("  last runs:")
    print("\n".join(f"    {line}" for line in _last_runs(args, naming.dag_id(args.product_id))))
    return 0


def _score(mesh, product_id: str) -> list[str]:
    """The score section: total, parts, the latest run's quality warnings (cli/scores.py)."""
    import datetime as dt

    from dataproducts.cli.scores import score_lines
    from dataproducts.core import run_history
    from dataproducts.metadata.scoring import scores

    result = scores(mesh, dt.datetime.now(dt.UTC), [product_id])[product_id]
    warnings = run_history.latest_warnings(run_history.read(mesh.project.state_dir), product_id)
    return ["  quality:"] + [f"    {line}" for line in score_lines(result, warnings)]


def _last_runs(args, dag_id: str) -> list[str]:
    from dataproducts.ops.airflow_api import AirflowApiError

    api = airflow_api(args)
    try:
        api.health()  # no credentials needed: says first whether an Airflow is there at all
        runs = api.latest_runs(dag_id, LAST_RUNS)
    except AirflowApiError as exc:
        return [f"unknown ({exc})"]
    if not runs:
        return ["none yet"]
    return [f"{run.run_after.isoformat():32} {run.state.value:8} {run.note or run.dag_run_id}" for run in runs]


def cmd_graph(project: Project, args) -> int:
    from dataproducts.core.inspection import GRAPH_FORMATS
    from dataproducts.core.mesh import load_mesh

    mesh = load_mesh(project, check_dbt=False)
    if args.domain and args.domain not in mesh.domains():
        print(f"graph: no domain '{args.domain}'; the domains are: {', '.join(mesh.domains())}", file=sys.stderr)
        return 2
    print(GRAPH_FORMATS[args.format](mesh, args.domain))
    return 0


def cmd_impact(project: Project, args) -> int:
    from dataproducts.core.inspection import impact

    product_id, port = (naming.split_port_id(args.target)) if args.target.count(".") == 2 else (args.target, None)
    mesh = mesh_knowing(project, product_id, valid=True)
    if mesh is None:
        return 2
    ports = [p.name for p in mesh.products[product_id].output_ports]
    if port is not None and port not in ports:
        print(f"impact: {product_id} has no port '{port}'; its ports are: {', '.join(ports)}", file=sys.stderr)
        return 2
    reached = impact(mesh, product_id, port)
    print(f"a change of {args.target} reaches {len(reached)} products")
    for item in reached:
        print(f"{item.depth}  {item.product_id:40} owner {item.owner} <{item.contact}>  via {', '.join(item.via)}")
    return 0
