"""Operating a running Airflow from outside: the embedded stack, its REST client, reruns."""
