"""The pure core: spec model -> loaded, validated mesh graph -> names. Imports no Airflow, dbt or DataHub."""
