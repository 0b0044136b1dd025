"""Where the outbox delivers metadata: DataHub GMS (REST), a DataHub JSON file, or DataHub Lite.

The sink is chosen by an Airflow connection (default id ``dataproducts_datahub``), read exactly as
the DataHub Airflow plugin reads its own, so one connection can serve both:

* ``datahub-rest`` and ``datahub-file`` (and ``datahub-kafka``, with acryl-datahub's Kafka extra):
  the emitter the plugin's ``DatahubGenericHook(conn_id).make_emitter()`` makes, i.e. the SDK's
  ``DataHubRestEmitter`` (host = GMS URL, password = token, extra = the emitter's keyword
  arguments such as ``timeout_sec``, ``retry_max_times``, ``extra_headers``, ``openapi_ingestion``)
  or ``SynchronizedFileEmitter`` (host = path, with its ``<file>.lock`` filelock).
* ``datahub-lite`` (ours): host (or extra ``file``) = a DataHub Lite SQLite store.
* no such connection: DataHub Lite at ``<state_dir>/datahub/lite.db`` (the embedded default).
* a connection that is defined but cannot be read (``AIRFLOW_CONN_DATAPRODUCTS_DATAHUB`` with a
  trailing comma in its JSON, a port that is not a number, an extra that is not JSON, no host):
  :class:`ConnectionConfigError` naming the connection. Nothing is sent anywhere, so the outbox
  keeps every batch until the connection is fixed. (Airflow itself reports such a variable as
  "not defined", which would otherwise file DataHub's metadata in the local store.)

Where the library parts do not fit, and what is ours instead:

* The hooks' own ``emit()`` makes a new emitter per call and sends MCP by MCP. The outbox needs
  "every MCP of the batch was accepted, or an exception": :class:`EmitterSink` drives the hook's
  emitter itself: for REST, the emitter's ``GET /config`` handshake once (fails early on the
  frontend's URL), then ``emit_mcps`` in ``SYNC_PRIMARY`` mode, so a 2xx means stored; for other
  emitters ``emit`` with a callback that collects errors, then ``flush``.
* Timeouts and retries are the connection's (``timeout_sec``, ``retry_max_times`` in its extra),
  as for the plugin; the SDK's defaults (30 s, 4 retries with backoff) hold one flush for about
  30 s while GMS is down. The outbox, not the emitter, is what retries durably.
* ``SynchronizedFileEmitter`` re-reads and rewrites the whole file for every MCP and writes in
  place (DataHub calls it "for testing purposes only"): a file sink is for tests and debugging.
  A file it cannot read (left half-written, or edited by hand) fails the emit with an error that
  names the file; the batch stays in the outbox.
* DataHub Lite has no emitter in the SDK (only an ingestion-pipeline sink): :class:`LiteSink`
  writes through the Lite API, which versions aspects and skips unchanged values.

Secrets: everything secret the connection holds (the password/token, a ``user:password`` in its
URL and the Basic credentials requests derives from it, every value of ``extra_headers``, any
extra field Airflow deems sensitive) is registered with Airflow's secrets masker (task logs) and
with a logging filter on the loggers that can see a request (the DataHub emitter, urllib3,
requests, ours), and scrubbed from every error a sink raises and from ``describe()``.
"""

from __future__ import annotations

import base64
import collections
import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from dataproducts.core import settings
from dataproducts.core.files import atomic_write_bytes

logger = logging.getLogger(__name__)

DEFAULT_CONN_ID = settings.SETTINGS["datahub_conn_id"].default
LITE_FILE_NAME = "lite.db"
REDACTED = "<redacted>"
LITE_CONN_TYPE = "datahub-lite"


class Sink(Protocol):
    def emit(self, mcps: list) -> None:
        """Deliver every MCP or raise."""

    def close(self) -> None: ...

    def describe(self) -> str:
        """Where the metadata goes, without secrets."""


