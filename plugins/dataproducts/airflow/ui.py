"""The "Data mesh" page in Airflow's UI: every product by domain, broken specs first, the metadata backlog.

A FastAPI app that the plugin (dataproducts.airflow.plugin) mounts under Airflow's api-server at
/dataproducts:

    GET /dataproducts/          server-side HTML (no JavaScript, no build); every value from a spec
                                is data and goes through html.escape
    GET /dataproducts/api/mesh  the same data as JSON (products, broken, backlog) for scripts

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

import html
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dataproducts.core import naming

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
                    {"file": e.file, "field": e.field, "problem": e.problem, "fix": e.fix, "message": str(e)}
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
    return data


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
        "table": f"{spec.domain}.{port.table_name}",
        "columns": len(port.contract.columns),
        "freshness_hours": port.freshness.max_age_hours if port.freshness else None,
    }


# --- the page -------------------------------------------------------------------------------


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _anchor(pid: str) -> str:
    return "product-" + pid


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.2rem;color:#1f2328;font-size:14px}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:1.4rem 0 .4rem;border-bottom:1px solid #d0d7de}
.muted{color:#656d76}.summary span{margin-right:1.2rem}
table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem;table-layout:fixed}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f6f8fa;font-weight:600}tr:target td{background:#fff8c5}
ul{margin:0;padding-left:1.1rem}code{font-size:.92em}
.broken{border:2px solid #cf222e;background:#ffebe9;padding:.6rem 1rem;margin:.8rem 0}
.broken h2{color:#cf222e;border:0;margin-top:.2rem}.broken table{background:#fff}
.ok{border:1px solid #1a7f37;background:#dafbe1;padding:.4rem 1rem;margin:.8rem 0}
.warn{border:1px solid #9a6700;background:#fff8c5;padding:.4rem 1rem;margin:.8rem 0}
.status{display:inline-block;border-radius:1em;padding:0 .5em;font-size:.85em;border:1px solid #d0d7de}
.status-active{background:#dafbe1}.status-draft{background:#ddf4ff}.status-deprecated{background:#ffebe9}
a{color:#0969da}
"""


def render_page(data: dict[str, Any], user_name: str = "") -> str:
    products, broken, backlog = data["products"], data["broken"], data["backlog"]
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(TITLE)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(TITLE)}</h1>",
        "<p class='summary muted'>",
        f"<span>{len(products)} products in {len({p['domain'] for p in products})} domains</span>",
        f"<span>{len(broken)} broken specs</span>",
        f"<span>metadata outbox: {_backlog_text(backlog)}</span>",
        f"<span>signed in as {esc(user_name)}</span>" if user_name else "",
        "<span><a href='api/mesh'>JSON</a></span></p>",
    ]
    if data.get("load_error"):
        out.append(f"<div class='broken'><h2>The mesh could not be loaded</h2><p>{esc(data['load_error'])}</p></div>")
    out.append(_render_broken(broken))
    if backlog.get("error"):
        out.append(f"<div class='warn'>{esc(backlog['error'])}</div>")
    elif backlog.get("batches"):
        out.append(
            f"<div class='warn'>{esc(backlog['batches'])} metadata batches ({esc(backlog['mcps'])} MCPs) wait in the outbox "
            "for DataHub; the catalogue sync DAG retries them (<code>dataproducts metadata status</code>).</div>"
        )
    if backlog.get("quarantined"):
        out.append(
            f"<div class='warn'>{len(backlog['quarantined'])} metadata batches are quarantined (unreadable, not sent): "
            + "; ".join(f"{esc(q['batch'])}: {esc(q['reason'])}" for q in backlog["quarantined"])
            + " (<code>dataproducts metadata quarantine list|show|retry|drop</code>).</div>"
        )
    domains = sorted({p["domain"] for p in products})
    if not domains and not data.get("load_error"):
        out.append("<p class='muted'>No products to show (none in the project, or none whose DAG you may read).</p>")
    for domain in domains:
        out.append(f"<h2>Domain {esc(domain)}</h2>")
        out.append(_render_products([p for p in products if p["domain"] == domain]))
    out.append(f"<p class='muted'>Specs from {esc(data['project'])}/product_specs, loaded for this request.</p>")
    out.append("</body></html>")
    return "".join(out)


def _backlog_text(backlog: dict[str, Any]) -> str:
    if backlog.get("error"):
        return "unreadable"
    quarantined = f", {len(backlog['quarantined'])} quarantined" if backlog.get("quarantined") else ""
    return f"{esc(backlog['batches'])} batches, {esc(backlog['mcps'])} MCPs waiting{quarantined}"


def _dag_link(item: dict[str, Any]) -> str:
    # target=_top: inside Airflow's plugin iframe the DAG page must replace the whole UI
    return f"<a href='{esc(item['dag_url'])}' target='_top' title='{esc(item['dag_id'])}'>DAG</a>"


