"""Airflow DAG that keeps DataHub's catalogue equal to product_specs/ and retries the metadata outbox."""

from pathlib import Path

from dataproducts.airflow.dag_factory import catalog_dag

dag = catalog_dag(default_root=Path(__file__).resolve().parents[1])
