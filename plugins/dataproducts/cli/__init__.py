"""`dataproducts`: the mesh from the command line, in milliseconds, without starting Airflow.

One module per group of commands; each registers its subcommands and their handlers.
"""

from __future__ import annotations

import argparse
import atexit
import gc
from pathlib import Path

from dataproducts.cli import authoring, catalog, contracts, diff, freshness, inspection, mesh, runs, scores, warehouse
from dataproducts.core.project import Project

COMMAND_GROUPS = (mesh, inspection, freshness, scores, contracts, diff, authoring, warehouse, runs, catalog)


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog="dataproducts", description=__doc__.splitlines()[0])
    result.add_argument("--root", type=Path, help="project root (default: the `home` setting, else the working directory)")
    sub = result.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return result


def main(argv: list[str] | None = None) -> int:
    # the command's objects die with the process: spare it the cycle collector's last walk over all
    # of them at exit (seconds after validating a large mesh)
    atexit.register(gc.freeze)
    args = parser().parse_args(argv)
    project = Project(args.root.resolve()) if args.root else Project.from_env()
    return args.handler(project, args)
