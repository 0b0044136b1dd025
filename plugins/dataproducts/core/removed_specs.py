"""Which products of a domain lost their spec file, and when: a small ledger per domain in the state dir.

A product's DAG exists only while its spec does. When the spec is deleted (or renamed, which gives
the product another id), a run of the product that is still queued or running would find no DAG
and stay 'running' for ever: Airflow stops looking at runs of a DAG its files no longer define.
So each parse of a domain compares the domain's products with those of the parse before (the
ledger's `known` products) and records every product that is gone, with its spec file and the time
it was first missed; the domain's DAG file then keeps a retired DAG under the product's id for
`retired_dag_days` (airflow/retired_dags.py), whose tasks fail at once and say why. A product that
comes back with the same id leaves the ledger and gets its real DAG again.

The ledger is written only when the domain's set of products changes (under a file lock, atomically),
so a parse that changes nothing only reads one small JSON file. A ledger that cannot be read or
written costs the retired DAGs only: parsing stays correct.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from dataproducts.core import settings
from dataproducts.core.files import atomic_write_bytes
from dataproducts.core.project import Project

log = logging.getLogger(__name__)
FORMAT = 1


@dataclass(frozen=True)
class KnownProduct:
    """A product as the domain's last parse saw it."""

    product_id: str
    spec_path: str  # relative to the project root
    broken: bool  # its DAG was a broken-spec DAG (one task, fix_the_spec)
    owner: str  # the team that owned it


@dataclass(frozen=True)
class RemovedProduct:
    product_id: str
    domain: str
    spec_path: str
    removed_at: str  # ISO 8601, UTC: when a parse first missed the product
    broken: bool
    owner: str

    @property
    def removed_on(self) -> str:
        return self.removed_at[:10]

    def expires_at(self, days: float) -> dt.datetime:
        return dt.datetime.fromisoformat(self.removed_at) + dt.timedelta(days=days)


def retention_days() -> float:
    """`retired_dag_days`: how long a removed product keeps its retired DAG (0: not at all)."""
    value = settings.get("retired_dag_days")
    try:
        days = float(value)
    except ValueError:
        raise ValueError(f"[dataproducts] retired_dag_days: {value!r} is not a number of days, e.g. 7") from None
    if days < 0:
        raise ValueError(f"[dataproducts] retired_dag_days: {value!r} is negative; give 0 or more days")
    return days


def record_domain(
    project: Project, domain: str, products: Iterable[KnownProduct], now: Optional[dt.datetime] = None
) -> list[RemovedProduct]:
    """Compare the domain's products of this parse with the ledger's, note the removed ones, forget
    the expired ones and the ones that came back, and return the domain's removed products that
    still keep a retired DAG (sorted by product id)."""
    now = now or dt.datetime.now(dt.UTC)
    days = retention_days()
    current = {p.product_id: p for p in products}
    path = ledger_file(project, domain)
    before = _read(path, domain)
    after = _updated(before, domain, current, now, days)
    if after != before:
        after = _write_under_lock(path, domain, current, now, days)
    return sorted((r for r in after[1].values() if r.expires_at(days) > now), key=lambda r: r.product_id)


def domains_in_ledger(project: Project) -> list[str]:
    """Every domain with a ledger: the domains that had products (some may have no folder any more)."""
    found = set()
    for path in sorted(_folder(project).glob("*.json")):
        try:
            found.add(json.loads(path.read_bytes())["domain"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(found)


def ledger_file(project: Project, domain: str) -> Path:
    """Domains are folder names, which may hold any character: the file name is a digest."""
    return _folder(project) / f"{hashlib.sha256(domain.encode()).hexdigest()[:20]}.json"


def _folder(project: Project) -> Path:
    return project.state_dir / "removed_specs"


Ledger = tuple[dict[str, KnownProduct], dict[str, RemovedProduct]]


def _updated(before: Ledger, domain: str, current: dict[str, KnownProduct], now: dt.datetime, days: float) -> Ledger:
    known, removed = before
    removed = {pid: r for pid, r in removed.items() if pid not in current and r.expires_at(days) > now}
    for pid, gone in known.items():
        if pid not in current and pid not in removed:
            removed[pid] = RemovedProduct(pid, domain, gone.spec_path, now.isoformat(timespec="seconds"), gone.broken, gone.owner)
    if days == 0:
        removed = {}
    return dict(current), removed


def _write_under_lock(path: Path, domain: str, current: dict[str, KnownProduct], now: dt.datetime, days: float) -> Ledger:
    """Read again under the lock (another parse of the domain may have written meanwhile), then write."""
    import filelock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(str(path.with_suffix(".lock")), timeout=10):
            after = _updated(_read(path, domain), domain, current, now, days)
            if after[0] or after[1]:
                atomic_write_bytes(path, json.dumps(_to_json(domain, after), indent=1).encode())
            else:  # a domain that is gone and whose retired DAGs expired: nothing left to remember
                path.unlink(missing_ok=True)
            return after
    except (OSError, filelock.Timeout) as exc:
        log.warning("the ledger of removed specs %s was not written (%s): removed products get no retired DAG", path, exc)
        return _updated(_read(path, domain), domain, current, now, days)


def _read(path: Path, domain: str) -> Ledger:
    try:
        data = json.loads(path.read_bytes())
        if data.get("format") != FORMAT or data.get("domain") != domain:
            raise ValueError(f"format {data.get('format')} of '{data.get('domain')}'")
        known = {k["product_id"]: KnownProduct(**k) for k in data["known"]}
        removed = {r["product_id"]: RemovedProduct(**r) for r in data["removed"]}
        return known, removed
    except FileNotFoundError:
        return {}, {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable ledger of removed specs %s: %s", path, exc)
        return {}, {}


def _to_json(domain: str, ledger: Ledger) -> dict:
    known, removed = ledger
    return {
        "format": FORMAT,
        "domain": domain,
        "known": [asdict(k) for _, k in sorted(known.items())],
        "removed": [asdict(r) for _, r in sorted(removed.items())],
    }
