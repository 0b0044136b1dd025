"""The "Data mesh" page in Airflow's UI: an operations view of every product, broken specs first.

A FastAPI app that the plugin (dataproducts.airflow.plugin) mounts under Airflow's api-server at
/dataproducts:

    GET /dataproducts/          the page: per product its last run, the business date it built,
                                freshness against its SLA, open incidents and the quality score
                                where one exists (dataproducts.airflow.operations), the product
                                graph as server-side SVG (dataproducts.airflow.mesh_graph), broken
                                specs with every error. Jinja2 templates in templates/ with
                                autoescape: every value from a spec or from Airflow is data.
    GET /dataproducts/api/mesh  the same data as JSON for scripts

Airflow shows the page in a sandboxed iframe (Browse > Data mesh); templates/data_mesh.js makes
its links to DAGs and runs open in Airflow itself and adopts Airflow's colours (light or dark).

The mesh is loaded per request (dataproducts.core.mesh.load_mesh, tens of milliseconds), so the page
always shows the specs on disk, including specs too broken to become a working DAG. Nothing is
loaded at import: a broken spec or a missing dbt manifest shows on the page, never as a plugin
import error.

Authentication and authorisation (checked against apache-airflow 3.3.2's source):

* Airflow mounts a plugin's FastAPI app on its root app (`airflow.api_fastapi.app.init_plugins`,
  a plain `app.mount(url_prefix, subapp)`) with no dependency of its own: without the checks
  below these routes would be public.
* Every route first resolves the user with Airflow's own
  `airflow.api_fastapi.core_api.security.get_user` (the dependency behind `GetUserDep`): an
  `Authorization: Bearer <jwt>` header first, else the user the root app's `JWTRefreshMiddleware`
  built from the UI's `_token` cookie, else the `_token` cookie itself, validated by
  `get_auth_manager().get_user_from_token` (signature, expiry, audience, revoked tokens). No or
  expired token: 401; an invalid one: 403 (Airflow's own answers). It then applies
  `requires_access_dag(method="GET")` without a dag id, the check `GET /api/v2/dags` itself
  depends on: the user may read DAGs, or gets 403.
* The JSON endpoint answers those 401/403 as they are (dependency `_dag_reader`). The HTML page
  redirects a request that fails authentication to the auth manager's login page
  (`get_auth_manager().get_url_login(next_url=<this page>)`), and answers an authenticated user
  without DAG read access with a 403 page.
* Each product (and each broken spec, which is a DAG under the same id) is shown only when the
  user may read its DAG: `get_auth_manager().filter_authorized_dag_ids(dag_ids=..., method="GET")`
  (3.3's batch API; by default one `is_authorized_dag` per id, auth managers may do better). It
  needs no database, so products whose DAG is not parsed yet are still shown to who may read
  them. In multi-team mode (`[core] multi_team`) a DAG's team matters and only the database knows
  it, so there `get_authorized_dag_ids(method="GET")` decides (products not parsed yet are hidden).
  Consumers and producers the user may not read are shown without a link or left out.
* Airflow's api_fastapi modules are imported inside the request handlers, not at import time:
  Airflow loads plugins in every task process too, and those imports cost about a second there.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from markupsafe import Markup, escape

from dataproducts.airflow import mesh_graph, operations
from dataproducts.core import access, naming, quality

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path(__file__).resolve().parents[2]  # plugins/dataproducts/ui.py -> the repository
URL_PREFIX = "/dataproducts"
TITLE = "Data mesh"

_bearer = HTTPBearer(auto_error=False)


# --- authentication and authorisation -------------------------------------------------------


async def _authenticated_user(request: Request, bearer: Optional[HTTPAuthorizationCredentials]):
    """Airflow's own user resolution (bearer header, else the UI's `_token` cookie); 401/403 otherwise."""
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, None, bearer)  # (request, _oauth_token: unused by it, bearer_credentials)


def _require_dag_read(request: Request, user) -> None:
    """The check of GET /api/v2/dags: may the user read DAGs at all? HTTPException(403) if not."""
    from airflow.api_fastapi.core_api.security import requires_access_dag

    requires_access_dag(method="GET")(request, user)


async def _dag_reader(request: Request, bearer: Optional[HTTPAuthorizationCredentials] = Depends(_bearer)):
    """Dependency: the authenticated Airflow user, who must be allowed to read DAGs (401/403 otherwise)."""
    user = await _authenticated_user(request, bearer)
    _require_dag_read(request, user)
    return user


def readable_dag_ids(user, dag_ids: Iterable[str]) -> set[str]:
    """The subset of dag_ids whose DAG the user may read."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.configuration import conf

    wanted = set(dag_ids)
    auth_manager = get_auth_manager()
    if conf.getboolean("core", "multi_team", fallback=False):
        return wanted & auth_manager.get_authorized_dag_ids(user=user, method="GET")
    return auth_manager.filter_authorized_dag_ids(dag_ids=wanted, user=user, method="GET")


