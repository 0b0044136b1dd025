"""What a product's tasks do when they run (the run-time edge; the DAG factory only wires these).

Tasks get nothing but the product id from the DAG: the spec is read again here, so no spec text
ever passes through Airflow's templating, and a run always uses the spec as it is on disk.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pendulum

from dataproducts.airflow import freshness_watch
from dataproducts.airflow.params import FULL_REFRESH
from dataproducts.core import contract, naming, quality, readiness, warehouse_access
from dataproducts.core.business_date import CONF_KEY, parse_business_date, partition_key, resolve_business_date
from dataproducts.core.errors import SpecErrors
from dataproducts.core.loader import load_spec_file
from dataproducts.core.project import Project
from dataproducts.core.spec import DataProductSpec, Severity
from dataproducts.dbt import quality_checks
from dataproducts.dbt import runner as dbt_runner

log = logging.getLogger("dataproducts.run")


def load_product(project: Project, product_id: str) -> DataProductSpec:
    domain, name = product_id.split(".", 1)
    path = next((p for p in (project.specs_dir / domain / f"{name}{s}" for s in (".yaml", ".yml")) if p.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"the spec of {product_id} is gone from {project.specs_dir / domain}")
    entry = load_spec_file(path, project.root, project.specs_dir)
    if entry.spec is None or entry.errors:
        raise SpecErrors(entry.errors)
    broken_rules = list(quality.column_errors(entry.path, entry.spec))
    if broken_rules:
        raise SpecErrors(broken_rules)
    return entry.spec


OUTCOME_KEY = "build_outcome"  # XCom the build task leaves when it fails or skips, for emit_metadata
DBT_TARGET_KEY = "dbt_target_path"  # where this run's dbt wrote its artifacts (the SQL it compiled)
QUALITY_KEY = "quality_results"  # every quality rule's result (core/quality.QualityResult.as_dict)


def run_build(product_id: str, project_root: str) -> dict[str, Any]:
    """The 'build' task: choose the business date, run `dbt build`, count the output rows."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowSkipException

    context = get_current_context()
    ti = context["ti"]
    business_date = None
    project = Project.from_env(Path(project_root))
    work_dir = project.state_dir / "runs" / product_id / _safe(context["dag_run"].run_id) / f"try_{ti.try_number}"
    try:
        spec = load_product(project, product_id)
        business_date, reason = resolve_business_date(
            conf=context["dag_run"].conf,
            run_partition_key=run_partition_key(context),
            data_interval_start=context.get("data_interval_start"),
            timezone=spec.timezone,
            now=pendulum.now("UTC"),
        )
        log.info("%s builds business date %s (from %s)", product_id, business_date, reason)
        freshness_watch.log_stale_inputs(spec, lambda producer: load_product(project, producer))
        _check_inputs_published(spec, context, business_date)
        role, grants = _warehouse_access(project, spec)
        adapter = _adapter(project, spec)
        with dbt_runner.as_role(role, spec.domain):
            result = dbt_runner.build(
                project,
                spec.transform.dbt.project,
                list(spec.transform.dbt.select),
                business_date,
                work_dir,
                [p.table_name for p in spec.output_ports],
                log,
                full_refresh=bool((context.get("params") or {}).get(FULL_REFRESH)),
                grants=grants,
            )
            built = _built(business_date, result, contract.check_columns(spec, result.columns, adapter), work_dir)
            _hold_to_contract(built)
            built[QUALITY_KEY] = _quality_results(adapter, spec, business_date, result)
            _hold_to_quality_rules(built)
    except AirflowSkipException as skip:
        ti.xcom_push(key=OUTCOME_KEY, value={"skipped": str(skip)})
        raise
    except (contract.ContractBroken, quality.QualityFailed) as broken:
        ti.xcom_push(key=OUTCOME_KEY, value={**built, "failed": str(broken)})
        raise
    except Exception as exc:
        ti.xcom_push(key=OUTCOME_KEY, value=_failure(exc, business_date, work_dir))
        raise
    for table, rows in result.row_counts.items():
        log.info("%s: %s rows for %s", table, rows, business_date)
    return built


def _hold_to_contract(built: dict[str, Any]) -> None:
    failed = [c for c in built["contract_checks"] if not c["passed"]]
    if failed:
        raise contract.ContractBroken(failed)


def _quality_results(adapter: str, spec: DataProductSpec, business_date, result: dbt_runner.BuildResult) -> list[dict[str, Any]]:
    """Every quality rule measured on the date's rows, once the contract held; failures logged as warnings."""
    results = [r.as_dict() for r in quality_checks.evaluate(adapter, spec, business_date, result.columns)]
    for r in results:
        log.log(logging.INFO if r["passed"] else logging.WARNING, "%s", r["message"])
    return results


def _hold_to_quality_rules(built: dict[str, Any]) -> None:
    """An error-severity rule that failed stops the build: nothing is published, no consumer starts."""
    blocking = [r for r in built[QUALITY_KEY] if not r["passed"] and r["severity"] == Severity.error.value]
    if blocking:
        raise quality.QualityFailed(blocking)


