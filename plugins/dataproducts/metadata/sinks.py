"""Where the outbox delivers metadata: DataHub GMS (REST), a DataHub JSON file, or DataHub Lite.

The sink is chosen by an Airflow connection (default id ``dataproducts_datahub``):

* ``datahub-rest``: host = GMS URL (e.g. ``http://datahub-gms:8080``), password = access
  token, extra = optional emitter settings (``timeout_sec``, ``retry_max_times``,
  ``openapi_ingestion``, ``extra_headers``, ...). The same fields the DataHub Airflow
  plugin's ``DatahubRestHook`` reads, so one connection can serve both.
* ``datahub-file``: host (or extra ``filename``) = path of a JSON file in DataHub's file
  format, as the plugin's ``SynchronizedFileHook`` reads it (and the same ``.lock`` file, so
  both can share a file).
* ``datahub-lite`` (ours): host (or extra ``file``) = path of a DataHub Lite SQLite store.

Without that connection, :func:`resolve_sink` falls back to DataHub Lite at
``<state_dir>/datahub/lite.db``. To browse it with DataHub's CLI (which only reads the store
named in ``~/.datahubenv``), use the ``.datahubenv`` the sink writes next to the store::

    HOME=<state_dir>/datahub DATAHUB_TELEMETRY_ENABLED=false datahub lite ls /
    HOME=<state_dir>/datahub DATAHUB_TELEMETRY_ENABLED=false datahub lite get --urn '<urn>'

(or put the same ``lite:`` section into your own ``~/.datahubenv``).

Secrets: a RestSink never puts its token in ``describe()``, ``repr()``, the exceptions it
raises, or the log records of the DataHub emitter and urllib3 (a logging filter replaces it
with ``<redacted>``).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import inspect
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional, Protocol
from urllib.parse import urlsplit, urlunsplit

from dataproducts.core import settings
from dataproducts.core.files import atomic_write_bytes

logger = logging.getLogger(__name__)

DEFAULT_CONN_ID = settings.SETTINGS["datahub_conn_id"].default
LITE_FILE_NAME = "lite.db"
REDACTED = "<redacted>"


class Sink(Protocol):
    def emit(self, mcps: list) -> None:
        """Deliver every MCP or raise."""

    def close(self) -> None: ...

    def describe(self) -> str:
        """Where the metadata goes, without secrets."""


class SinkError(Exception):
    """A sink could not deliver a batch (the message is free of secrets)."""


# --------------------------------------------------------------------------- secrets
class _SecretScrubber(logging.Filter):
    """Replaces registered secrets in log records of the loggers it is attached to.

    A RestSink registers its token for the life of the process (a late log line from a pooled
    connection must still be scrubbed after close()); the set is as small as the number of
    distinct tokens used.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        with self._lock:
            self._secrets[secret] += 1

    def remove(self, secret: str) -> None:
        with self._lock:
            self._secrets[secret] -= 1
            if self._secrets[secret] <= 0:
                del self._secrets[secret]

    def scrub(self, text: str) -> str:
        for secret in list(self._secrets):
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = self.scrub(text), None
        elif record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


_scrubber = _SecretScrubber()
# Loggers that may see request/response details of an emit (filters on a logger apply to
# its own records before they propagate to any handler).
_SCRUBBED_LOGGERS = (
    "datahub.emitter.rest_emitter",
    "datahub.emitter.request_helper",
    "datahub.emitter.response_helper",
    "datahub.ingestion.graph.client",
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "requests",
    __name__,
    "dataproducts.metadata.outbox",
)
for _name in _SCRUBBED_LOGGERS:
    logging.getLogger(_name).addFilter(_scrubber)


