"""Airflow DAGs of the 'inventory' domain: one DAG per spec in product_specs/inventory/."""

from pathlib import Path

from dataproducts.airflow.dag_factory import build_domain_dags

globals().update(build_domain_dags("inventory", default_root=Path(__file__).resolve().parents[1]))
