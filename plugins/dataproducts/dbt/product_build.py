"""A product's build for one business date, as the build task and `dataproducts build` both run it:
`dbt build` of the spec's selection as the domain's warehouse role (with its output tables'
grants), the columns held to the ports' contracts, then the quality rules measured on the date's
rows. What a failed check means (fail the task, print, publish or not) is the caller's business.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from dataproducts.core import contract, warehouse_access
from dataproducts.core.project import Project
from dataproducts.core.run_outcome import QualityCheckResult
from dataproducts.core.spec import DataProductSpec
from dataproducts.dbt import quality_checks
from dataproducts.dbt import runner as dbt_runner


@dataclass(frozen=True)
class ProductBuild:
    result: dbt_runner.BuildResult
    contract_checks: list[contract.ContractCheck]
    quality_results: list[QualityCheckResult] = field(default_factory=list)  # measured only once the contract held
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per phase, dbt's and quality's

    @property
    def contract_held(self) -> bool:
        return all(c.passed for c in self.contract_checks)


def build_product(
    project: Project,
    spec: DataProductSpec,
    business_date: dt.date,
    work_dir: Path,
    logger: logging.Logger,
    full_refresh: bool = False,
) -> ProductBuild:
    """Raises dbt_runner.DbtFailed when dbt fails; a broken contract or failed rule is in the result."""
    role, grants = domain_access(project, spec)
    adapter = adapter_of(project, spec)
    with dbt_runner.as_role(role, spec.domain):
        result = dbt_runner.build(
            project,
            spec.transform.dbt.project,
            list(spec.transform.dbt.select),
            business_date,
            work_dir,
            [p.table_name for p in spec.output_ports],
            logger,
            full_refresh=full_refresh,
            grants=grants,
        )
        checks = contract.check_columns(spec, result.columns, adapter)
        if not all(c.passed for c in checks):
            return ProductBuild(result, checks, seconds=result.seconds)
        started = time.perf_counter()
        measured = quality_checks.evaluate(adapter, spec, business_date, result.columns)
    seconds = {**result.seconds, "quality": round(time.perf_counter() - started, 3)}
    return ProductBuild(result, checks, measured, seconds)


def domain_access(project: Project, spec: DataProductSpec) -> tuple[str | None, list[warehouse_access.TableGrant]]:
    """On a warehouse with roles: the domain's role dbt runs as, and the grants of its outputs."""
    prefix = project.warehouse_role_prefix
    if prefix is None:
        return None, []
    return warehouse_access.domain_role(prefix, spec.domain), warehouse_access.output_grants(spec, prefix)


def adapter_of(project: Project, spec: DataProductSpec) -> str:
    """The dbt adapter the domain's project was compiled for ('duckdb', 'postgres')."""
    from dataproducts.core.manifest import load_manifest

    manifest = load_manifest(project.manifest_path(spec.transform.dbt.project))
    return manifest.adapter_type if manifest else ""
