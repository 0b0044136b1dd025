"""Running dbt for a product: `dbt build` of its selection for one business date.

dbt is invoked through its programmatic runner with an argument list (no shell), in a
directory of its own per run so concurrent runs never share target/ files, with every dbt log
line forwarded to the caller's logger (so it appears in the Airflow task log).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from dataproducts.core.project import Project
from dataproducts.core.warehouse_access import TableGrant
from dataproducts.dbt import output_inspection

log = logging.getLogger(__name__)


class DbtFailed(RuntimeError):
    """dbt ran and something in the selection failed; the message is dbt's own."""

    def __init__(self, message: str, nodes: Optional[list[NodeResult]] = None, invocation_id: str = ""):
        super().__init__(message)
        self.nodes = nodes or []
        self.invocation_id = invocation_id


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    resource_type: str
    status: str
    message: str
    rows_affected: Optional[int]
    seconds: float


@dataclass(frozen=True)
class BuildResult:
    invocation_id: str
    success: bool
    nodes: list[NodeResult] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)  # output table -> rows for the business date
    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # output table -> column -> warehouse type
    seconds: dict[str, float] = field(default_factory=dict)  # phase (import, parse, build, grants, inspect) -> wall seconds

    @property
    def failures(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in {"error", "fail", "runtime error"}]


def warehouse_env(project: Project) -> None:
    """Defaults for the embedded warehouse, for dbt's profiles.yml env_var() calls, and no dbt usage
    tracking unless the operator sets DBT_SEND_ANONYMOUS_USAGE_STATS: dbt would send dbt Labs an
    HTTP request from every build, synchronously, from every worker."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DATAPRODUCTS_DUCKDB_PATH", str(project.state_dir / "warehouse.duckdb"))
    os.environ.setdefault("DBT_PROFILES_DIR", str(project.dbt_dir))
    Path(os.environ["DATAPRODUCTS_DUCKDB_PATH"]).parent.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def as_role(role: Optional[str], domain: str):
    """dbt connects as the domain's warehouse role (profiles.yml reads DATAPRODUCTS_PG_USER), with
    DATAPRODUCTS_PG_PASSWORD_<DOMAIN> as its password when set; nothing changes without a role."""
    if role is None:
        yield
        return
    saved = {key: os.environ.get(key) for key in ("DATAPRODUCTS_PG_USER", "DATAPRODUCTS_PG_PASSWORD")}
    os.environ["DATAPRODUCTS_PG_USER"] = role
    password = os.environ.get(f"DATAPRODUCTS_PG_PASSWORD_{domain.upper()}")
    if password is not None:
        os.environ["DATAPRODUCTS_PG_PASSWORD"] = password
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dbt_args(project: Project, command: str, dbt_project: str, work_dir: Path, extra: list[str]) -> list[str]:
    return [
        command,
        "--project-dir", str(project.dbt_project_dir(dbt_project)),
        "--profiles-dir", str(project.dbt_dir),
        "--target", project.dbt_target,
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
        *extra,
    ]  # fmt: skip


def invoke(args: list[str], logger: logging.Logger = log, manifest: Any = None):
    """Run dbt in-process, forwarding its log events to logger; returns dbt's own result. With a
    manifest (from `parse`), dbt skips parsing the project again."""
    from dbt.cli.main import dbtRunner

    def forward(event) -> None:
        level = getattr(event.info, "level", "info")
        message = event.info.msg
        if message and level in {"info", "warn", "error"}:
            logger.log(logging.ERROR if level == "error" else logging.WARNING if level == "warn" else logging.INFO, message)

    logger.info("dbt %s", " ".join(args))
    return dbtRunner(manifest=manifest, callbacks=[forward]).invoke([*args, "--log-level", "none", "--log-level-file", "debug"])


def parse(project: Project, dbt_project: str, work_dir: Path, variables: str, logger: logging.Logger = log) -> Any:
    """The project parsed once per product run (build, grants and inspection reuse it), partially
    where dbt can: the partial-parse state that the last run of this project with the same vars
    left is copied into this run's target path first, so dbt re-reads only what changed since.
    The vars are part of the key because dbt renders them into configs at parse time (a test's
    `where: business_date = ...`); dbt itself throws the state away when the project, the profile
    or its version changed, and parses everything."""
    shared = parse_state_path(project, dbt_project, variables)
    own = work_dir / "target" / PARTIAL_PARSE_FILE
    own.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        shutil.copyfile(shared, own)
    # --no-write-json: the build writes this run's manifest.json itself; the parse's copy would be
    # written only to be overwritten (half a partial parse's time)
    result = invoke(dbt_args(project, "parse", dbt_project, work_dir, ["--vars", variables, "--no-write-json"]), logger)
    if not result.success or result.result is None:
        raise DbtFailed(f"dbt could not parse {dbt_project}: {result.exception or 'see the dbt log above'}")
    _keep_parse_state(own, shared)
    return result.result


PARTIAL_PARSE_FILE = "partial_parse.msgpack"
PARSE_STATES_KEPT = 8  # per dbt project and target: the latest business dates' states


def parse_state_path(project: Project, dbt_project: str, variables: str) -> Path:
    """Where runs of a dbt project with these vars keep dbt's partial-parse state."""
    key = hashlib.sha256(variables.encode()).hexdigest()[:16]
    return project.state_dir / "dbt_parse" / dbt_project / project.dbt_target / f"{key}.msgpack"