def airflow_base_path() -> str:
    """The path Airflow's UI is served under ('' unless [api] base_url has a path)."""
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


# --- the data -------------------------------------------------------------------------------


def mesh_data(
    root: Optional[Path] = None,
    may_read: Optional[Callable[[Iterable[str]], set[str]]] = None,
    airflow_base: str = "",
) -> dict[str, Any]:
    """Products, broken specs and the metadata backlog as plain data (what the page and the JSON show).

    may_read filters DAG ids (None: everything); it never raises for the mesh's sake: a mesh that
    cannot be loaded at all is reported under 'load_error'.
    """
    from dataproducts.core.mesh import load_mesh
    from dataproducts.core.project import Project

    project = Project(Path(root)) if root else Project.from_env(DEFAULT_ROOT)
    data: dict[str, Any] = {"project": str(project.root), "products": [], "broken": [], "backlog": _backlog(project)}
    try:
        mesh = load_mesh(project)
    except Exception as exc:  # e.g. an unreadable folder; our bug must not hide the page
        log.exception("could not load the data mesh of %s", project.root)
        data["load_error"] = f"the mesh could not be loaded: {exc!r}"
        return data

    all_ids = {naming.dag_id(pid) for pid in mesh.entries}
    visible = set(all_ids) if may_read is None else set(may_read(all_ids))

    def link(pid: str) -> str:
        return f"{airflow_base}/dags/{quote(naming.dag_id(pid), safe='')}"

    for pid, entry in sorted(mesh.broken.items()):
        if naming.dag_id(pid) not in visible:
            continue
        data["broken"].append(
            {
                "id": pid,
                "domain": entry.domain,
                "file": entry.path,
                "dag_id": naming.dag_id(pid),
                "dag_url": link(pid),
                "errors": [
                    {
                        "file": e.file,
                        "location": e.location,
                        "field": e.field,
                        "problem": e.problem,
                        "fix": e.fix,
                        "message": str(e),
                    }
                    for e in entry.errors
                ],
            }
        )

    for pid, spec in sorted(mesh.products.items()):
        if naming.dag_id(pid) not in visible:
            continue
        entry = mesh.entries[pid]
        data["products"].append(
            {
                "id": pid,
                "name": spec.name,
                "domain": spec.domain,
                "description": spec.description,
                "version": spec.version,
                "status": spec.status.value,
                "owner": {"team": spec.owner.team, "contact": spec.owner.contact},
                "tags": list(spec.tags),
                "file": entry.path,
                "schedule": _schedule(spec),
                "input_ports": [_input_port(p, visible) for p in spec.input_ports],
                "output_ports": [_output_port(spec, p) for p in spec.output_ports],
                "consumers": [c for c in mesh.consumers_of(pid) if naming.dag_id(c) in visible],
                "dag_id": naming.dag_id(pid),
                "dag_url": link(pid),
            }
        )
    _add_quality(data, mesh)
    return data


def _add_quality(data: dict[str, Any], mesh) -> None:
    """Each shown product's quality score with its parts, and its latest run's quality warnings."""
    from dataproducts.core import run_history
    from dataproducts.metadata.scoring import scores

    try:
        found = scores(mesh, dt.datetime.now(dt.UTC), [p["id"] for p in data["products"]])
        history = run_history.read(mesh.project.state_dir)
    except Exception as exc:  # the score is a view on facts; its trouble must not hide the page
        log.exception("could not compute the quality scores")
        data["quality_error"] = f"quality scores could not be computed: {exc!r}"
        return
    for product in data["products"]:
        result = found[product["id"]]
        product["quality"] = {
            "score": result.total,
            "parts": {p.name: f"{'n/a' if p.points is None else f'{p.points:g}'}/{p.weight}, {p.detail}" for p in result.parts},
            "details": [p.as_dict() for p in result.parts],
        }
        product["quality_warnings"] = run_history.latest_warnings(history, product["id"])


def with_operations(data: dict[str, Any], airflow_base: str = "") -> None:
    """Adds what Airflow knows (last runs, business dates, freshness, incidents); a database that
    cannot be read leaves the spec data and says why under 'runs_error'."""
    dag_ids = [p["dag_id"] for p in data["products"]] + [b["dag_id"] for b in data["broken"]]
    ports = [port["asset"] for p in data["products"] for port in p["output_ports"]]
    try:
        facts = operations.read_facts(dag_ids, ports)
    except Exception as exc:
        log.exception("could not read runs from Airflow's database")
        data["runs_error"] = f"Airflow's database could not be read: {exc!r}"
        facts = {}
    operations.attach(data, facts, dt.datetime.now(dt.UTC), airflow_base)


