"""A small client for Airflow 3's REST API (v2): what the demo, the end-to-end test and
`dataproducts rerun` need, with retries where a retry is safe."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Optional

from dataproducts.core.run_outcome import BUILD_TASK, RETURN_VALUE_KEY, BuildOutcome, OutcomeUnreadable

ACTIVE_STATES = {"queued", "running"}
TIMEOUT_SECONDS = 30


def http_error_line(exc: urllib.error.HTTPError) -> str:
    """An HTTP error the client passed on, as one line."""
    return f"Airflow answered {exc.code} {exc.reason} to {exc.url}"


@dataclass
class ProductRun:
    product_id: str
    run_id: str
    run_type: str
    state: str
    queued_at: str
    start_date: Optional[str]
    end_date: Optional[str]
    business_date: Optional[str] = None  # the date its build task built (None: it did not get that far)
    partition_key: Optional[str] = None  # the run's partition key in Airflow: the business date it was started for
    row_counts: dict = field(default_factory=dict)
    triggered_by: list[str] = field(default_factory=list)  # producer DAGs whose asset events started this run
    triggering_runs: list[str] = field(default_factory=list)  # and their run ids


class AirflowApiError(RuntimeError):
    """Airflow's REST API cannot be used as asked: its message is one line that says why and what to do."""


class AirflowUnreachable(AirflowApiError, ConnectionError):
    """No answer at all (refused, unknown host, timed out): also a ConnectionError, for callers that
    wait for an Airflow to come up."""