def _keep_parse_state(own: Path, shared: Path) -> None:
    """This run's partial-parse state replaces the shared one whole (concurrent runs each write a
    complete file, the last one wins); only the most recently used states are kept."""
    if not own.is_file():
        return
    shared.parent.mkdir(parents=True, exist_ok=True)
    staging = shared.with_name(f".{shared.name}.{os.getpid()}")
    shutil.copyfile(own, staging)
    os.replace(staging, shared)
    states = sorted(shared.parent.glob("*.msgpack"), key=_modified, reverse=True)
    for stale in states[PARSE_STATES_KEPT:]:
        stale.unlink(missing_ok=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # another run's clean-up got there first
        return 0.0


def build(
    project: Project,
    dbt_project: str,
    select: list[str],
    business_date: dt.date,
    work_dir: Path,
    output_tables: list[str],
    logger: logging.Logger = log,
    full_refresh: bool = False,
    grants: Sequence[TableGrant] = (),
) -> BuildResult:
    """`dbt build` of the selection for one business date (full_refresh: dbt's --full-refresh,
    recreating the tables, so only this date's rows remain); then the output tables' SELECT grants
    (on a warehouse with roles), their rows for the date and their columns. Run it inside `as_role`."""
    warehouse_env(project)
    timer = PhaseTimer()
    variables = json.dumps({"business_date": business_date.isoformat()})
    with timer("import"):
        import dbt.cli.main  # noqa: F401  (dbt's import, timed on its own)
    with timer("parse"):
        manifest = parse(project, dbt_project, work_dir, variables, logger)
    extra = [*selection_args(select), "--vars", variables, *(["--full-refresh"] if full_refresh else [])]
    with timer("build"):
        result = invoke(dbt_args(project, "build", dbt_project, work_dir, extra), logger, manifest)
    outcome = _build_result(result)
    if result.exception is not None:
        raise DbtFailed(f"dbt could not run: {result.exception}")
    if not outcome.success:
        details = "; ".join(f"{n.unique_id}: {n.message}" for n in outcome.failures) or "see the dbt log above"
        raise DbtFailed(
            f"dbt build failed for {' '.join(select)} ({business_date}): {details}", outcome.nodes, outcome.invocation_id
        )
    if grants:
        with timer("grants"):
            grant_select(project, dbt_project, work_dir, grants, logger, manifest)
    with timer("inspect"):
        counts, columns = inspect_outputs(project, dbt_project, work_dir, output_tables, business_date, logger, manifest)
    return BuildResult(outcome.invocation_id, True, outcome.nodes, counts, columns, timer.seconds)


class PhaseTimer:
    """Wall seconds per named phase of a run (`with timer("parse"): ...`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.perf_counter() - started, 3)


def selection_args(select: Sequence[str]) -> list[str]:
    """`--select=<item>` per item: joined to its option, an item is a value even if it looks like a
    flag (the spec model already refuses those; this keeps any other caller just as safe)."""
    return [f"--select={item}" for item in select]


def grant_select(
    project: Project,
    dbt_project: str,
    work_dir: Path,
    grants: Sequence[TableGrant],
    logger: logging.Logger = log,
    manifest: Any = None,
) -> None:
    """SELECT on each table for exactly its roles (dbt's apply_grants through the platform macro
    dataproducts_grant_select), before anything is published."""
    arguments = json.dumps({"grants": [g.as_dict() for g in grants]})
    result = invoke(
        dbt_args(project, "run-operation", dbt_project, work_dir, ["dataproducts_grant_select", "--args", arguments]),
        logger,
        manifest,
    )
    if not result.success:
        raise DbtFailed(
            f"could not grant SELECT on {', '.join(f'{g.schema}.{g.table}' for g in grants)}: {result.exception or 'see the dbt log above'}"
        )


def _build_result(result) -> BuildResult:
    run_results = result.result
    nodes = []
    invocation_id = ""
    if run_results is not None and hasattr(run_results, "results"):
        invocation_id = run_results.args.get("invocation_id") or ""
        for item in run_results.results:
            response = getattr(item, "adapter_response", {}) or {}
            nodes.append(
                NodeResult(
                    unique_id=item.node.unique_id,
                    resource_type=str(item.node.resource_type),
                    status=str(item.status),
                    message=str(item.message or ""),
                    rows_affected=response.get("rows_affected"),
                    seconds=float(item.execution_time or 0.0),
                )
            )
    from dbt_common.invocation import get_invocation_id

    return BuildResult(invocation_id or get_invocation_id(), bool(result.success), nodes)


def inspect_outputs(
    project: Project,
    dbt_project: str,
    work_dir: Path,
    tables: list[str],
    business_date: dt.date,
    logger: logging.Logger = log,
    manifest: Any = None,
) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    """Per output table: its rows for the business date (all rows when it has no business_date
    column) and its columns with the warehouse's types (what dbt's catalog would say). Queried
    directly on DuckDB and Postgres (dbt/output_inspection); on another adapter, all tables in one
    `dbt show` query."""
    if not tables:
        return {}, {}
    adapter = manifest.metadata.adapter_type if manifest is not None else ""
    if output_inspection.can_inspect(adapter):
        try:
            return output_inspection.inspect(adapter, output_inspection.output_tables(manifest, tables), business_date)
        except Exception as exc:  # the warehouse's own words, as dbt's would have been
            raise DbtFailed(f"could not inspect {', '.join(tables)}: {type(exc).__name__}: {exc}") from exc
    return _inspect_with_dbt_show(project, dbt_project, work_dir, tables, business_date, logger, manifest)


def _inspect_with_dbt_show(
    project: Project,
    dbt_project: str,
    work_dir: Path,
    tables: list[str],
    business_date: dt.date,
    logger: logging.Logger,
    manifest: Any,
) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    per_table = (
        "{%% set cols = adapter.get_columns_in_relation(ref('%(t)s')) %%}"
        "{%% set names = cols | map(attribute='name') | map('lower') | list %%}"
        "select '%(t)s' as output_table, count(*) as n,"
        " '{%% for c in cols %%}{{ c.name | lower }}:{{ c.dtype | lower | replace(\"'\", \"''\") }};{%% endfor %%}' as cols"
        " from {{ ref('%(t)s') }} {%% if 'business_date' in names %%} where business_date = '%(d)s' {%% endif %%}"
    )
    query = " union all ".join(per_table % {"t": table, "d": business_date.isoformat()} for table in tables)
    extra = ["--inline", query, "--output", "json", "--limit", str(len(tables))]
    result = invoke(dbt_args(project, "show", dbt_project, work_dir, extra), logger, manifest)
    if not result.success:
        raise DbtFailed(f"could not inspect {', '.join(tables)}: {result.exception}")
    counts, columns = {}, {}
    for table, rows, described in result.result.results[0].agate_table.rows:
        counts[str(table)] = int(rows)
        columns[str(table)] = dict(item.split(":", 1) for item in str(described).split(";") if ":" in item)
    return counts, columns
