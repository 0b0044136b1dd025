"""What Airflow's trigger form asks for when someone runs a product by hand.

DAG params become the form's fields: the business date as a date picker (`format: date`) and a
full refresh as a switch. The form sends them as the run's conf, where the build task reads the
date like any other conf date (dataproducts.core.business_date) and the switch from the params.

Each schema names JSON Schema draft 7, which has every keyword used here. Airflow validates a
DAG's params whenever it builds the DAG (at every parse), and jsonschema first checks the schema
itself against its metaschema each time: without `$schema` that is draft 2020-12's, made of
seven vocabularies, five times the work of draft 7's; with 1,000 DAGs it was half of the whole
time spent building them.
"""

from __future__ import annotations

from airflow.sdk import Param

from dataproducts.core.business_date import CONF_KEY, FULL_REFRESH_KEY

FULL_REFRESH = FULL_REFRESH_KEY


SCHEMA_DIALECT = {"$schema": "http://json-schema.org/draft-07/schema#"}


def trigger_params(timezone: str) -> dict[str, Param]:
    return {
        CONF_KEY: Param(
            None,
            **SCHEMA_DIALECT,
            type=["null", "string"],
            format="date",
            pattern=r"^\d{4}-\d{2}-\d{2}$",  # Airflow checks no format; a month 13 fails when the run starts
            title="Business date",
            description=f"The day to build. Empty: the run's own date (its partition key, else yesterday in {timezone}).",
        ),
        FULL_REFRESH: Param(
            False,
            **SCHEMA_DIALECT,
            type="boolean",
            title="Full refresh",
            description="Recreate the product's tables (dbt --full-refresh): only this date's rows remain.",
        ),
    }