def _warehouse_access(project: Project, spec: DataProductSpec) -> tuple[str | None, list[warehouse_access.TableGrant]]:
    """On a warehouse with roles: the domain's role dbt runs as, and the grants of its outputs."""
    prefix = project.warehouse_role_prefix
    if prefix is None:
        return None, []
    return warehouse_access.domain_role(prefix, spec.domain), warehouse_access.output_grants(spec, prefix)


def _adapter(project: Project, spec: DataProductSpec) -> str:
    """The dbt adapter the domain's project was compiled for ('duckdb', 'postgres')."""
    from dataproducts.core.manifest import load_manifest

    manifest = load_manifest(project.manifest_path(spec.transform.dbt.project))
    return manifest.adapter_type if manifest else ""


def _built(business_date, result: dbt_runner.BuildResult, checks: list[contract.ContractCheck], work_dir: Path) -> dict[str, Any]:
    return {
        CONF_KEY: business_date.isoformat(),
        DBT_TARGET_KEY: str(work_dir / "target"),
        "dbt_invocation_id": result.invocation_id,
        "row_counts": result.row_counts,
        "column_types": result.columns,
        "dbt_nodes": [n.__dict__ for n in result.nodes],
        "contract_checks": [
            {"unique_id": c.unique_id, "table": c.table.split(".", 1)[1], "passed": c.passed, "message": c.message}
            for c in checks
        ],
    }


def _failure(exc: Exception, business_date, work_dir: Path) -> dict[str, Any]:
    return {
        "failed": str(exc) or type(exc).__name__,
        DBT_TARGET_KEY: str(work_dir / "target"),
        CONF_KEY: business_date.isoformat() if business_date else None,
        "dbt_invocation_id": getattr(exc, "invocation_id", ""),
        "dbt_nodes": [n.__dict__ for n in getattr(exc, "nodes", [])],
    }


def run_partition_key(context) -> str | None:
    return context.get("partition_key") or getattr(context["dag_run"], "partition_key", None)


def _check_inputs_published(spec: DataProductSpec, context, business_date) -> None:
    """The per-date rule (dataproducts.core.readiness) against the inputs' publication records."""
    if not spec.product_inputs:
        return
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from dataproducts.airflow import publications
    from dataproducts.airflow.assets import product_asset

    stores = context["asset_state_store"]
    published = {
        naming.port_id(*p.upstream): publications.known_dates(stores[product_asset(*p.upstream)], business_date)
        for p in spec.product_inputs
    }
    verdict = readiness.decide(spec.trigger or readiness.ALL, business_date, published)
    if verdict.skip:
        raise AirflowSkipException(verdict.message)
    if not verdict.build:  # no retry: the input's own run (or a rerun of it) starts this product again
        raise AirflowFailException(f"{spec.id} cannot build {business_date}: {verdict.message}")
    log.info("%s: %s", spec.id, verdict.message)


def run_publish(product_id: str, project_root: str, build: dict[str, Any]) -> list[str]:
    """The 'publish' task: one asset event per output port, carrying what consumers need."""
    from airflow.sdk import get_current_context

    from dataproducts.airflow import publications
    from dataproducts.airflow.assets import product_asset

    context = get_current_context()
    spec = load_product(Project.from_env(Path(project_root)), product_id)
    business_date = parse_business_date(build[CONF_KEY], "the build's business date")
    for port in spec.output_ports:
        asset = product_asset(product_id, port.name)
        facts = {
            CONF_KEY: build[CONF_KEY],
            "row_count": build["row_counts"].get(port.table_name),
            "dbt_invocation_id": build["dbt_invocation_id"],
            "spec_version": spec.version,
            "table": f"{spec.domain}.{port.table_name}",
            "quality_warnings": _warnings(build, naming.port_id(product_id, port.name)),
        }
        event = context["outlet_events"][asset]
        event.extra = facts
        event.add_partitions(partition_key(business_date))  # whatever started the run, the event names the date built
        publications.record(context["asset_state_store"][asset], business_date, {**facts, "run_id": context["dag_run"].run_id})
        log.info("published %s for %s", naming.port_id(product_id, port.name), build[CONF_KEY])
        for warning in facts["quality_warnings"]:
            log.warning("published with a quality warning: %s", warning)
    return [naming.port_id(product_id, p.name) for p in spec.output_ports]


def _warnings(build: dict[str, Any], port_id: str) -> list[str]:
    """The messages of the port's warn-severity rules that failed (an error-severity one never publishes)."""
    return [r["message"] for r in build.get(QUALITY_KEY, []) if r["port_id"] == port_id and not r["passed"]]


