"""Which business dates an output port has published, kept in Airflow's asset state store.

The publish task records each date next to the partitioned asset event it emits (one key per
date, so no record is ever read, changed and written back), and the build task of a consumer
reads its inputs' records to apply the per-date rule (dataproducts.core.readiness) before it
builds anything. Reading the inputs' asset events instead (`inlet_events`) was tried first; it
failed while a consuming run was queued (apache/airflow#71360), and it reads an asset's whole
event history where one key answers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dataproducts.core.business_date import parse_business_date, partition_key

LATEST_KEY = "published-latest"


def date_key(business_date: dt.date) -> str:
    return f"published-{partition_key(business_date)}"


def record(store, business_date: dt.date, facts: dict[str, Any]) -> None:
    """`store`: the asset state store accessor of one output port's asset."""
    store.set(date_key(business_date), facts)
    store.set(LATEST_KEY, partition_key(business_date))


def known_dates(store, business_date: dt.date) -> set[dt.date]:
    """`business_date` if the port published it, plus the latest date it published (if any)."""
    dates = set()
    if store.get(date_key(business_date)) is not None:
        dates.add(business_date)
    latest = store.get(LATEST_KEY)
    if latest:
        dates.add(parse_business_date(latest, f"asset state {LATEST_KEY}"))
    return dates