class AirflowApi:
    def __init__(self, url: str, token: Optional[str] = None, username: Optional[str] = None, password: Optional[str] = None):
        self.url = url.rstrip("/")
        self._token = token
        self._credentials = (username, password) if username else None

    def token(self) -> str:
        if self._token is None:
            if self._credentials is None:
                raise AirflowApiError(
                    "no Airflow credentials: pass --token (or $AIRFLOW_API_TOKEN), or --user and --password "
                    "($AIRFLOW_USERNAME, $AIRFLOW_PASSWORD)"
                )
            body = {"username": self._credentials[0], "password": self._credentials[1]}
            token = self._request("POST", "/auth/token", body, auth=False).get("access_token")
            if not token:
                raise AirflowApiError(f"Airflow at {self.url} gave no access token for user {self._credentials[0]!r}")
            self._token = token
        return self._token

    def _request(self, method: str, path: str, body: Optional[dict] = None, auth: bool = True) -> dict:
        """One API call; idempotent ones (GET, PATCH) are retried on a server error, which SQLite's
        single writer makes possible while the scheduler is busy. A trigger (POST) is never repeated."""
        attempts = 4 if method in {"GET", "PATCH"} else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._request_once(method, path, body, auth)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == attempts:
                    raise
                time.sleep(attempt)
        raise AssertionError("unreachable")

    def _request_once(self, method: str, path: str, body: Optional[dict], auth: bool) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                payload, content_type = response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise AirflowApiError(
                    f"Airflow at {self.url} refused {method} {path.split('?')[0]} ({exc.code} {exc.reason}): "
                    "check the token, or the user and password, and that the user may trigger DAGs"
                ) from None
            raise  # the callers decide about 404, 409 and server errors
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # refused, unknown host, timed out, not HTTP
            reason = getattr(exc, "reason", exc)
            raise AirflowUnreachable(
                f"cannot reach Airflow at {self.url} ({reason}): is it running there? (--airflow-url or $AIRFLOW_API_URL)"
            ) from None
        try:
            return json.loads(payload) if payload else {}
        except ValueError:
            raise AirflowApiError(
                f"Airflow at {self.url} answered {method} {path.split('?')[0]} with {content_type or 'something'} that is not "
                "JSON: is that URL Airflow's API server? (--airflow-url or $AIRFLOW_API_URL)"
            ) from None

    def get(self, path: str, **query) -> dict:
        suffix = ("?" + urllib.parse.urlencode(query, doseq=True)) if query else ""
        return self._request("GET", path + suffix)

    def dag_ids(self, tag: str) -> dict[str, dict]:
        return {d["dag_id"]: d for d in self.get("/api/v2/dags", tags=tag, limit=1000)["dags"]}

    def import_errors(self) -> list[dict]:
        return self.get("/api/v2/importErrors")["import_errors"]

    def wait_for_dags(self, expected: set[str], tag: str, timeout: float = 180) -> dict[str, dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dags = self.dag_ids(tag)
            if expected <= set(dags):
                return dags
            time.sleep(2)
        missing = sorted(expected - set(self.dag_ids(tag)))
        raise TimeoutError(f"DAGs not parsed within {timeout:.0f} s: {missing}; import errors: {self.import_errors()}")

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: Optional[dict] = None, partition_key: Optional[str] = None) -> str:
        """Start a run under a run id of our own, so that retrying after a server error can never
        start a second one: the retry either creates it or is told it exists (409). A product's
        business date is its run's partition key (`YYYY-MM-DD`)."""
        run_id = f"manual__dataproducts_{time.time_ns()}"
        body: dict = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        if partition_key is not None:
            body["partition_key"] = partition_key
        for attempt in range(1, 5):
            try:
                return self._request_once("POST", f"/api/v2/dags/{dag_id}/dagRuns", body, auth=True)["dag_run_id"]
            except urllib.error.HTTPError as exc:
                if exc.code == 409 and attempt > 1:
                    return run_id
                if exc.code < 500 or attempt == 4:
                    raise
                time.sleep(attempt)
        raise AssertionError("unreachable")

    def runs_since(self, dag_id: str, since: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100, order_by="run_after", run_after_gte=since)["dag_runs"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = RETURN_VALUE_KEY) -> Any:
        """A task's XCom value (its return value unless `key` says otherwise); None when it has none."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        try:
            return self.get(path, deserialize="true").get("value")
        except urllib.error.HTTPError:
            return None

    def built(self, dag_id: str, run_id: str) -> Optional[BuildOutcome]:
        """What the run's build task built (its return value); None when it built nothing (failed,
        skipped, or not run yet). Runs from older versions read too (core/run_outcome)."""
        value = self.xcom(dag_id, run_id, BUILD_TASK)
        try:
            return BuildOutcome.from_xcom(value)
        except OutcomeUnreadable as exc:
            raise AirflowApiError(
                f"the build task of {dag_id} run {run_id} returned something other than a build outcome: {exc}"
            ) from None

    def triggering_events(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/upstreamAssetEvents"
        try:
            return self.get(path)["asset_events"]
        except urllib.error.HTTPError:
            return []

    def latest_asset_events(self, uri_prefix: str) -> dict[str, Optional[str]]:
        """Asset name -> the time of its latest event (None: none yet), for every asset whose URI
        starts with `uri_prefix`, a page of 100 at a time."""
        found: dict[str, Optional[str]] = {}
        while True:
            page = self.get("/api/v2/assets", uri_prefix_pattern=uri_prefix, order_by="id", limit=100, offset=len(found))
            for asset in page["assets"]:
                found[asset["name"]] = (asset.get("last_asset_event") or {}).get("timestamp")
            if not page["assets"] or len(found) >= page.get("total_entries", 0):
                return found

    def health(self) -> dict:
        return self._request("GET", "/api/v2/monitor/health", auth=False)


def records(api: AirflowApi, runs: dict[str, list[dict]]) -> list[ProductRun]:
    records = []
    for pid, items in runs.items():
        for run in items:
            built = api.built(pid, run["dag_run_id"]) or BuildOutcome()
            events = api.triggering_events(pid, run["dag_run_id"])
            records.append(
                ProductRun(
                    product_id=pid,
                    run_id=run["dag_run_id"],
                    run_type=run["run_type"],
                    state=run["state"],
                    queued_at=run.get("queued_at") or "",
                    start_date=run.get("start_date"),
                    end_date=run.get("end_date"),
                    business_date=built.business_date_iso,
                    partition_key=run.get("partition_key"),
                    row_counts=dict(built.row_counts),
                    triggered_by=sorted({e["source_dag_id"] for e in events if e.get("source_dag_id")}),
                    triggering_runs=sorted({e["source_run_id"] for e in events if e.get("source_run_id")}),
                )
            )
    return sorted(records, key=lambda r: (r.start_date or "9999", r.product_id))


def report(records: list[ProductRun]) -> str:
    lines = [f"{'#':>2}  {'product':34} {'state':8} {'started by':56} {'date':10}  {'seconds':>7}  rows"]
    for i, r in enumerate(records, 1):
        cause = (
            "manual trigger"
            if r.run_type == "manual"
            else ("assets of " + ", ".join(r.triggered_by) if r.triggered_by else r.run_type)
        )
        rows = ", ".join(f"{t}={n}" for t, n in sorted(r.row_counts.items()))
        if not rows:
            rows = "skipped: not every input has published yet" if r.state == "success" else "-"
        lines.append(f"{i:>2}  {r.product_id:34} {r.state:8} {cause:56} {r.business_date or '-':10}  {_seconds(r):>7}  {rows}")
    return "\n".join(lines)


def _seconds(run: ProductRun) -> str:
    from datetime import datetime

    if not (run.start_date and run.end_date):
        return "-"
    start, end = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in (run.start_date, run.end_date))
    return f"{(end - start).total_seconds():.1f}"


def now_iso() -> str:
    from datetime import datetime

    return datetime.now(UTC).isoformat()