def run_emit_metadata(product_id: str, project_root: str) -> None:
    """The 'emit_metadata' task (runs whatever happened before it): the run's and the product's
    metadata go to the outbox, then the outbox is flushed. It never fails the DAG run."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    try:
        _emit_metadata(product_id, Project.from_env(Path(project_root)), context)
    except Exception:  # metadata must never fail the data; the outbox keeps what was written
        log.exception("could not emit DataHub metadata for %s (the data is not affected)", product_id)


def _emit_metadata(product_id: str, project: Project, context) -> None:
    from dataproducts.core.mesh import load_mesh
    from dataproducts.metadata import delivery

    ti = context["ti"]
    built = ti.xcom_pull(task_ids="build")
    outcome = ti.xcom_pull(task_ids="build", key=OUTCOME_KEY) or {}
    if outcome.get("skipped"):
        log.info("the build was skipped (%s): no run metadata", outcome["skipped"])
        return
    published = ti.xcom_pull(task_ids="publish") is not None
    mesh = load_mesh(project)
    record = run_record(product_id, mesh, context, built or outcome, succeeded=bool(built) and published)
    delivery.deliver_run(project, mesh, record, delivery.git_revision(project.root))


def run_record(product_id: str, mesh, context, build: dict[str, Any], succeeded: bool):
    from dataproducts.core.manifest import load_manifest
    from dataproducts.metadata.run_record import QualityOutcome, RunRecord, TestOutcome

    dag_run = context["dag_run"]
    spec = mesh.products.get(product_id)
    manifest = load_manifest(mesh.project.manifest_path(spec.transform.dbt.project)) if spec else None
    tests = [
        TestOutcome(c["unique_id"], "pass" if c["passed"] else "fail", c["message"], None, contract.TEST_NAME, c["table"])
        for c in build.get("contract_checks", [])
    ]
    for node in build.get("dbt_nodes", []):
        if node["resource_type"] != "test":
            continue
        info = manifest.test(node["unique_id"]) if manifest else None
        tests.append(
            TestOutcome(
                unique_id=node["unique_id"],
                status=node["status"],
                message=node["message"],
                column=info.column if info else None,
                test_name=info.test_name if info else None,
                table=info.table if info else None,
            )
        )
    failure = build.get("failed") or ("" if succeeded else "the run failed before dbt reported; see the task logs")
    started = dag_run.start_date or pendulum.now("UTC")
    return RunRecord(
        product_id=product_id,
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        try_number=context["ti"].try_number,
        business_date=build.get(CONF_KEY),
        started_at_ms=int(started.timestamp() * 1000),
        ended_at_ms=int(pendulum.now("UTC").timestamp() * 1000),
        succeeded=succeeded,
        failure_message=failure,
        dbt_invocation_id=build.get("dbt_invocation_id", ""),
        dbt_target_path=build.get(DBT_TARGET_KEY) or "",
        row_counts=build.get("row_counts", {}) if succeeded else {},
        column_types=build.get("column_types", {}),
        tests=tests,
        quality=[QualityOutcome.from_result(r) for r in build.get(QUALITY_KEY, [])],
        airflow_base_url=_airflow_base_url(),
    )


def _airflow_base_url() -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/")


def run_catalog_sync(project_root: str) -> dict[str, Any]:
    """The catalogue DAG's task: publish changed specs, mark deleted ones removed, check every
    port's freshness (dataproducts.airflow.freshness_watch), flush the outbox."""
    from airflow.sdk import get_current_context

    from dataproducts.core.mesh import load_mesh
    from dataproducts.metadata import delivery
    from dataproducts.metadata.catalog_sync import sync_catalog

    project = Project.from_env(Path(project_root))
    mesh = load_mesh(project)
    report = sync_catalog(mesh, delivery.git_revision(project.root), _airflow_base_url())
    log.info("catalogue: published %s; removed %s; broken (kept) %s", report.published, report.removed, report.kept_broken)
    try:
        checked = freshness_watch.check_mesh(project, mesh, get_current_context())
        checked["scores"] = _scores(mesh)
    finally:  # a failed check fails the task, visibly, yet the outbox is still flushed
        flushed = delivery.flush(project)
    return {
        **checked,
        "published": report.published,
        "removed": report.removed,
        "backlog_batches": flushed.remaining_batches,
        "quarantined": [str(q) for q in flushed.quarantine],
    }


def _scores(mesh) -> dict[str, int]:
    """Every product's quality score to DataHub (metadata/score_delivery), logged."""
    import datetime as dt

    from dataproducts.metadata.score_delivery import deliver_scores

    try:
        totals = {pid: s.total for pid, s in deliver_scores(mesh, dt.datetime.now(dt.UTC)).items()}
    except Exception:  # a score is a view on facts: its trouble is logged, the sync goes on
        log.exception("could not score the products")
        return {}
    log.info("quality scores: %s", ", ".join(f"{pid} {total}" for pid, total in totals.items()))
    return totals


def fail_with_spec_errors(messages: str) -> None:
    """The single task of a broken spec's DAG."""
    raise RuntimeError("This product's spec is broken; nothing was built.\n" + messages)


def _safe(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
