"""What a product's tasks do when they run (the run-time edge; the DAG factory only wires these).

Tasks get nothing but the product id from the DAG: the spec is read again here, so no spec text
ever passes through Airflow's templating, and a run always uses the spec as it is on disk.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pendulum

from dataproducts.airflow import freshness_watch
from dataproducts.airflow.params import FULL_REFRESH
from dataproducts.core import contract, naming, quality, readiness
from dataproducts.core.business_date import CONF_KEY, partition_key, resolve_business_date
from dataproducts.core.errors import SpecErrors
from dataproducts.core.loader import load_spec_file
from dataproducts.core.project import Project
from dataproducts.core.run_outcome import (
    BUILD_TASK,
    OUTCOME_KEY,
    BuildOutcome,
    ContractCheckResult,
    DbtNode,
    QualityCheckResult,
)
from dataproducts.core.spec import DataProductSpec
from dataproducts.dbt import product_build
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


def run_build(product_id: str, project_root: str) -> dict[str, Any]:
    """The 'build' task: choose the business date, run `dbt build`, count the output rows.
    Its return value is the run's BuildOutcome as XCom (core/run_outcome); when it fails or is
    skipped, it leaves the outcome under OUTCOME_KEY instead, for emit_metadata."""
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
        built = _built(
            business_date,
            product_build.build_product(
                project, spec, business_date, work_dir, log, full_refresh=bool((context.get("params") or {}).get(FULL_REFRESH))
            ),
            work_dir,
        )
        _hold_to_contract(built)
        _log_quality(built.quality_results)
        _hold_to_quality_rules(built)
    except AirflowSkipException as skip:
        ti.xcom_push(key=OUTCOME_KEY, value=BuildOutcome(skipped=str(skip)).to_xcom())
        raise
    except (contract.ContractBroken, quality.QualityFailed) as broken:
        ti.xcom_push(key=OUTCOME_KEY, value=built.model_copy(update={"failed": str(broken)}).to_xcom())
        raise
    except Exception as exc:
        ti.xcom_push(key=OUTCOME_KEY, value=_failure(exc, business_date, work_dir).to_xcom())
        raise
    for table, rows in built.row_counts.items():
        log.info("%s: %s rows for %s", table, rows, business_date)
    log.info("build phases (wall seconds): %s", ", ".join(f"{phase} {s:.2f}" for phase, s in built.seconds.items()))
    return built.to_xcom()


def _hold_to_contract(built: BuildOutcome) -> None:
    failed = built.failed_contract_checks()
    if failed:
        raise contract.ContractBroken([c.message for c in failed])


def _log_quality(results: list[QualityCheckResult]) -> None:
    for r in results:
        log.log(logging.INFO if r.passed else logging.WARNING, "%s", r.message)


def _hold_to_quality_rules(built: BuildOutcome) -> None:
    """An error-severity rule that failed stops the build: nothing is published, no consumer starts."""
    blocking = built.blocking_quality_results()
    if blocking:
        raise quality.QualityFailed([r.message for r in blocking])


def _built(business_date, build: product_build.ProductBuild, work_dir: Path) -> BuildOutcome:
    result = build.result
    return BuildOutcome(
        business_date=business_date,
        dbt_target_path=str(work_dir / "target"),
        dbt_invocation_id=result.invocation_id,
        row_counts=result.row_counts,
        column_types=result.columns,
        dbt_nodes=_dbt_nodes(result.nodes),
        contract_checks=[
            ContractCheckResult(
                unique_id=c.unique_id, table=naming.split_table_ref(c.table)[1], passed=c.passed, message=c.message
            )
            for c in build.contract_checks
        ],
        quality_results=build.quality_results,
        seconds=build.seconds,
    )


def _failure(exc: Exception, business_date, work_dir: Path) -> BuildOutcome:
    return BuildOutcome(
        failed=str(exc) or type(exc).__name__,
        dbt_target_path=str(work_dir / "target"),
        business_date=business_date,
        dbt_invocation_id=getattr(exc, "invocation_id", ""),
        dbt_nodes=_dbt_nodes(getattr(exc, "nodes", [])),
    )


def _dbt_nodes(nodes: list[dbt_runner.NodeResult]) -> list[DbtNode]:
    return [DbtNode.model_validate(dataclasses.asdict(n)) for n in nodes]


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


def run_publish(product_id: str, project_root: str, build: Any) -> list[str]:
    """The 'publish' task: one asset event per output port, carrying what consumers need.
    `build` is the build task's XCom (a BuildOutcome as JSON)."""
    from airflow.sdk import get_current_context

    from dataproducts.airflow import publications
    from dataproducts.airflow.assets import product_asset

    context = get_current_context()
    spec = load_product(Project.from_env(Path(project_root)), product_id)
    built = BuildOutcome.from_xcom(build)
    if built is None or built.business_date is None:
        raise RuntimeError(f"the build of {product_id} reported no business date; nothing to publish")
    business_date = built.business_date
    for port in spec.output_ports:
        asset = product_asset(product_id, port.name)
        warnings = built.quality_warnings(naming.port_id(product_id, port.name))
        facts: dict[str, Any] = {
            CONF_KEY: built.business_date_iso,
            "row_count": built.row_counts.get(port.table_name),
            "dbt_invocation_id": built.dbt_invocation_id,
            "spec_version": spec.version,
            "table": naming.table_ref(spec.domain, port.table_name),
            "quality_warnings": warnings,
        }
        event = context["outlet_events"][asset]
        event.extra = facts
        event.add_partitions(partition_key(business_date))  # whatever started the run, the event names the date built
        publications.record(context["asset_state_store"][asset], business_date, {**facts, "run_id": context["dag_run"].run_id})
        log.info("published %s for %s", naming.port_id(product_id, port.name), built.business_date_iso)
        for warning in warnings:
            log.warning("published with a quality warning: %s", warning)
    return [naming.port_id(product_id, p.name) for p in spec.output_ports]


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
    built = BuildOutcome.from_xcom(ti.xcom_pull(task_ids=BUILD_TASK))
    outcome = BuildOutcome.from_xcom(ti.xcom_pull(task_ids=BUILD_TASK, key=OUTCOME_KEY))
    if outcome is not None and outcome.skipped:
        log.info("the build was skipped (%s): no run metadata", outcome.skipped)
        return
    published = ti.xcom_pull(task_ids="publish") is not None
    mesh = load_mesh(project)
    build = built or outcome or BuildOutcome()
    record = run_record(product_id, mesh, context, build, succeeded=built is not None and published)
    delivery.deliver_run(project, mesh, record, delivery.git_revision(project.root))


