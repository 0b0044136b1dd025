"""Airflow DAGs of the 'advertising' domain: one DAG per spec in product_specs/advertising/."""

from pathlib import Path

from dataproducts.airflow.dag_factory import build_domain_dags

globals().update(build_domain_dags("advertising", default_root=Path(__file__).resolve().parents[1]))
