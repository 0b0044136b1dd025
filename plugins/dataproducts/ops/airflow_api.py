"""Airflow 3's REST API (v2) as the demo, `dataproducts rerun`, `show`, `freshness` and the
end-to-end tests use it, through the official client (`apache-airflow-client`).

From the client: every call (DAGs, DAG runs, triggering, XComs, asset events, assets, import
errors, health), its typed models (a run's `state` is a `DagRunState`, its dates are datetimes),
its HTTP transport (urllib3, with the client's TLS and proxy settings), and the retries of server
errors: urllib3's `Retry`, which the client's `Configuration` passes on, repeats a call answered
with 5xx, which SQLite's single writer makes possible while the scheduler is busy.

Ours, and why:
- the token. Airflow 3's auth managers issue it at `POST /auth/token`, which is not in the
  `/api/v2` OpenAPI document the client is generated from (its `LoginApi` only redirects a
  browser to the login page), so that one request goes through the client's own `ApiClient`.
- one-line errors (`AirflowApiError` and its kinds) instead of the client's multi-line
  `ApiException` and urllib3's `MaxRetryError`: the CLI prints them as they are
  (dataproducts.cli.airflow_access).
- triggering under a run id of our own: a trigger that is repeated after a server error either
  creates the run or is told it exists (409), so it can never start a second one.
- a connection that is refused is not retried: an Airflow that is not there is said at once; one
  that the server drops without an answer is (twice: a kept-alive connection that uvicorn closes
  as a request arrives ends in "Connection reset by peer"); a read timeout is not (a hung Airflow
  is said after one timeout, not three; the timeout outlasts the embedded SQLite's lock wait).
- `ProductRun` and `report`: what a product's run built, read from its build task's XCom.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Optional

import pydantic
import urllib3
from airflow_client.client import ApiClient, Configuration
from airflow_client.client.api.asset_api import AssetApi
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.dag_run_api import DagRunApi
from airflow_client.client.api.import_error_api import ImportErrorApi
from airflow_client.client.api.monitor_api import MonitorApi
from airflow_client.client.api.x_com_api import XComApi
from airflow_client.client.exceptions import ApiException, ConflictException
from airflow_client.client.models.asset_event_response import AssetEventResponse
from airflow_client.client.models.dag_patch_body import DAGPatchBody
from airflow_client.client.models.dag_response import DAGResponse
from airflow_client.client.models.dag_run_response import DAGRunResponse
from airflow_client.client.models.dag_run_state import DagRunState
from airflow_client.client.models.dag_runs_batch_body import DAGRunsBatchBody
from airflow_client.client.models.health_info_response import HealthInfoResponse
from airflow_client.client.models.import_error_response import ImportErrorResponse
from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody

from dataproducts.core.run_outcome import BUILD_TASK, RETURN_VALUE_KEY, BuildOutcome, OutcomeUnreadable

ACTIVE_STATES = frozenset({DagRunState.QUEUED, DagRunState.RUNNING})
FINISHED_STATES = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})
# (connect, read): an answer may take longer than the embedded Airflow waits for SQLite's write
# lock (ops/embedded.SQLITE_BUSY_TIMEOUT_SECONDS), so a busy Airflow answers, or answers 500 and is
# asked again, before it is given up as hung
TIMEOUT_SECONDS = (10.0, 90.0)
PAGE_LIMIT = 100  # Airflow's [api] maximum_page_limit by default: a page never holds more
URL_HINT = "(--airflow-url or $AIRFLOW_API_URL)"


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


class AirflowRefused(AirflowApiError):
    """401 or 403: no token, a wrong one, or a user without the permission."""


class AirflowAnswered(AirflowApiError):
    """Any other HTTP error (404, 409, 5xx after the retries), with its status for callers that decide."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class AirflowNotFound(AirflowAnswered):
    """404: no such DAG, run, task or XCom (or not yet)."""


