"""DAGs for domain folders that have no DAG file of their own yet (`dags/dataproducts_new_domains.py`).

A team that drops specs into a new folder `product_specs/<domain>/` gets their DAGs from this
shared file at once, without writing Python. `dataproducts new` writes the domain its own
`dags/<domain>.py` (a few generated lines), which moves its DAGs out of the shared file: from then
on the dag-processor parses, times out and reports that domain on its own, as every other domain.
A domain whose folder and DAG file are both gone keeps its retired DAGs here (airflow/retired_dags.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from airflow.sdk import DAG

from dataproducts.airflow.dag_factory import broken_product_dag, build_domain_dags
from dataproducts.core import naming
from dataproducts.core.loader import spec_files
from dataproducts.core.project import Project
from dataproducts.core.removed_specs import domains_in_ledger

log = logging.getLogger(__name__)


def build_new_domain_dags(default_root: Optional[Path] = None) -> dict[str, DAG]:
    """DAGs of every domain without a DAG file; one domain's failure costs only that domain."""
    project = Project.from_env(default_root)
    dags: dict[str, DAG] = {}
    for domain in [*project.domains_without_dag_file(), *_vanished_domains(project)]:
        try:
            dags.update(build_domain_dags(domain, default_root))
        except Exception as exc:  # broken specs are broken-spec DAGs; this is a bug of ours, kept to its domain
            log.exception("no DAGs for the domain '%s' (product_specs/%s/)", domain, domain)
            dags.update(_failed_domain_dags(project, domain, exc))
    return dags


def _vanished_domains(project: Project) -> list[str]:
    """Domains that had products (the ledger of removed specs says so) and now have neither a spec
    folder nor a DAG file: their retired DAGs are defined here."""
    live = set(project.spec_domains())
    vanished = []
    for domain in domains_in_ledger(project):
        try:
            if domain not in live and not project.domain_dag_file(domain).is_file():
                vanished.append(domain)
        except ValueError:  # not a name a DAG file could have
            continue
    return vanished


def _failed_domain_dags(project: Project, domain: str, exc: Exception) -> dict[str, DAG]:
    """One failed DAG per spec file of a domain that could not be built, so that the Airflow UI
    shows the team what went wrong where it shows every other broken spec."""
    dags = {}
    for path in (p for p in spec_files(project.specs_dir) if p.parent.name == domain):
        rel = str(path.relative_to(project.root))
        product_id = (
            naming.product_id_for_file(path) if naming.file_place_is_valid(path) else naming.placeholder_id_for_file(path)
        )
        message = (
            f"{rel}: the DAGs of the domain '{domain}' could not be built: {exc!r}. Fix: this is a dataproducts bug, "
            "please report it with the dag-processor's log; `dataproducts validate` shows whether a spec of the domain triggers it"
        )
        dags[product_id.replace(".", "__")] = broken_product_dag(project, product_id, rel, [message])
    return dags