def run_record(product_id: str, mesh, context, build: BuildOutcome, succeeded: bool):
    from dataproducts.core.manifest import load_manifest
    from dataproducts.metadata.run_record import RunRecord, TestOutcome

    dag_run = context["dag_run"]
    spec = mesh.products.get(product_id)
    manifest = load_manifest(mesh.project.manifest_path(spec.transform.dbt.project)) if spec else None
    tests = [
        TestOutcome(c.unique_id, "pass" if c.passed else "fail", c.message, None, contract.TEST_NAME, c.table)
        for c in build.contract_checks
    ]
    for node in build.dbt_nodes:
        if node.resource_type != "test":
            continue
        info = manifest.test(node.unique_id) if manifest else None
        tests.append(
            TestOutcome(
                unique_id=node.unique_id,
                status=node.status,
                message=node.message,
                column=info.column if info else None,
                test_name=info.test_name if info else None,
                table=info.table if info else None,
            )
        )
    failure = build.failed or ("" if succeeded else "the run failed before dbt reported; see the task logs")
    started = dag_run.start_date or pendulum.now("UTC")
    return RunRecord(
        product_id=product_id,
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        try_number=context["ti"].try_number,
        business_date=build.business_date_iso,
        started_at_ms=int(started.timestamp() * 1000),
        ended_at_ms=int(pendulum.now("UTC").timestamp() * 1000),
        succeeded=succeeded,
        failure_message=failure,
        dbt_invocation_id=build.dbt_invocation_id,
        dbt_target_path=build.dbt_target_path,
        row_counts=dict(build.row_counts) if succeeded else {},
        column_types={table: dict(columns) for table, columns in build.column_types.items()},
        tests=tests,
        quality=list(build.quality_results),
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
