"""The per-date rule: may a product build business date D from what its inputs have published?

Airflow's asset partitioning starts one consumer run per business date (the run's partition key)
once the expected partitioned events of that date arrived; this rule is checked again by the
build task against the inputs' publication records, because runs also start by hand (a rerun, a
backfill), on a cron tick (cron-or-assets products) and, for `trigger: any`, on one input alone.

* trigger: all — D is built only when every input has published D. Otherwise the run fails
  and says which input lacks which date; nothing is built.
* trigger: any — D is built when at least one input has published D, and every input has
  published at least once (before that, its table may not exist: the run skips). Inputs that
  have not published D yet add no rows of D (models read their inputs' rows of D only); when
  they publish D, Airflow starts another run for D, which builds D again with their rows.
* cron-or-assets — the cron tick asks for D (the day before the tick) and the same rule as the
  product's trigger applies: with `all`, a tick whose inputs are not there yet fails naming
  them (a missed deadline), and the assets' run builds D when they arrive.
Never is a date built from another date's inputs: the date comes from the run, not the events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass

ALL, ANY = "all", "any"


@dataclass(frozen=True)
class Verdict:
    build: bool
    skip: bool  # not built, and that is expected (the run skips instead of failing)
    message: str


def decide(trigger: str, business_date: dt.date, published: Mapping[str, Collection[dt.date]]) -> Verdict:
    """`published` maps each input (port id) to the business dates it is known to have published
    (at least `business_date` if it did, and any one other date if it published something else)."""
    lacking = sorted(name for name, dates in published.items() if business_date not in dates)
    if not lacking:
        return Verdict(True, False, f"every input published {business_date}")
    if trigger == ANY:
        never = sorted(name for name, dates in published.items() if not dates)
        if never:
            return Verdict(False, True, f"waiting for the first publication of {', '.join(never)} (trigger: any)")
        if len(lacking) < len(published):
            return Verdict(True, False, f"{_lacks(lacking, business_date)} yet; built without them (trigger: any)")
        return Verdict(False, False, f"no input has published {business_date} (trigger: any): {_lacks(lacking, business_date)}")
    return Verdict(False, False, f"{_lacks(lacking, business_date)} (trigger: all); nothing was built")


def _lacks(inputs: list[str], business_date: dt.date) -> str:
    verb = "has" if len(inputs) == 1 else "have"
    return f"{', '.join(inputs)} {verb} not published {business_date}"