class SinkError(Exception):
    """A sink could not deliver a batch (the message is free of secrets)."""


class ConnectionConfigError(SinkError):
    """The DataHub connection is defined but cannot be used as it is; nothing was sent."""


# --------------------------------------------------------------------------- secrets
class _SecretScrubber(logging.Filter):
    """Replaces registered secrets in log records of the loggers it is attached to.

    Secrets stay registered for the life of the process (a late log line from a pooled
    connection must still be scrubbed after close()); the set is as small as the number of
    distinct secrets used.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        with self._lock:
            self._secrets[secret] += 1

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):  # longest first: a secret may contain another
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
    "datahub.emitter.synchronized_file_emitter",
    "datahub.ingestion.graph.client",
    "datahub_airflow_plugin.hooks.datahub",
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "requests",
    __name__,
    "dataproducts.metadata.outbox",
    "dataproducts.metadata.delivery",
    "dataproducts.metadata",
)
for _name in _SCRUBBED_LOGGERS:
    logging.getLogger(_name).addFilter(_scrubber)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced."""
    return _scrubber.scrub(text)


def register_secrets(secrets: Iterable[str]) -> None:
    """Scrub these from our logs and errors, and mask them in Airflow's task logs when Airflow is there."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # no Airflow: our own scrubbing is all there is
        mask_secret = None
    for secret in secrets:
        if not secret:
            continue
        _scrubber.add(secret)
        if mask_secret is not None:
            mask_secret(secret)


def connection_secrets(conn: Any) -> set[str]:
    """Every secret an Airflow connection holds (see the module docstring), as it may appear in text."""
    secrets: set[str] = set()
    if getattr(conn, "password", None):
        secrets.add(conn.password)
    host = getattr(conn, "host", None) or ""
    try:
        parts = urlsplit(host if "://" in host else f"//{host}")
        user, password = parts.username, parts.password
    except ValueError:
        user = password = None
    if password:
        secrets |= {password, unquote(password)}
        basic = f"{unquote(user or '')}:{unquote(password)}".encode()
        secrets.add(base64.b64encode(basic).decode())  # what requests sends for a user:password URL
    extra = _extra(conn)
    headers = extra.get("extra_headers")
    for value in headers.values() if isinstance(headers, dict) else ():
        if isinstance(value, str) and value:
            secrets.add(value)
            scheme, _, credential = value.partition(" ")
            if credential and scheme.lower() in ("bearer", "basic", "token"):
                secrets.add(credential)
    for name, value in extra.items():
        if isinstance(value, str) and value and _is_sensitive(name):
            secrets.add(value)
    return {s for s in secrets if s}


def _is_sensitive(name: str) -> bool:
    try:
        from airflow.sdk._shared.secrets_masker.secrets_masker import should_hide_value_for_key
    except ImportError:
        lowered = name.lower()
        return any(word in lowered for word in ("password", "secret", "token", "key", "authorization"))
    return bool(should_hide_value_for_key(name))


def strip_userinfo(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.username or parts.password:
            netloc = parts.hostname or ""
            if parts.port:
                netloc += f":{parts.port}"
            return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparseable url>"
    return url


# ------------------------------------------------------------------- SDK emitters
class EmitterSink:
    """A DataHub SDK emitter (as the plugin's hook makes it) driven so that a batch is all or nothing."""

    def __init__(self, emitter: Any, where: str) -> None:
        self._emitter = emitter
        self._where = scrub(where)
        self._handshake_done = False

    def describe(self) -> str:
        return self._where

    def __repr__(self) -> str:
        return f"EmitterSink({self._where!r})"

    def emit(self, mcps: list) -> None:
        failure: Optional[str] = None
        try:
            self._emit(list(mcps))
        except Exception as e:
            failure = f"{type(e).__name__}: {e}"
            if isinstance(e, ValueError) and self._is_file():  # json.JSONDecodeError included
                failure += "; it is not a readable DataHub metadata file: repair it or move it aside"
        if failure is not None:
            # Raised outside the except block: no __context__ carrying the unscrubbed original.
            raise SinkError(f"{self.describe()}: {scrub(failure)}")

    def _is_file(self) -> bool:
        from datahub.emitter.synchronized_file_emitter import SynchronizedFileEmitter

        return isinstance(self._emitter, SynchronizedFileEmitter)

    def _emit(self, mcps: list) -> None:
        from datahub.emitter.rest_emitter import DataHubRestEmitter, EmitMode

        if isinstance(self._emitter, DataHubRestEmitter):
            if not self._handshake_done:
                self._emitter.test_connection()  # GET /config; raises when GMS is unreachable or refuses us
                self._handshake_done = True
            self._emitter.emit_mcps(mcps, emit_mode=EmitMode.SYNC_PRIMARY)
            return
        errors: list[Exception] = []

        def collect(exc: Optional[Exception], _message: str) -> None:
            if exc is not None:
                errors.append(exc)

        for mcp in mcps:
            self._emitter.emit(mcp, collect)
        self._emitter.flush()
        if errors:
            raise errors[0]

    def close(self) -> None:
        close = getattr(self._emitter, "close", None)
        if close is not None:
            close()


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
    the ``datahub lite`` CLI: ``HOME=<dir of the store> DATAHUB_TELEMETRY_ENABLED=false datahub lite ls /``
    (the sink writes that ``.datahubenv`` next to the store).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lite: Any = None
        self._written: set[str] = set()  # entity URNs this sink wrote, whose browse paths close() updates

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
            self._written.add(str(mcp.entityUrn))

    def close(self) -> None:
        if self._lite is not None:
            try:
                self._index_written()
            finally:
                self._lite._close_connection()
                self._lite = None
                self._written = set()

    def _index_written(self) -> None:
        """The browse paths (`datahub lite ls`) of the entities written, as DataHub Lite's reindex
        gives them. Lite's own close() runs reindex over the whole store: every aspect of every
        entity decoded again, seconds per run once the store holds a few hundred aspects, and
        growing with every run. write() already keeps each aspect's own edges, so only the
        entity-level ones (global_post_update_hook) are added here, for what this sink wrote.
        tests/test_outbox.py checks that the index equals a full reindex."""
        for urn in sorted(self._written):
            aspects = {name: value for name, value in (self._lite.get(urn, None, typed=True) or {}).items() if name != "urn"}
            self._lite.global_post_update_hook(urn, aspects)
        self._lite._commit()


def default_sink(state_dir: Path | str) -> LiteSink:
    return LiteSink(Path(state_dir) / "datahub" / LITE_FILE_NAME)


# ----------------------------------------------------------------------- choosing
def _extra(conn: Any) -> dict:
    """The connection's extra as a dict; raises ValueError when it is not a JSON object (Airflow's
    own extra_dejson would log and return {}, silently dropping every setting)."""
    extra = getattr(conn, "extra", None)
    if isinstance(extra, dict):
        return dict(extra)
    if not extra or not str(extra).strip():
        return {}
    try:
        value = json.loads(extra)
    except json.JSONDecodeError as e:
        raise ValueError(f"its extra is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise ValueError("its extra is not a JSON object")
    return value


def _conn_type(conn: Any) -> str:
    return (getattr(conn, "conn_type", None) or "").strip().lower().replace("_", "-")


def _env_variable(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def _unreadable_env_connection(conn_id: str) -> Optional[str]:
    """Why $AIRFLOW_CONN_<ID> cannot be parsed, when it is set but Airflow found no connection."""
    value = os.environ.get(_env_variable(conn_id))
    if value is None:
        return None
    from airflow.sdk import Connection

    try:
        if value.lstrip().startswith("{"):
            conn = Connection.from_json(value, conn_id=conn_id)
        else:
            conn = Connection.from_uri(value, conn_id=conn_id)
        _ = conn.port
    except Exception as e:  # the parser's own words, which never quote the whole value
        return f"{type(e).__name__}: {scrub(str(e))}"
    return "Airflow could not read it"


_FIX = (
    "Fix: give it as JSON, e.g. "
    '{"conn_type": "datahub-rest", "host": "http://datahub-gms:8080", "password": "<token>"}, '
    "or as a URI (datahub-rest://datahub-gms:8080); until then nothing is sent and the outbox keeps every batch"
)


def resolve_sink(conn_id: str = DEFAULT_CONN_ID, state_dir: Path | str | None = None) -> Sink:
    """The sink named by Airflow connection `conn_id`, or DataHub Lite under `state_dir` without it.

    Call it at run time (in a task or the CLI), never at DAG parse time: it asks Airflow's
    secrets backends. Only a connection that is not defined at all (or Airflow not being
    installed) falls back to the local store; a connection that is defined but unusable, or a
    secrets backend that fails, raises (ConnectionConfigError), so the outbox keeps the metadata
    for DataHub instead of filing it in the wrong place.
    """
    if state_dir is None:
        raise TypeError("resolve_sink() needs state_dir (where the fallback DataHub Lite store lives)")
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:
        default = default_sink(state_dir)
        logger.info("Airflow is not installed: DataHub metadata goes to %s", default.describe())
        return default
    where = f"Airflow connection {conn_id!r}"
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        problem = _unreadable_env_connection(conn_id)
        if problem is not None:
            raise ConnectionConfigError(f"{where} (${_env_variable(conn_id)}) is malformed: {problem}. {_FIX}") from None
        default = default_sink(state_dir)
        logger.info("no %s: DataHub metadata goes to %s", where, default.describe())
        return default
    except Exception as e:
        raise ConnectionConfigError(f"{where} could not be read: {type(e).__name__}: {scrub(str(e))}") from None
    try:
        register_secrets(connection_secrets(conn))
    except ValueError as e:
        raise ConnectionConfigError(f"{where} is malformed: {e}. {_FIX}") from None
    sink = _sink_for(conn_id, conn, where)
    logger.info("%s: DataHub metadata goes to %s", where, sink.describe())
    return sink


def _sink_for(conn_id: str, conn: Any, where: str) -> Sink:
    conn_type = _conn_type(conn)
    host = getattr(conn, "host", None) or ""
    failure: Optional[str] = None
    try:
        if conn_type == LITE_CONN_TYPE:
            filename = host or _extra(conn).get("file") or _extra(conn).get("filename")
            if not filename:
                raise ValueError("a datahub-lite connection needs the store's path as host (or extra 'file')")
            return LiteSink(Path(filename))
        if conn_type not in ("datahub-rest", "datahub-file", "datahub-kafka"):
            raise ValueError(f"conn_type {conn_type!r} is not a DataHub connection (datahub-rest, datahub-file or datahub-lite)")
        from datahub_airflow_plugin.hooks.datahub import DatahubGenericHook

        emitter = DatahubGenericHook(conn_id).make_emitter()
        port = f":{conn.port}" if getattr(conn, "port", None) else ""
        kind = {"datahub-rest": "DataHub REST", "datahub-file": "DataHub file", "datahub-kafka": "DataHub Kafka"}[conn_type]
        return EmitterSink(emitter, f"{kind} {strip_userinfo(host)}{port}" + (" (token set)" if conn.password else ""))
    except Exception as e:
        failure = f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e)
    raise ConnectionConfigError(f"{where} cannot be used: {scrub(failure)}")


__all__ = [
    "DEFAULT_CONN_ID",
    "ConnectionConfigError",
    "EmitterSink",
    "LiteSink",
    "Sink",
    "SinkError",
    "connection_secrets",
    "default_sink",
    "lite_config",
    "open_lite",
    "register_secrets",
    "resolve_sink",
    "scrub",
    "write_lite_cli_env",
]
