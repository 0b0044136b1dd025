"""A fake DataHub GMS for tests: the real one needs Docker (and Kafka, OpenSearch, MySQL), absent here.

It speaks exactly the HTTP endpoints that ``datahub.emitter.rest_emitter.DataHubRestEmitter``
(acryl-datahub 1.7) calls when sending UPSERT proposals:

* ``GET  /config``: the handshake ``test_connection()`` does. The body has ``noCode: "true"``
  (without it the emitter decides it reached the frontend) and a server version; a version
  >= 1.0.1 makes an SDK-mode emitter switch to OpenAPI, an older one keeps it on Rest.li.
  Not authenticated, as on a real GMS.
* ``POST /aspects?action=ingestProposal``       Rest.li, one proposal: ``{"proposal": {...}, "async": "false"}``
* ``POST /aspects?action=ingestProposalBatch``  Rest.li, ``{"proposals": [...], "async": "false"}``
  (``emit_mcps`` on Rest.li)
* ``POST /openapi/v3/entity/<entityType>?async=false``  OpenAPI v3, a JSON list of
  ``{"urn": ..., "<aspectName>": {"value": {...}, "systemMetadata": {...}, "headers": {}}}``
  (``emit_mcp`` / ``emit_mcps`` once the emitter chose OpenAPI)

Every accepted proposal is recorded, decoded, as a :class:`Proposal`. Ingest requests need
``Authorization: Bearer <token>`` when the server has a token. The server can be told to
misbehave: ``fail_next(n, status)`` answers the next n requests (``/config`` included) with an
error, ``hang_next(n, seconds)`` holds the next n requests past the client's timeout (and
then applies ingest requests anyway, as a slow GMS does: that is how duplicates happen;
``wait_idle()`` waits for such late requests), ``stop()``
closes the port (connection refused) and ``start()`` listens again on the same port.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

OPENAPI_VERSION = "v1.3.0"  # >= 1.0.1: an SDK-mode emitter switches to OpenAPI after /config
RESTLI_VERSION = "v0.15.0.1"  # older: the emitter stays on Rest.li


@dataclass(frozen=True)
class Proposal:
    urn: str
    aspect_name: str
    aspect: Any  # the aspect as JSON (what DataHub stores)
    system_metadata: Optional[dict]
    endpoint: str  # ingestProposal | ingestProposalBatch | openapi
    request_no: int

    def key(self) -> tuple[str, str, str]:
        return (self.urn, self.aspect_name, json.dumps(self.aspect, sort_keys=True))


@dataclass
class Misbehaviour:
    fail_count: int = 0
    fail_status: int = 500
    hang_count: int = 0
    hang_sec: float = 0.0
    apply_after_hang: bool = True
    config_too: bool = True  # misbehave on GET /config as well (a GMS that is down), or on ingest only


@dataclass
class Stats:
    requests: int = 0
    config_requests: int = 0
    failed: int = 0
    hung: int = 0
    unauthorized: int = 0
    paths: list = field(default_factory=list)


class FakeGMS:
    def __init__(
        self,
        token: Optional[str] = None,
        version: str = OPENAPI_VERSION,
        echo_token_in_errors: bool = False,
        echo_headers_in_errors: bool = False,
    ):
        self.token = token
        self.version = version
        # a hostile server, to test that clients scrub secrets: echo the Authorization header, or every header
        self.echo_token_in_errors = echo_token_in_errors or echo_headers_in_errors
        self.echo_headers_in_errors = echo_headers_in_errors
        self.proposals: list[Proposal] = []
        self.stats = Stats()
        self.misbehaviour = Misbehaviour()
        self._lock = threading.Lock()
        self._inflight = 0
        self._idle = threading.Condition(self._lock)
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.port = 0

    # ----------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeGMS:
        """Listen (again) on 127.0.0.1; the first start picks a free port, later ones reuse it."""
        if self._server is not None:
            return self
        handler = _make_handler(self)
        server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        server.daemon_threads = True  # hung handlers must not block stop()
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket: new connections are refused until start()."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGMS:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --------------------------------------------------------- misbehaving
    def fail_next(self, n: int, status: int = 500, config_too: bool = True) -> None:
        with self._lock:
            self.misbehaviour = Misbehaviour(fail_count=n, fail_status=status, config_too=config_too)

    def hang_next(self, n: int, seconds: float, apply_after: bool = True, config_too: bool = True) -> None:
        with self._lock:
            self.misbehaviour = Misbehaviour(hang_count=n, hang_sec=seconds, apply_after_hang=apply_after, config_too=config_too)

    def behave(self) -> None:
        with self._lock:
            self.misbehaviour = Misbehaviour()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is being handled (hung requests included); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout=timeout)

    def received(self) -> list[Proposal]:
        with self._lock:
            return list(self.proposals)

    # ------------------------------------------------------------- helpers
    def config_body(self) -> dict:
        return {
            "noCode": "true",
            "statefulIngestionCapable": True,
            "supportsImpactAnalysis": True,
            "patchCapable": True,
            "retention": "true",
            "models": {},
            "timeZone": "GMT",
            "datahub": {"serverType": "quickstart", "serverEnv": "core"},
            "versions": {"acryldata/datahub": {"version": self.version, "commit": "0000000fakegms"}},
            "managedIngestion": {"enabled": False, "defaultCliVersion": "1.7.0"},
            "telemetry": {"enabledCli": False, "enabledIngestion": False},
        }

    def _take_misbehaviour(self, is_config: bool = False) -> tuple[Optional[int], float, bool]:
        """(error status to answer, seconds to hang, apply after hanging) for the next request."""
        with self._lock:
            m = self.misbehaviour
            if is_config and not m.config_too:
                return None, 0.0, True
            if m.fail_count > 0:
                m.fail_count -= 1
                self.stats.failed += 1
                return m.fail_status, 0.0, False
            if m.hang_count > 0:
                m.hang_count -= 1
                self.stats.hung += 1
                return None, m.hang_sec, m.apply_after_hang
            return None, 0.0, True

    def _record(self, proposals: list[Proposal]) -> None:
        with self._lock:
            self.proposals.extend(proposals)


def _decode_restli(proposal: dict, endpoint: str, request_no: int) -> Proposal:
    if proposal.get("changeType", "UPSERT") != "UPSERT":
        raise ValueError(f"unsupported changeType {proposal.get('changeType')}")
    aspect = proposal["aspect"]
    if aspect.get("contentType") != "application/json":
        raise ValueError(f"unsupported contentType {aspect.get('contentType')}")
    return Proposal(
        urn=proposal["entityUrn"],
        aspect_name=proposal["aspectName"],
        aspect=json.loads(aspect["value"]),
        system_metadata=proposal.get("systemMetadata"),
        endpoint=endpoint,
        request_no=request_no,
    )


def _decode_openapi(items: list, request_no: int) -> list[Proposal]:
    out = []
    for item in items:
        urn = item["urn"]
        for name, body in item.items():
            if name == "urn":
                continue
            out.append(
                Proposal(
                    urn=urn,
                    aspect_name=name,
                    aspect=body["value"],
                    system_metadata=body.get("systemMetadata"),
                    endpoint="openapi",
                    request_no=request_no,
                )
            )
    return out


def _make_handler(gms: FakeGMS) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: stop() really cuts clients off
        server_version = "FakeGMS/1.7"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): a real GMS would not notice either

        def _error(self, status: int, message: str) -> None:
            self._send(
                status,
                {"exceptionClass": "com.linkedin.restli.server.RestLiServiceException", "message": message, "status": status},
            )

        def _echo(self) -> str:
            if gms.echo_headers_in_errors:
                return f" (request headers {dict(self.headers.items())!r})"
            if gms.echo_token_in_errors:
                return f" (request had {self.headers.get('Authorization')!r})"
            return ""

        def handle_one_request(self) -> None:
            with gms._lock:
                gms._inflight += 1
            try:
                super().handle_one_request()
            finally:
                with gms._idle:
                    gms._inflight -= 1
                    gms._idle.notify_all()

        def do_GET(self) -> None:
            with gms._lock:
                gms.stats.requests += 1
                gms.stats.paths.append(("GET", self.path))
            status, hang_sec, _ = gms._take_misbehaviour(is_config=True)
            if status is not None:
                self._error(status, "java.lang.RuntimeException: injected failure")
                return
            if hang_sec:
                time.sleep(hang_sec)
            if urlsplit(self.path).path == "/config":
                with gms._lock:
                    gms.stats.config_requests += 1
                self._send(200, gms.config_body())
            else:
                self._error(404, f"no route for GET {self.path}")

        def do_POST(self) -> None:
            with gms._lock:
                gms.stats.requests += 1
                request_no = gms.stats.requests
                gms.stats.paths.append(("POST", self.path))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""

            status, hang_sec, apply = gms._take_misbehaviour()
            if status is not None:
                self._error(status, f"java.lang.RuntimeException: injected failure{self._echo()}")
                return

            if gms.token is not None:
                auth = self.headers.get("Authorization", "")
                if auth != f"Bearer {gms.token}":
                    with gms._lock:
                        gms.stats.unauthorized += 1
                    self._error(401, f"Unauthorized to perform this action{self._echo()}")
                    return

            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            try:
                body = json.loads(raw)
                if parts.path == "/aspects" and query.get("action") == ["ingestProposal"]:
                    proposals = [_decode_restli(body["proposal"], "ingestProposal", request_no)]
                    reply: Any = {"value": proposals[0].urn}
                elif parts.path == "/aspects" and query.get("action") == ["ingestProposalBatch"]:
                    proposals = [_decode_restli(p, "ingestProposalBatch", request_no) for p in body["proposals"]]
                    reply = {"value": [p.urn for p in proposals]}
                elif parts.path.startswith("/openapi/v3/entity/"):
                    proposals = _decode_openapi(body, request_no)
                    reply = [
                        {"urn": p.urn, p.aspect_name: {"value": p.aspect, "systemMetadata": p.system_metadata}} for p in proposals
                    ]
                else:
                    self._error(404, f"no route for POST {self.path}")
                    return
            except Exception as e:
                self._error(400, f"cannot decode proposal: {type(e).__name__}: {e}")
                return

            if hang_sec:
                time.sleep(hang_sec)  # the client times out meanwhile
                if not apply:
                    return
            gms._record(proposals)
            self._send(200, reply)

    return Handler
