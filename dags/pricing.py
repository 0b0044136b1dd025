"""Airflow DAGs of the 'pricing' domain: one DAG per spec in product_specs/pricing/."""

from pathlib import Path

from dataproducts.airflow.dag_factory import build_domain_dags

globals().update(build_domain_dags("pricing", default_root=Path(__file__).resolve().parents[1]))
