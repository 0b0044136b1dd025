"""`dataproducts score [<id>]`: each product's quality score and its parts (core/quality_score),
from the specs, their dbt manifests and what the state dir keeps (run history, open incidents),
the numbers the runs send to DataHub and the Data mesh page shows."""

from __future__ import annotations

import datetime as dt
import json

from dataproducts.cli.mesh import mesh_knowing
from dataproducts.core import run_history
from dataproducts.core.mesh import load_mesh
from dataproducts.core.project import Project
from dataproducts.core.quality_score import Score, describe


def register(sub) -> None:
    command = sub.add_parser(
        "score",
        help="each product's quality score out of 100 and its parts (ownership, docs, contract, rules, freshness, runs, incidents)",
    )
    command.add_argument("product_id", nargs="?", help="only this product, with every part")
    command.add_argument("--format", choices=["text", "json"], default="text")
    command.set_defaults(handler=cmd_score)


def cmd_score(project: Project, args) -> int:
    from dataproducts.metadata.scoring import scores

    mesh = mesh_knowing(project, args.product_id, valid=True) if args.product_id else load_mesh(project, check_dbt=False)
    if mesh is None:
        return 2
    found = scores(mesh, dt.datetime.now(dt.UTC), [args.product_id] if args.product_id else None)
    history = run_history.read(project.state_dir)
    if args.format == "json":
        items = [{**s.as_dict(), "warnings": run_history.latest_warnings(history, pid)} for pid, s in found.items()]
        print(json.dumps({"products": items}, indent=2))
    elif args.product_id:
        print("\n".join(score_lines(found[args.product_id], run_history.latest_warnings(history, args.product_id))))
    else:
        print("\n".join(table(found)))
    return 0


def score_lines(result: Score, warnings: list[str]) -> list[str]:
    """A product's score section: the total, each part, and its latest run's quality warnings."""
    lines = describe(result)
    lines += [f"quality warning (latest run): {w}" for w in warnings]
    return lines


def table(found: dict[str, Score]) -> list[str]:
    names = [p.name for p in next(iter(found.values())).parts] if found else []
    lines = [f"{'product':36} {'score':>5}  " + " ".join(f"{n[:12]:>12}" for n in names)]
    for pid, result in found.items():
        cells = ["n/a" if p.points is None else f"{p.points:g}/{p.weight}" for p in result.parts]
        lines.append(f"{pid:36} {result.total:>5}  " + " ".join(f"{c:>12}" for c in cells))
    return lines
