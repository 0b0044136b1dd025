"""A fake Airflow REST API (v2) for tests that must not start Airflow: a local HTTP server that the
real client (dataproducts.ops.airflow_api, over the official `apache-airflow-client`) talks to.

Its answers are built with the official client's own models (`DAGRunResponse`, `AssetResponse`,
...) and sent as the JSON they serialise to, so a field the client requires cannot be left out.
What it holds is set by the test:

* `users` (name -> password): `POST /auth/token` issues `TOKEN` for them, 401 for anyone else;
  every `/api/v2` call but the health check then needs `Authorization: Bearer <TOKEN>`.
* `runs` (DAG id -> its runs, oldest first): `GET .../dagRuns` (with `limit`, `order_by=-run_after`),
  the batch list `POST /api/v2/dags/~/dagRuns/list` (`dag_ids`, `run_after_gte`, pages of at most
  `page_limit`, ordered by `run_after`),
  `POST .../dagRuns` adds a queued run under the run id it was given, and calls `on_trigger`
  (the test's stand-in for the scheduler, which may `finish` it).
* `xcoms` (run id -> the build task's return value), `assets` (name -> time of its latest event),
  `events` (DAG id -> the asset events it published).
* `fail_next(n, status, applied)`: the next n requests are answered with that status (a busy
  server), after doing what they asked if `applied`; status `DROP`: the connection is closed
  without an answer (a kept-alive connection the server closed as the request arrived).
* `answer_everything(status, body, content_type)`: one answer for every request (an Airflow that
  answers badly, or something that is not Airflow).

Every request is recorded in `requests`, decoded.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlsplit

from airflow_client.client.models.asset_collection_response import AssetCollectionResponse
from airflow_client.client.models.asset_event_collection_response import AssetEventCollectionResponse
from airflow_client.client.models.asset_event_response import AssetEventResponse
from airflow_client.client.models.asset_response import AssetResponse
from airflow_client.client.models.dag_run_collection_response import DAGRunCollectionResponse
from airflow_client.client.models.dag_run_response import DAGRunResponse
from airflow_client.client.models.health_info_response import HealthInfoResponse
from airflow_client.client.models.last_asset_event_response import LastAssetEventResponse
from airflow_client.client.models.x_com_response_native import XComResponseNative

TOKEN = "fake-airflow-t0ken"
T0 = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # unquoted, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


DROP = 0  # fail_next's status for: close the connection without answering


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


def dag_run(dag_id: str, run_id: str, state: str = "success", **fields) -> DAGRunResponse:
    """A DAG run as Airflow's API lists it; `fields` override any of its attributes."""
    values: dict[str, Any] = {
        "dag_display_name": dag_id,
        "dag_id": dag_id,
        "dag_run_id": run_id,
        "dag_versions": [],
        "run_after": T0,
        "run_type": "manual",
        "state": state,
        "queued_at": T0,
        "start_date": T0 if state != "queued" else None,
        "end_date": T0 + dt.timedelta(seconds=5) if state in ("success", "failed") else None,
    }
    return DAGRunResponse.from_dict({**values, **fields})  # type: ignore[return-value]


def asset(asset_id: int, name: str, last_event: Optional[str]) -> AssetResponse:
    event = LastAssetEventResponse(id=asset_id, timestamp=dt.datetime.fromisoformat(last_event)) if last_event else None
    return AssetResponse(
        aliases=[],
        consuming_tasks=[],
        created_at=T0,
        group="asset",
        id=asset_id,
        last_asset_event=event,
        name=name,
        producing_tasks=[],
        scheduled_dags=[],
        updated_at=T0,
        uri=f"dataproduct://{name}",
        watchers=[],
    )


def asset_event(source_dag_id: str, source_run_id: str, timestamp: dt.datetime, **fields) -> AssetEventResponse:
    values: dict[str, Any] = {
        "asset_id": 1,
        "created_dagruns": [],
        "id": 1,
        "source_dag_id": source_dag_id,
        "source_run_id": source_run_id,
        "source_map_index": -1,
        "timestamp": timestamp,
    }
    return AssetEventResponse.from_dict({**values, **fields})  # type: ignore[return-value]


