"""`dataproducts diff`: every spec of the working tree against its version at a git revision; exit 1
when a breaking change lacks a major version bump, 2 when the revision cannot be read."""

from __future__ import annotations

import sys
from functools import cache
from typing import Optional

from dataproducts.cli import diff_output
from dataproducts.core import deprecation, git_specs
from dataproducts.core.diff_verdict import ColumnUse, verdict
from dataproducts.core.loader import load_spec_file, spec_files
from dataproducts.core.project import Project

USAGE_ERROR = 2


def register(sub) -> None:
    diff = sub.add_parser(
        "diff",
        help="classify every spec change since a git revision (breaking, minor, patch); "
        "exit 1 when a breaking change lacks a major version bump",
    )
    diff.add_argument("--base", help="git revision to compare with (default: the merge base of HEAD with main)")
    diff.add_argument("--format", choices=("text", "json", "github"), default="text", help="github: workflow commands")
    diff.set_defaults(handler=cmd_diff)


def cmd_diff(project: Project, args) -> int:
    try:
        base = git_specs.commit_of(project.root, args.base) if args.base else git_specs.default_base(project.root)
        old = git_specs.specs_at(project.root, base)
        prefix = git_specs.path_prefix(project.root)
    except git_specs.GitError as exc:
        print(f"dataproducts diff: {exc}", file=sys.stderr)
        return USAGE_ERROR
    new = {e.product_id: e for e in (load_spec_file(p, project.root, project.specs_dir) for p in spec_files(project.specs_dir))}
    report = verdict(base, old, new, deprecation.today(), lineage_column_use(project))
    if args.format == "json":
        print(diff_output.as_json(report))
    else:
        print("\n".join(diff_output.github(report, prefix) if args.format == "github" else diff_output.text(report)))
        if args.format == "text":
            for error in report.errors:
                print(error, file=sys.stderr)
    return 1 if report.errors else 0


def lineage_column_use(project: Project) -> ColumnUse:
    """Column use from column lineage, computed only for consumers of a breaking change (it loads the
    mesh with its dbt manifests and DataHub's SQL parser)."""

    @cache
    def finder():
        from dataproducts.metadata.column_use import ColumnUseFinder

        return ColumnUseFinder(project)

    def use(consumer: str, input_port: str) -> Optional[frozenset[str]]:
        return finder().columns_used(consumer, input_port)

    return use
