"""DAGs for domain folders that have no DAG file of their own yet (`dags/dataproducts_new_domains.py`).

A team that drops specs into a new folder `product_specs/<domain>/` gets their DAGs from this
shared file at once, without writing Python. `dataproducts new` writes the domain its own
`dags/<domain>.py` (three generated lines), which moves its DAGs out of the shared file: from then
on the dag-processor parses, times out and reports that domain on its own, as every other domain.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from airflow.sdk import DAG

from dataproducts.airflow.dag_factory import build_domain_dags
from dataproducts.core.project import Project

log = logging.getLogger(__name__)


def build_new_domain_dags(default_root: Optional[Path] = None) -> dict[str, DAG]:
    """DAGs of every domain without a DAG file; one domain's failure costs only that domain."""
    project = Project.from_env(default_root)
    dags: dict[str, DAG] = {}
    for domain in project.domains_without_dag_file():
        try:
            dags.update(build_domain_dags(domain, default_root))
        except Exception:  # broken specs are broken-spec DAGs; this is a bug of ours, kept to its domain
            log.exception("no DAGs for the domain '%s' (product_specs/%s/)", domain, domain)
    return dags