def _json(model_or_value: Any, status: int = 200) -> Answer:
    text = model_or_value.to_json() if hasattr(model_or_value, "to_json") else json.dumps(model_or_value)
    return Answer(status, text.encode())


NOT_FOUND = Answer(404, b'{"detail": "Not Found"}')


class FakeAirflow:
    def __init__(self) -> None:
        self.users: dict[str, str] = {}
        self.runs: dict[str, list[DAGRunResponse]] = {}
        self.xcoms: dict[str, Any] = {}
        self.assets: dict[str, Optional[str]] = {}
        self.events: dict[str, list[AssetEventResponse]] = {}
        self.on_trigger: Optional[Callable[[FakeAirflow, DAGRunResponse], None]] = None  # the scheduler, if any
        self.requests: list[Request] = []
        self.page_limit = 100  # Airflow's [api] maximum_page_limit: the batch list's longest page
        self._failures: list[tuple[int, bool]] = []
        self._everything: Optional[Answer] = None
        self._lock = threading.Lock()
        self._routes = [
            ("POST", r"/auth/token", self._token),
            ("GET", r"/api/v2/monitor/health", self._health),
            ("GET", r"/api/v2/assets", self._assets),
            ("GET", r"/api/v2/assets/events", self._events),
            ("GET", r"/api/v2/dags/(?P<dag>[^/]+)/dagRuns", self._list_runs),
            ("POST", r"/api/v2/dags/(?P<dag>[^/]+)/dagRuns", self._trigger),
            ("POST", r"/api/v2/dags/~/dagRuns/list", self._list_runs_batch),
            ("GET", r"/api/v2/dags/(?P<dag>[^/]+)/dagRuns/(?P<run>[^/]+)/upstreamAssetEvents", self._upstream),
            (
                "GET",
                r"/api/v2/dags/(?P<dag>[^/]+)/dagRuns/(?P<run>[^/]+)/taskInstances/build/xcomEntries/return_value",
                self._xcom,
            ),
        ]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = Request(
                    self.command,
                    unquote(parts.path),
                    parse_qs(parts.query),
                    dict(self.headers.items()),
                    json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw,
                )
                answer = fake._answer(request)
                if answer.status == DROP:
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # --- what the test tells it ----------------------------------------------------------------

    def fail_next(self, n: int, status: int = 503, applied: bool = False) -> None:
        """Answer the next n requests with `status`; `applied`: after doing what they asked (a
        server that fails while answering)."""
        self._failures.extend([(status, applied)] * n)

    def answer_everything(self, status: int, body: bytes, content_type: str) -> None:
        self._everything = Answer(status, body, content_type)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeAirflow:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- answering -----------------------------------------------------------------------------

    def _answer(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            if self._everything:
                return self._everything
            failure = self._failures.pop(0) if self._failures else None
            if failure and not failure[1]:
                return Answer(failure[0], b'{"detail": "database is locked"}')
            answer = self._route(request)
            return Answer(failure[0], b'{"detail": "database is locked"}') if failure else answer

    def _route(self, request: Request) -> Answer:
        for method, pattern, handler in self._routes:
            match = re.fullmatch(pattern, request.path)
            if method == request.method and match:
                if not self._authorised(request):
                    return Answer(401, b'{"detail": "Not authenticated"}')
                return handler(request, **match.groupdict())
        return NOT_FOUND

    def _authorised(self, request: Request) -> bool:
        if request.path in ("/auth/token", "/api/v2/monitor/health"):
            return True
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    def _token(self, request: Request) -> Answer:
        body = request.body if isinstance(request.body, dict) else {}
        if self.users.get(body.get("username", "")) != body.get("password"):
            return Answer(401, b'{"detail": "Invalid credentials"}')
        return _json({"access_token": TOKEN}, 201)

    def _health(self, request: Request) -> Answer:
        healthy = {"status": "healthy"}
        return _json(HealthInfoResponse.from_dict({"metadatabase": healthy, "scheduler": healthy, "triggerer": healthy}))

    def _assets(self, request: Request) -> Answer:
        offset, limit = int(request.query["offset"][0]), int(request.query["limit"][0])
        everything = [asset(i, name, self.assets[name]) for i, name in enumerate(sorted(self.assets))]
        return _json(AssetCollectionResponse(assets=everything[offset : offset + limit], total_entries=len(everything)))

    def _events(self, request: Request) -> Answer:
        events = self.events.get(request.query["source_dag_id"][0], [])
        if "source_run_id" in request.query:
            events = [e for e in events if e.source_run_id == request.query["source_run_id"][0]]
        return _json(AssetEventCollectionResponse(asset_events=events, total_entries=len(events)))

    def _list_runs(self, request: Request, dag: str) -> Answer:
        runs = list(self.runs.get(dag, []))
        if request.query.get("order_by") == ["-run_after"]:
            runs.reverse()
        runs = runs[: int(request.query.get("limit", ["100"])[0])]
        return _json(DAGRunCollectionResponse(dag_runs=runs, total_entries=len(runs)))

    def _list_runs_batch(self, request: Request) -> Answer:
        body = request.body
        after = dt.datetime.fromisoformat(body["run_after_gte"]) if body.get("run_after_gte") else None
        wanted = [run for dag in sorted(body.get("dag_ids") or self.runs) for run in self.runs.get(dag, [])]
        runs = sorted((run for run in wanted if after is None or run.run_after >= after), key=lambda run: run.run_after)
        offset, limit = body.get("page_offset", 0), min(body.get("page_limit", 100), self.page_limit)
        return _json(DAGRunCollectionResponse(dag_runs=runs[offset : offset + limit], total_entries=len(runs)))

    def _trigger(self, request: Request, dag: str) -> Answer:
        run_id = request.body["dag_run_id"]
        if any(r.dag_run_id == run_id for r in self.runs.get(dag, [])):
            return Answer(409, b'{"detail": "exists"}')
        now = dt.datetime.now(dt.UTC)  # a manual run is due when it is triggered
        run = dag_run(
            dag, run_id, "queued", run_after=now, partition_key=request.body.get("partition_key"), conf=request.body.get("conf")
        )
        self.runs.setdefault(dag, []).append(run)
        if self.on_trigger:
            self.on_trigger(self, run)
        return _json(run)

    def finish(self, run: DAGRunResponse, state: str = "success", built: Any = None) -> None:
        """What a scheduler and a build task would do: the run ends in `state`, its build returned
        `built`, and a successful one published an event."""
        runs = self.runs[run.dag_id]
        runs[runs.index(run)] = dag_run(
            run.dag_id, run.dag_run_id, state, run_after=run.run_after, partition_key=run.partition_key
        )
        if built is not None:
            self.xcoms[run.dag_run_id] = built
        if state == "success":
            self.events.setdefault(run.dag_id, []).append(asset_event(run.dag_id, run.dag_run_id, T0 + dt.timedelta(seconds=5)))

    def _upstream(self, request: Request, dag: str, run: str) -> Answer:
        events = [e for es in self.events.values() for e in es if any(d.run_id == run for d in e.created_dagruns)]
        return _json(AssetEventCollectionResponse(asset_events=events, total_entries=len(events)))

    def _xcom(self, request: Request, dag: str, run: str) -> Answer:
        if run not in self.xcoms:
            return NOT_FOUND
        entry = XComResponseNative(
            dag_display_name=dag,
            dag_id=dag,
            key="return_value",
            map_index=-1,
            run_after=T0,
            run_id=run,
            task_display_name="build",
            task_id="build",
            timestamp=T0,
            value=self.xcoms[run],
        )
        return _json(entry)
