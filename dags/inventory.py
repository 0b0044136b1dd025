"""Airflow DAGs of the 'inventory' domain: one DAG per spec in product_specs/inventory/."""

from pathlib import Path

# imported once by the dag-processor before it starts a process per DAG file (parsing_pre_import_modules)
import airflow.providers.standard.operators.python
import airflow.timetables.simple  # noqa: F401

from dataproducts.airflow.dag_factory import build_domain_dags

globals().update(build_domain_dags("inventory", default_root=Path(__file__).resolve().parents[1]))