def _strip_userinfo(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    return url


# ------------------------------------------------------------------------------ REST
class RestSink:
    """DataHub GMS through ``datahub.emitter.rest_emitter.DataHubRestEmitter``.

    On first use it performs the emitter's ``GET /config`` handshake (``test_connection``:
    fails early on an unreachable server or on the frontend's URL), then sends each batch
    with ``emit_mcps`` in ``SYNC_PRIMARY`` mode: GMS answers only once the aspects are in its
    primary store, so a 2xx really means accepted.

    Endpoint: in 1.7 the emitter switches to OpenAPI after ``/config`` only in ``client_mode``
    SDK against GMS >= 1.0.1. We pass no client mode (the Airflow plugin's hook passes
    INGESTION), so it stays on Rest.li, ``POST /aspects?action=ingestProposalBatch``
    (one request per batch, chunked by the emitter past 15 MB or 200 MCPs). ``openapi=True``
    (connection extra ``openapi_ingestion: true``, or ``DATAHUB_REST_EMITTER_DEFAULT_ENDPOINT=OPENAPI``)
    switches to ``POST /openapi/v3/entity/<type>?async=false`` (one request per entity type).

    The emitter retries ``retries`` times (urllib3: connection errors, timeouts, 429/5xx;
    backoff 0 s, then 4 s, 8 s, ...) and then raises; the outbox keeps the batch for the
    next flush. Worst case per emit is about ``(retries + 1) * timeout_sec`` plus backoff.
    """

    def __init__(
        self,
        server: str,
        token: Optional[str] = None,
        timeout_sec: float = 5.0,
        retries: int = 2,
        openapi: Optional[bool] = None,
        emitter_kwargs: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if not server:
            raise ValueError("RestSink needs the GMS server URL")
        if "://" not in server:
            server = f"http://{server}"
        self.server = server.rstrip("/")
        self._token = token or None
        self.timeout_sec = float(timeout_sec)
        self.retries = int(retries)
        self.openapi = openapi
        self._emitter_kwargs = dict(emitter_kwargs or {})
        self._emitter: Any = None
        self._handshake_done = False
        if self._token:
            _scrubber.add(self._token)
        # userinfo in the URL is a secret too
        parts = urlsplit(self.server)
        if parts.password:
            _scrubber.add(parts.password)
        self._url_password = parts.password

    def describe(self) -> str:
        return f"DataHub REST {_strip_userinfo(self.server)}" + (" (token set)" if self._token else "")

    def __repr__(self) -> str:
        return f"RestSink({self.describe()!r})"

    def _scrub(self, text: str) -> str:
        for secret in (self._token, self._url_password):
            if secret:
                text = text.replace(secret, REDACTED)
        return _scrubber.scrub(text)

    def _make_emitter(self) -> Any:
        from datahub.emitter.rest_emitter import DataHubRestEmitter

        kwargs = dict(self._emitter_kwargs)
        kwargs.setdefault("connect_timeout_sec", self.timeout_sec)
        kwargs.setdefault("read_timeout_sec", self.timeout_sec)
        kwargs.setdefault("retry_max_times", self.retries)
        kwargs.setdefault("datahub_component", "dataproducts")
        if self.openapi is not None:
            kwargs.setdefault("openapi_ingestion", self.openapi)
        return DataHubRestEmitter(gms_server=self.server, token=self._token, **kwargs)

    def emit(self, mcps: list) -> None:
        failure: Optional[str] = None
        try:
            from datahub.emitter.rest_emitter import EmitMode

            if self._emitter is None:
                self._emitter = self._make_emitter()
            if not self._handshake_done:
                self._emitter.test_connection()  # GET /config; raises when GMS is unreachable or refuses us
                self._handshake_done = True
            self._emitter.emit_mcps(list(mcps), emit_mode=EmitMode.SYNC_PRIMARY)
        except Exception as e:
            failure = self._scrub(f"{type(e).__name__}: {e}")
        if failure is not None:
            # Raised outside the except block: no __context__ carrying the unscrubbed original.
            raise SinkError(f"{self.describe()}: {failure}")

    def close(self) -> None:
        if self._emitter is not None:
            try:
                self._emitter.close()
            finally:
                self._emitter = None
                self._handshake_done = False


# ------------------------------------------------------------------------------ file
class FileSink:
    """Appends MCPs to a JSON array file in DataHub's file format (what the file sink writes).

    Every emit rewrites the file atomically (temp file, fsync, rename) under the same
    ``<file>.lock`` (flock) the DataHub Airflow plugin's SynchronizedFileEmitter uses. The file is a
    log of proposals: a re-sent batch appears twice, which ingesting it again makes harmless.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def describe(self) -> str:
        return f"DataHub file {self.path}"

    def __repr__(self) -> str:
        return f"FileSink({str(self.path)!r})"

    def emit(self, mcps: list) -> None:
        from datahub.emitter.mcp import MetadataChangeProposalWrapper

        # What datahub.ingestion.sink.file writes: wrappers in the simplified form ({"json": aspect}).
        new = [
            mcp.to_obj(simplified_structure=True) if isinstance(mcp, MetadataChangeProposalWrapper) else mcp.to_obj()
            for mcp in mcps
        ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # filelock's UnixFileLock (used by SynchronizedFileEmitter) is an fcntl.flock too.
        lock_fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            existing: list = []
            if self.path.exists() and self.path.stat().st_size:
                existing = json.loads(self.path.read_text())  # a corrupt file raises: never clobber it
                if not isinstance(existing, list):
                    raise SinkError(f"{self.path} is not a JSON array of metadata records")
            records = existing + new
            content = "[\n" + ",\n".join(json.dumps(r, indent=4) for r in records) + "\n]"
            atomic_write_bytes(self.path, content.encode())
        finally:
            os.close(lock_fd)  # releases the flock

    def read(self) -> list:
        from datahub.ingestion.source.file import read_metadata_file

        return list(read_metadata_file(self.path)) if self.path.exists() else []

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------------ lite
def lite_config(path: Path | str) -> dict:
    """The DataHub Lite config for our store (the shape ``get_datahub_lite`` and ``~/.datahubenv`` use)."""
    return {"type": "sqlite", "config": {"file": str(Path(path).resolve())}}


def open_lite(path: Path | str, read_only: bool = False) -> Any:
    """The DataHub Lite API over `path` (``get``, ``list_ids``, ``ls``, ``get_all_aspects``, ...)."""
    from datahub.lite.lite_util import get_datahub_lite

    config = lite_config(path)
    config["config"]["read_only"] = read_only
    return get_datahub_lite(config, read_only=read_only)


def write_lite_cli_env(path: Path | str) -> Path:
    """Write ``<dir of store>/.datahubenv`` so ``HOME=<dir> datahub lite ...`` reads our store."""
    import yaml

    store = Path(path).resolve()
    env_file = store.parent / ".datahubenv"
    # The CLI validates a `gms` section even for lite commands; the URL is never contacted by them.
    document = {"gms": {"server": "http://localhost:8080"}, "lite": lite_config(store)}
    content = yaml.safe_dump(document, sort_keys=False).encode()
    if not env_file.exists() or env_file.read_bytes() != content:
        atomic_write_bytes(env_file, content)
    return env_file


class LiteSink:
    """DataHub Lite (SQLite engine, DataHub 1.7's default) in one local file.

    Writes go through the Lite API (``write(mcp)``), which versions aspects like GMS does and
    skips unchanged values, so re-sends are idempotent. Read back with :func:`open_lite` or
    the ``datahub lite`` CLI (see the module docstring).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lite: Any = None

    def describe(self) -> str:
        return f"DataHub Lite {self.path}"

    def __repr__(self) -> str:
        return f"LiteSink({str(self.path)!r})"

    def cli_hint(self) -> str:
        return f"HOME={self.path.resolve().parent} DATAHUB_TELEMETRY_ENABLED=false datahub lite ls /"

    def emit(self, mcps: list) -> None:
        from datahub.emitter.mcp import MetadataChangeProposalWrapper

        if self._lite is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lite = open_lite(self.path)
            try:
                write_lite_cli_env(self.path)
            except OSError as e:  # a convenience only
                logger.debug("could not write the datahub lite CLI config: %s", e)
        for mcp in mcps:
            if not isinstance(mcp, MetadataChangeProposalWrapper):
                raise SinkError(f"DataHub Lite only stores aspect upserts it can decode, not {type(mcp).__name__}")
            self._lite.write(mcp)

    def close(self) -> None:
        if self._lite is not None:
            try:
                self._lite.close()
            finally:
                self._lite = None


# ----------------------------------------------------------------------- choosing
def _extra(conn: Any) -> dict:
    extra_dejson = getattr(conn, "extra_dejson", None)
    if isinstance(extra_dejson, dict):
        return dict(extra_dejson)
    extra = getattr(conn, "extra", None)
    if isinstance(extra, Mapping):
        return dict(extra)
    if isinstance(extra, str) and extra.strip():
        try:
            value = json.loads(extra)
        except json.JSONDecodeError:
            raise ValueError("the connection's extra is not valid JSON") from None
        return value if isinstance(value, dict) else {}
    return {}


def _emitter_parameters() -> set[str]:
    from datahub.emitter.rest_emitter import DataHubRestEmitter

    return set(inspect.signature(DataHubRestEmitter.__init__).parameters) - {"self", "gms_server", "token"}


def sink_from_connection(conn: Any) -> Sink:
    """A sink for an Airflow Connection (or any object with conn_type, host, password, extra)."""
    conn_type = (getattr(conn, "conn_type", None) or "").strip().lower().replace("_", "-")
    host = getattr(conn, "host", None) or ""
    extra = _extra(conn)
    if conn_type == "datahub-rest":
        port = getattr(conn, "port", None)
        if not host:
            raise ValueError("a datahub-rest connection needs the GMS URL as host")
        if port:
            host = f"{host.rstrip('/')}:{port}"
        timeout = extra.pop("timeout_sec", 5.0)
        retries = extra.pop("retry_max_times", 2)
        openapi = extra.pop("openapi_ingestion", None)
        allowed = _emitter_parameters()
        unknown = sorted(k for k in extra if k not in allowed)
        if unknown:
            logger.warning("ignoring unknown datahub-rest connection extra keys: %s", ", ".join(unknown))
        kwargs = {k: v for k, v in extra.items() if k in allowed}
        return RestSink(
            host,
            token=getattr(conn, "password", None),
            timeout_sec=timeout,
            retries=retries,
            openapi=openapi,
            emitter_kwargs=kwargs,
        )
    if conn_type == "datahub-file":
        filename = host or extra.get("filename")
        if not filename:
            raise ValueError("a datahub-file connection needs the file path as host (or extra 'filename')")
        return FileSink(Path(filename))
    if conn_type == "datahub-lite":
        filename = host or extra.get("file") or extra.get("filename")
        if not filename:
            raise ValueError("a datahub-lite connection needs the store path as host (or extra 'file')")
        return LiteSink(Path(filename))
    raise ValueError(f"unsupported DataHub connection type {conn_type!r} (use datahub-rest, datahub-file or datahub-lite)")


def default_sink(state_dir: Path | str) -> LiteSink:
    return LiteSink(Path(state_dir) / "datahub" / LITE_FILE_NAME)


def _not_found_exceptions() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for module in ("airflow.sdk.exceptions", "airflow.exceptions"):
        with contextlib.suppress(ImportError, AttributeError):
            found.append(__import__(module, fromlist=["AirflowNotFoundException"]).AirflowNotFoundException)
    return tuple(found)


def resolve_sink(conn_id: str = DEFAULT_CONN_ID, state_dir: Path | str | None = None) -> Sink:
    """The sink named by Airflow connection `conn_id`, or DataHub Lite under `state_dir` without it.

    Call it at run time (in a task), not at DAG parse time: it asks Airflow's secrets backends.
    `state_dir` is required (keyword or second positional argument).

    Only a connection that is not defined (or Airflow not being installed) falls back to the
    local store; any other error looking it up (a secrets backend being down) is raised, so
    the outbox keeps the metadata for DataHub instead of filing it in the wrong place.
    """
    if state_dir is None:
        raise TypeError("resolve_sink() needs state_dir (where the fallback DataHub Lite store lives)")
    try:
        from airflow.sdk import BaseHook
    except ImportError:
        default = default_sink(state_dir)
        logger.info("Airflow is not installed: DataHub metadata goes to %s", default.describe())
        return default
    not_found = _not_found_exceptions()
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as e:
        if isinstance(e, not_found) or type(e).__name__ == "AirflowNotFoundException":
            default = default_sink(state_dir)
            logger.info("no Airflow connection %r: DataHub metadata goes to %s", conn_id, default.describe())
            return default
        raise
    sink = sink_from_connection(conn)
    logger.info("Airflow connection %r: DataHub metadata goes to %s", conn_id, sink.describe())
    return sink


__all__ = [
    "DEFAULT_CONN_ID",
    "FileSink",
    "LiteSink",
    "RestSink",
    "Sink",
    "SinkError",
    "default_sink",
    "lite_config",
    "open_lite",
    "resolve_sink",
    "sink_from_connection",
    "write_lite_cli_env",
]
