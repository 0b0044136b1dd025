"""dataproducts: data products as code for a data mesh (YAML specs -> Airflow DAGs that run dbt and publish to DataHub).

Layers, imports pointing down only (import-linter checks it, see setup.cfg):
  cli/                  the `dataproducts` command
  ops/, airflow/        operating a running Airflow; the Airflow edge (DAG factory, tasks, plugin, UI)
  metadata/, dbt/       DataHub metadata (builders, outbox, sinks); running dbt
  core/                 pure: spec model, loading, validated mesh graph, naming, business dates
"""
