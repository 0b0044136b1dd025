"""The Airflow edge: the DAG factory, the task callables, the plugin and its UI page."""