def _backlog(project) -> dict[str, Any]:
    try:
        from dataproducts.metadata.delivery import outbox_for

        status = outbox_for(project).status()
        quarantined = [
            {"batch": q.name, "mcps": q.mcp_count, "reason": q.reason, "at": q.quarantined_at} for q in status.quarantined
        ]
        return {"batches": status.batches, "mcps": status.mcps, "quarantined": quarantined}
    except Exception as exc:
        log.exception("could not read the metadata outbox")
        return {"batches": None, "mcps": None, "error": f"the outbox could not be read: {exc!r}"}


def _schedule(spec) -> dict[str, Any]:
    cron = spec.schedule.cron if spec.schedule else None
    return {"cron": cron, "timezone": spec.timezone, "trigger": spec.trigger, "summary": spec.schedule_summary or "none"}


def _input_port(port, visible: set[str]) -> dict[str, Any]:
    result: dict[str, Any] = {"name": port.name, "description": port.description}
    if port.is_product:
        result.update(
            product=port.product,
            port=port.port,
            asset=naming.port_id(port.product, port.port),
            producer_visible=naming.dag_id(port.product) in visible,
        )
    else:
        src = port.source
        result["source"] = {"schema": src.schema_, "table": src.table, "system": src.system}
    return result


def _output_port(spec, port) -> dict[str, Any]:
    return {
        "name": port.name,
        "description": port.description,
        "asset": naming.port_id(spec.id, port.name),
        "asset_uri": naming.asset_uri(spec.id, port.name),
        "table": naming.table_ref(spec.domain, port.table_name),
        "columns": len(port.contract.columns),
        "freshness_hours": port.freshness.max_age_hours if port.freshness else None,
        "access": access.describe(spec, port),
        "restricted": port.access.visibility.value != "open",
        "quality_rules": quality.rule_lines(port),
    }


# --- the page -------------------------------------------------------------------------------

TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def _templates():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True
    )
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    env.filters["breakable"] = _breakable
    return env


def _breakable(value: Any) -> Markup:
    """Long names without spaces (asset names, e-mail addresses) may wrap after a '.', '_', '@' or
    '/' instead of in the middle of a word."""
    return Markup("<wbr>").join(escape(part) for part in re.split(r"(?<=[._@/])", str(value)))


def render_page(data: dict[str, Any], user_name: str = "", now: Optional[dt.datetime] = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    products = data["products"]
    if "summary" not in data:
        operations.attach(data, {}, now)
    domains = [(d, [p for p in products if p["domain"] == d]) for d in sorted({p["domain"] for p in products})]
    return (
        _templates()
        .get_template("data_mesh.html")
        .render(
            title=TITLE,
            user_name=user_name,
            now=now.isoformat(),
            domains=domains,
            graph=mesh_graph.layout(products, data["broken"]),
            show_quality=any(p.get("quality") is not None for p in products),
            **data,
        )
    )


def _forbidden_page(detail: str) -> str:
    return _templates().get_template("forbidden.html").render(title=TITLE, detail=detail)


def _when(iso: Optional[str]) -> str:
    """An ISO timestamp as Airflow's lists show it (UTC)."""
    if not iso:
        return ""
    return dt.datetime.fromisoformat(iso).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(iso: Optional[str]) -> str:
    if not iso:
        return ""
    seconds = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(iso)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


# --- the app ----------------------------------------------------------------------------------


def create_app(project_root: Optional[Path] = None) -> FastAPI:
    """The app the plugin mounts at /dataproducts; project_root defaults to DATAPRODUCTS_HOME, else this repository."""
    app = FastAPI(title="Data products", docs_url=None, redoc_url=None, openapi_url=None)

    def load(user) -> dict[str, Any]:
        base = airflow_base_path()
        data = mesh_data(project_root, lambda ids: readable_dag_ids(user, ids), base)
        with_operations(data, base)
        return data

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request, bearer: Optional[HTTPAuthorizationCredentials] = Depends(_bearer)):
        try:
            user = await _authenticated_user(request, bearer)
        except HTTPException:  # no token, an expired one or one this Airflow did not sign: log in
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
        try:
            _require_dag_read(request, user)
        except HTTPException as exc:
            return HTMLResponse(_forbidden_page(str(exc.detail)), status_code=exc.status_code)
        from starlette.concurrency import run_in_threadpool

        data = await run_in_threadpool(load, user)  # file reads: keep them off the event loop
        return HTMLResponse(render_page(data, user.get_name()), status_code=500 if data.get("load_error") else 200)

    @app.get("/api/mesh")
    def api_mesh(user=Depends(_dag_reader)):
        data = load(user)
        return JSONResponse(data, status_code=500 if data.get("load_error") else 200)

    return app


app = create_app()
