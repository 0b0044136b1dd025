"""`dataproducts freshness`: every output port's state against its SLA, from Airflow's asset events
(its REST API), by the one rule (dataproducts.core.freshness). Exit 1 when a port is stale, so a
monitoring check can run it as it is; 2 when it cannot tell (Airflow unreachable, unknown product)."""

from __future__ import annotations

import datetime as dt
import json

from dataproducts.cli.airflow_access import add_airflow_options, airflow_api, airflow_failed
from dataproducts.cli.mesh import mesh_knowing
from dataproducts.core import freshness, naming
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project


def register(sub) -> None:
    command = sub.add_parser(
        "freshness", help="each output port: fresh, stale or never published, its age and SLA (exit 1 when one is stale)"
    )
    command.add_argument("product_id", nargs="?", help="only this product's ports")
    command.add_argument("--format", choices=["text", "json"], default="text")
    add_airflow_options(command)
    command.set_defaults(handler=cmd_freshness)


def cmd_freshness(project: Project, args) -> int:
    from dataproducts.ops.airflow_api import AirflowApiError

    mesh = mesh_knowing(project, args.product_id, valid=True) if args.product_id else load_mesh(project, check_dbt=False)
    if mesh is None:
        return 2
    specs = [mesh.products[args.product_id]] if args.product_id else [mesh.products[p] for p in sorted(mesh.products)]
    try:
        published = airflow_api(args).latest_asset_events(f"{naming.ASSET_SCHEME}://")
    except AirflowApiError as exc:
        return airflow_failed("freshness", exc, 2)
    now = dt.datetime.now(dt.UTC)
    rows = [(p, freshness.evaluate(published.get(p.port_id), p.max_age_hours, now)) for p in freshness.port_slas(specs)]
    print(_json(rows) if args.format == "json" else _text(rows))
    return 1 if any(result.stale for _, result in rows) else 0


def _text(rows: list[tuple[freshness.PortSla, freshness.Freshness]]) -> str:
    lines = [f"{'port':48} {'state':7} {'age':>9} {'SLA':>7}  latest publication"]
    for port, result in rows:
        age = f"{result.age_hours:.1f} h" if result.age_hours is not None else "-"
        sla = f"{port.max_age_hours:g} h" if port.max_age_hours is not None else "-"
        published = result.published_at.isoformat(timespec="seconds") if result.published_at else "never"
        lines.append(f"{port.port_id:48} {result.state:7} {age:>9} {sla:>7}  {published}")
    counts = {s: sum(1 for _, r in rows if r.state == s) for s in freshness.ORDER}
    lines.append(f"{len(rows)} ports: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)


def _json(rows: list[tuple[freshness.PortSla, freshness.Freshness]]) -> str:
    items = [
        {
            "port": port.port_id,
            "product": port.product_id,
            "state": result.state,
            "age_hours": result.age_hours,
            "max_age_hours": port.max_age_hours,
            "published_at": result.published_at.isoformat() if result.published_at else None,
        }
        for port, result in rows
    ]
    return json.dumps({"ports": items, "stale": [i["port"] for i in items if i["state"] == freshness.STALE]}, indent=2)
