"""Airflow DAGs of every domain folder in product_specs/ without a DAG file of its own in dags/.

Drop specs into a new folder and they become DAGs here; `dataproducts new` gives the domain its
own file, dags/<domain>.py, so that it is parsed (and fails, and times out) on its own.
"""

from pathlib import Path

from dataproducts.airflow.new_domains import build_new_domain_dags

globals().update(build_new_domain_dags(default_root=Path(__file__).resolve().parents[1]))