class _Retries(urllib3.Retry):
    """urllib3's `Retry` counts a dropped connection and a read timeout as one kind ("read"); a
    server that takes the request and never answers is not asked again: it would only make the
    caller wait the timeout three times."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if isinstance(error, urllib3.exceptions.ReadTimeoutError):
            raise urllib3.exceptions.MaxRetryError(_pool, url, error) from error
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _retries() -> urllib3.Retry:
    """Server errors and connections dropped without an answer are retried (a trigger too: see
    AirflowApi.trigger); a refused connection and a read timeout are not."""
    return _Retries(
        total=3,
        connect=0,
        read=2,
        status=3,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "PATCH", "POST"}),
        backoff_factor=1,
        raise_on_status=False,
    )


class AirflowApi:
    """One Airflow's REST API, authorised by a token, or by a user and password exchanged for one."""

    def __init__(self, url: str, token: Optional[str] = None, username: Optional[str] = None, password: Optional[str] = None):
        self.url = url.rstrip("/")
        self._credentials = (username, password) if username else None
        self._client = ApiClient(Configuration(host=self.url, access_token=token, retries=_retries()))

    # --- the client itself ---------------------------------------------------------------------

    def client(self) -> ApiClient:
        """The official client, authorised: for calls this module does not wrap (tests read task
        instances, logs and pools through it)."""
        self._authorise()
        return self._client

    def _authorise(self) -> None:
        configuration = self._client.configuration
        if configuration.access_token is not None:
            return
        if self._credentials is None:
            raise AirflowApiError(
                "no Airflow credentials: pass --token (or $AIRFLOW_API_TOKEN), or --user and --password "
                "($AIRFLOW_USERNAME, $AIRFLOW_PASSWORD)"
            )
        username, password = self._credentials
        with self._asking(f"issue a token for user {username!r}"):
            answer = self._json("POST", "/auth/token", body={"username": username, "password": password})
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token:
            raise AirflowApiError(f"Airflow at {self.url} gave no access token for user {username!r}")
        configuration.access_token = token

    def get(self, path: str, **query: Any) -> Any:
        """GET any JSON endpoint of the server, authorised: for those outside the client's OpenAPI
        document (the plugin's /dataproducts/api/mesh, the UI's /ui/...), which tests read."""
        self._authorise()
        with self._asking(f"read {path}"):
            return self._json("GET", path, query=query, bearer=self._client.configuration.access_token)

    def _json(self, method: str, path: str, body: Any = None, query: Optional[dict] = None, bearer: Optional[str] = None) -> Any:
        """One request through the client's own transport (and retries), its JSON answer."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        request = self._client.param_serialize(
            method=method, resource_path=path, query_params=list((query or {}).items()), header_params=headers, body=body
        )
        response = self._client.call_api(*request, _request_timeout=TIMEOUT_SECONDS)
        response.read()
        return self._client.response_deserialize(response, {"2XX": "object"}).data

    @contextlib.contextmanager
    def _asking(self, what: str) -> Iterator[None]:
        """Whatever goes wrong while asking Airflow to do `what`, as one AirflowApiError."""
        try:
            yield
        except ApiException as exc:
            raise self._failure(exc, what) from None
        except urllib3.exceptions.HTTPError as exc:  # refused, unknown host, timed out, not HTTP
            reason = getattr(exc, "reason", None) or exc
            raise AirflowUnreachable(f"cannot reach Airflow at {self.url} ({reason}): is it running there? {URL_HINT}") from None
        except (pydantic.ValidationError, ValueError):
            raise self._not_the_api(what) from None

    def _failure(self, exc: ApiException, what: str) -> AirflowApiError:
        status = exc.status or 0
        if status == 0:  # the client could not read the answer: a content type it does not know
            return self._not_the_api(what)
        answer = f"({status} {exc.reason})"
        if status in (401, 403):
            return AirflowRefused(
                f"Airflow at {self.url} refused to {what} {answer}: check the token, or the user and password, "
                "and that the user may trigger DAGs"
            )
        if status == 404:
            return AirflowNotFound(f"Airflow at {self.url} could not {what}: not found {answer}", status)
        return AirflowAnswered(f"Airflow at {self.url} could not {what} {answer}", status)

    def _not_the_api(self, what: str) -> AirflowApiError:
        return AirflowApiError(
            f"Airflow at {self.url} answered the request to {what} with something that is not its API's JSON: "
            f"is that URL Airflow's API server? {URL_HINT}"
        )

    # --- DAGs ----------------------------------------------------------------------------------

    def dags(self, tag: str) -> dict[str, DAGResponse]:
        with self._asking(f"list the DAGs tagged {tag}"):
            page = DAGApi(self.client()).get_dags(tags=[tag], limit=1000, _request_timeout=TIMEOUT_SECONDS)
        return {dag.dag_id: dag for dag in page.dags}

    def dag(self, dag_id: str) -> DAGResponse:
        with self._asking(f"read the DAG {dag_id}"):
            return DAGApi(self.client()).get_dag(dag_id, _request_timeout=TIMEOUT_SECONDS)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        with self._asking(f"{'pause' if paused else 'unpause'} {dag_id}"):
            DAGApi(self.client()).patch_dag(dag_id, DAGPatchBody(is_paused=paused), _request_timeout=TIMEOUT_SECONDS)

    def unpause(self, dag_id: str) -> None:
        self.set_paused(dag_id, False)

    def import_errors(self) -> list[ImportErrorResponse]:
        with self._asking("list the import errors"):
            return ImportErrorApi(self.client()).get_import_errors(_request_timeout=TIMEOUT_SECONDS).import_errors

    # --- runs ----------------------------------------------------------------------------------

    def trigger(self, dag_id: str, conf: Optional[dict] = None, partition_key: Optional[str] = None) -> str:
        """Start a run under a run id of our own, so that the retry of a trigger answered with a
        server error can never start a second one: it either creates the run or is told that it
        exists (409, for this fresh id only ours). A product's business date is its run's partition
        key (`YYYY-MM-DD`)."""
        run_id = f"manual__dataproducts_{time.time_ns()}"
        body = TriggerDAGRunPostBody(dag_run_id=run_id, logical_date=None, conf=conf or {}, partition_key=partition_key)
        with self._asking(f"trigger a run of {dag_id}"):
            try:
                return DagRunApi(self.client()).trigger_dag_run(dag_id, body, _request_timeout=TIMEOUT_SECONDS).dag_run_id
            except ConflictException:
                return run_id

    def runs_since(self, dag_id: str, since: str | datetime) -> list[DAGRunResponse]:
        """The DAG's runs due at or after `since` (an ISO timestamp or a datetime), oldest first."""
        return self.runs_of([dag_id], since)[dag_id]

    def runs_of(self, dag_ids: Iterable[str], since: str | datetime) -> dict[str, list[DAGRunResponse]]:
        """The runs of every DAG of `dag_ids` due at or after `since`, oldest first, from Airflow's
        batch list (`POST /dags/~/dagRuns/list`): one request per page of runs, not one per DAG,
        which is what a wait polling a whole mesh every few seconds asks. Pages are ordered by
        `run_after` (Airflow breaks ties by the run's key), so a run queued meanwhile, due now,
        comes last."""
        after = since if isinstance(since, datetime) else _instant(since)
        runs: dict[str, list[DAGRunResponse]] = {dag_id: [] for dag_id in sorted(set(dag_ids))}
        seen: set[tuple[str, str]] = set()
        offset = 0
        with self._asking(f"list the runs of {next(iter(runs)) if len(runs) == 1 else f'{len(runs)} DAGs'}"):
            while runs:
                body = DAGRunsBatchBody(
                    dag_ids=list(runs), run_after_gte=after, order_by="run_after", page_offset=offset, page_limit=PAGE_LIMIT
                )
                page = DagRunApi(self.client()).get_list_dag_runs_batch("~", body, _request_timeout=TIMEOUT_SECONDS)
                for run in page.dag_runs:
                    if (run.dag_id, run.dag_run_id) not in seen:  # a run deleted between two pages: one shows twice
                        seen.add((run.dag_id, run.dag_run_id))
                        runs[run.dag_id].append(run)
                offset += len(page.dag_runs)
                if not page.dag_runs or offset >= (page.total_entries or 0):
                    break
        return runs

    def latest_runs(self, dag_id: str, limit: int) -> list[DAGRunResponse]:
        """The DAG's last `limit` runs, newest first."""
        with self._asking(f"list the runs of {dag_id}"):
            page = DagRunApi(self.client()).get_dag_runs(
                dag_id, order_by=["-run_after"], limit=limit, _request_timeout=TIMEOUT_SECONDS
            )
        return page.dag_runs

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = RETURN_VALUE_KEY) -> Any:
        """A task's XCom value (its return value unless `key` says otherwise); None when it has none."""
        try:
            with self._asking(f"read the XCom {key} of {dag_id} {run_id} {task_id}"):
                entry = XComApi(self.client()).get_xcom_entry(
                    dag_id, task_id, run_id, key, deserialize=True, _request_timeout=TIMEOUT_SECONDS
                )
        except AirflowNotFound:
            return None
        return entry.actual_instance.value if entry.actual_instance is not None else None

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

    # --- asset events --------------------------------------------------------------------------

    def triggering_events(self, dag_id: str, run_id: str) -> list[AssetEventResponse]:
        """The asset events that started the run (none for a run started otherwise, or not found)."""
        try:
            with self._asking(f"read the events that started {dag_id} {run_id}"):
                page = DagRunApi(self.client()).get_upstream_asset_events(dag_id, run_id, _request_timeout=TIMEOUT_SECONDS)
        except AirflowNotFound:
            return []
        return page.asset_events

    def asset_events(self, source_dag_id: str, source_run_id: Optional[str] = None, limit: int = 100) -> list[AssetEventResponse]:
        """The asset events a DAG (one run of it, if given) published."""
        with self._asking(f"list the asset events of {source_dag_id}"):
            page = AssetApi(self.client()).get_asset_events(
                source_dag_id=source_dag_id, source_run_id=source_run_id, limit=limit, _request_timeout=TIMEOUT_SECONDS
            )
        return page.asset_events

    def latest_asset_events(self, uri_prefix: str) -> dict[str, Optional[datetime]]:
        """Asset name -> the time of its latest event (None: none yet), for every asset whose URI
        starts with `uri_prefix`, a page of 100 at a time."""
        found: dict[str, Optional[datetime]] = {}
        while True:
            with self._asking("list the assets"):
                page = AssetApi(self.client()).get_assets(
                    uri_prefix_pattern=uri_prefix,
                    order_by=["id"],
                    limit=100,
                    offset=len(found),
                    _request_timeout=TIMEOUT_SECONDS,
                )
            for asset in page.assets:
                found[asset.name] = asset.last_asset_event.timestamp if asset.last_asset_event else None
            if not page.assets or len(found) >= page.total_entries:
                return found

    # --- the server ----------------------------------------------------------------------------

    def health(self) -> HealthInfoResponse:
        """Needs no credentials: says whether an Airflow is there at all, and its components' state."""
        with self._asking("tell its health"):
            return MonitorApi(self._client).get_health(_request_timeout=TIMEOUT_SECONDS)


def records(api: AirflowApi, runs: dict[str, list[DAGRunResponse]]) -> list[ProductRun]:
    records = []
    for pid, items in runs.items():
        for run in items:
            built = api.built(pid, run.dag_run_id) or BuildOutcome()
            events = api.triggering_events(pid, run.dag_run_id)
            records.append(
                ProductRun(
                    product_id=pid,
                    run_id=run.dag_run_id,
                    run_type=run.run_type.value,
                    state=run.state.value,
                    queued_at=_iso(run.queued_at) or "",
                    start_date=_iso(run.start_date),
                    end_date=_iso(run.end_date),
                    business_date=built.business_date_iso,
                    partition_key=run.partition_key,
                    row_counts=dict(built.row_counts),
                    triggered_by=sorted({e.source_dag_id for e in events if e.source_dag_id}),
                    triggering_runs=sorted({e.source_run_id for e in events if e.source_run_id}),
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
    if not (run.start_date and run.end_date):
        return "-"
    return f"{(_instant(run.end_date) - _instant(run.start_date)).total_seconds():.1f}"


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value else None


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
