"""Which business date a run builds. Pure: the run-time edge passes in what Airflow knows.

The business date is the run's partition key (`YYYY-MM-DD`): cron runs get it from their
timetable (the day before the tick, in the product's timezone), consumer runs from the
partitioned asset events that started them (Airflow starts one consumer run per date), manual
runs from the partition key or the trigger form's "Business date". Order of precedence:
1. the run's conf {"business_date": "YYYY-MM-DD"} (the trigger form, an on-call rerun); when the
   run also has a partition key, both must name the same day;
2. the run's partition key;
3. the start of the run's data interval, in the product's timezone (a run of an older timetable);
4. yesterday in the product's timezone (a manual run with nothing else to go on).
Asset events never choose the date: several dates in flight must never collapse into one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Optional

import pendulum

CONF_KEY = "business_date"
FULL_REFRESH_KEY = "full_refresh"  # a run conf switch: dbt --full-refresh for this run
PARTITION_KEY_FORMAT = "%Y-%m-%d"  # the business date as a partition key: what date.isoformat() writes


class BusinessDateError(ValueError):
    pass


def parse_business_date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BusinessDateError(f"{where}: {value!r} is not a date; use the form YYYY-MM-DD, e.g. 2026-11-03") from None


def partition_key(business_date: dt.date) -> str:
    return business_date.strftime(PARTITION_KEY_FORMAT)


def resolve_business_date(
    conf: Optional[Mapping],
    run_partition_key: Optional[str],
    data_interval_start: Optional[dt.datetime],
    timezone: str,
    now: dt.datetime,
) -> tuple[dt.date, str]:
    """(business date, how it was chosen)."""
    keyed = parse_business_date(run_partition_key, "the run's partition key") if run_partition_key else None
    if conf and conf.get(CONF_KEY):
        chosen = parse_business_date(conf[CONF_KEY], "dag_run.conf.business_date")
        if keyed is not None and keyed != chosen:
            raise BusinessDateError(
                f"the run's partition key {run_partition_key} and dag_run.conf.business_date {chosen} disagree; "
                "give one of them (or the same day in both)"
            )
        return chosen, "run conf"
    if keyed is not None:
        return keyed, "partition key"
    tz = pendulum.timezone(timezone)
    if data_interval_start is not None:
        return pendulum.instance(data_interval_start).in_timezone(tz).date(), "data interval start"
    return pendulum.instance(now).in_timezone(tz).date() - dt.timedelta(days=1), "yesterday (no conf, partition key or interval)"
