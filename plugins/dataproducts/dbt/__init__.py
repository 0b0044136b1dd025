"""Running dbt (the only place that imports dbt)."""
