"""Which business date a run builds. Pure: the run-time edge passes in what Airflow knows.

Order of precedence:
1. the run's conf {"business_date": "YYYY-MM-DD"} (a manual run or an on-call rerun);
2. the business dates carried by the asset events that triggered the run (asset-triggered runs
   have no logical date in Airflow 3); the latest wins when producers disagree;
3. the start of the run's data interval, in the product's timezone (cron runs build the day
   that just ended);
4. yesterday in the product's timezone (a manual run with nothing else to go on).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Optional

import pendulum

CONF_KEY = "business_date"


class BusinessDateError(ValueError):
    pass


def parse_business_date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BusinessDateError(f"{where}: {value!r} is not a date; use the form YYYY-MM-DD, e.g. 2026-11-03") from None


def resolve_business_date(
    conf: Optional[Mapping],
    triggering_extras: Iterable[Mapping],
    data_interval_start: Optional[dt.datetime],
    timezone: str,
    now: dt.datetime,
) -> tuple[dt.date, str]:
    """(business date, how it was chosen)."""
    if conf and conf.get(CONF_KEY):
        return parse_business_date(conf[CONF_KEY], "dag_run.conf.business_date"), "run conf"
    upstream = [parse_business_date(e[CONF_KEY], "asset event extra business_date") for e in triggering_extras if e.get(CONF_KEY)]
    if upstream:
        return max(upstream), "triggering asset events"
    tz = pendulum.timezone(timezone)
    if data_interval_start is not None:
        return pendulum.instance(data_interval_start).in_timezone(tz).date(), "data interval start"
    return pendulum.instance(now).in_timezone(tz).date() - dt.timedelta(days=1), "yesterday (no conf, event or interval)"