def _render_broken(broken: list[dict[str, Any]]) -> str:
    if not broken:
        return "<div class='ok'>Every spec loads and validates.</div>"
    rows = []
    for item in broken:
        for i, err in enumerate(item["errors"]):
            first = i == 0
            span = len(item["errors"])
            head = (
                f"<td rowspan='{span}' id='{esc(_anchor(item['id']))}'><b>{esc(item['id'])}</b><br>{_dag_link(item)}</td>"
                if first
                else ""
            )
            rows.append(
                f"<tr>{head}<td><code>{esc(err['file'])}</code></td><td><code>{esc(err['field'] or '')}</code></td>"
                f"<td>{esc(err['problem'])}</td><td>{esc(err['fix'])}</td></tr>"
            )
    return (
        f"<div class='broken'><h2>{len(broken)} broken spec{'s' if len(broken) != 1 else ''}</h2>"
        "<p>These products run nothing until their spec is fixed (their DAG's only task fails with the same words);"
        " every other product keeps running.</p>"
        "<table><tr><th style='width:15%'>product</th><th style='width:18%'>file</th><th style='width:14%'>field</th>"
        "<th style='width:28%'>problem</th><th>fix</th></tr>" + "".join(rows) + "</table></div>"
    )


def _render_products(products: list[dict[str, Any]]) -> str:
    rows = []
    for p in products:
        inputs = "".join(f"<li>{_render_input(i)}</li>" for i in p["input_ports"]) or "<li class='muted'>none</li>"
        outputs = "".join(f"<li>{_render_output(o)}</li>" for o in p["output_ports"])
        consumers = (
            "".join(f"<li><a href='#{esc(_anchor(c))}'>{esc(c)}</a></li>" for c in p["consumers"])
            or "<li class='muted'>none</li>"
        )
        tags = " ".join(f"<code>{esc(t)}</code>" for t in p["tags"])
        rows.append(
            f"<tr id='{esc(_anchor(p['id']))}'>"
            f"<td><b>{esc(p['id'])}</b> &middot; {_dag_link(p)}<br>{esc(p['name'])}<br><span class='muted'>{esc(p['description'])}</span>"
            f"{'<br>' + tags if tags else ''}<br><span class='muted'><code>{esc(p['file'])}</code></span></td>"
            f"<td>{esc(p['owner']['team'])}<br><a href='mailto:{esc(p['owner']['contact'])}'>{esc(p['owner']['contact'])}</a></td>"
            f"<td>{esc(p['version'])}<br><span class='status status-{esc(p['status'])}'>{esc(p['status'])}</span></td>"
            f"<td>{esc(p['schedule']['summary'])}</td>"
            f"<td><ul>{inputs}</ul></td><td><ul>{outputs}</ul></td><td><ul>{consumers}</ul></td></tr>"
        )
    return (
        "<table><tr><th style='width:20%'>product</th><th style='width:11%'>owner</th><th style='width:6%'>version</th>"
        "<th style='width:9%'>schedule</th><th style='width:17%'>input ports</th><th style='width:18%'>output ports</th>"
        "<th>consumers</th></tr>" + "".join(rows) + "</table>"
    )


def _render_input(port: dict[str, Any]) -> str:
    name = f"<b>{esc(port['name'])}</b>: "
    if "source" in port:
        src = port["source"]
        system = f" ({esc(src['system'])})" if src.get("system") else ""
        return f"{name}source <code>{esc(src['schema'])}.{esc(src['table'])}</code>{system}"
    producer = esc(port["product"])
    if port["producer_visible"]:
        producer = f"<a href='#{esc(_anchor(port['product']))}'>{producer}</a>"
    return f"{name}{producer} <code>{esc(port['port'])}</code>"


def _render_output(port: dict[str, Any]) -> str:
    fresh = f", fresh within {esc(format(port['freshness_hours'], 'g'))} h" if port["freshness_hours"] is not None else ""
    return (
        f"<b>{esc(port['name'])}</b>: asset <code>{esc(port['asset'])}</code>, table <code>{esc(port['table'])}</code>, "
        f"{esc(port['columns'])} contract column{'s' if port['columns'] != 1 else ''}{fresh}"
    )


def _forbidden_page(detail: str) -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(TITLE)}</title><style>{CSS}</style></head>"
        f"<body><h1>{esc(TITLE)}</h1><div class='broken'><p>{esc(detail)}: you need read access to DAGs to see the data mesh.</p></div></body></html>"
    )


# --- the app ----------------------------------------------------------------------------------


def create_app(project_root: Optional[Path] = None) -> FastAPI:
    """The app the plugin mounts at /dataproducts; project_root defaults to DATAPRODUCTS_HOME, else this repository."""
    app = FastAPI(title="Data products", docs_url=None, redoc_url=None, openapi_url=None)

    def load(user) -> dict[str, Any]:
        return mesh_data(project_root, lambda ids: readable_dag_ids(user, ids), airflow_base_path())

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
