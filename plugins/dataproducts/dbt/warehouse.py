"""The Postgres warehouse made ready for dbt with access control (`dataproducts warehouse provision`).

Run as the warehouse's admin (the profile's DATAPRODUCTS_PG_* user), idempotently, whenever specs
change: one LOGIN role per domain, all of them members of the `<prefix>_mesh` group; each
domain's schema owned by its role (tables an earlier setup left there are handed over to it) and
visible to the group; SELECT on each external source table for the domains whose specs declare
reading it. Output tables get their grants when they are built (dbt/runner.py: grant_select),
because dbt creates them. Names and policies: core/warehouse_access.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from dataproducts.core import warehouse_access
from dataproducts.core.mesh import Mesh


@dataclass
class Provisioned:
    roles: list[str] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)
    source_grants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    missing_sources: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"roles: {', '.join(self.roles)}", f"schemas: {', '.join(self.schemas)}"]
        lines += [f"SELECT on {table}: {', '.join(roles)}" for table, roles in self.source_grants.items()]
        lines += [f"warning: source table {table} does not exist (yet): no grant" for table in self.missing_sources]
        return "\n".join(lines)


def connect_kwargs(**overrides: Any) -> dict[str, Any]:
    """The warehouse as profiles.yml's postgres target sees it (DATAPRODUCTS_PG_*)."""
    kwargs: dict[str, Any] = {
        "host": os.environ.get("DATAPRODUCTS_PG_HOST", "localhost"),
        "port": int(os.environ.get("DATAPRODUCTS_PG_PORT", "5432")),
        "user": os.environ.get("DATAPRODUCTS_PG_USER", "postgres"),
        "password": os.environ.get("DATAPRODUCTS_PG_PASSWORD") or None,
        "dbname": os.environ.get("DATAPRODUCTS_PG_DBNAME", "warehouse"),
        "connect_timeout": 10,
    }
    kwargs.update(overrides)
    return kwargs


def provision(mesh: Mesh, prefix: str, **connection: Any) -> Provisioned:
    import psycopg2

    done = Provisioned()
    db = psycopg2.connect(**connect_kwargs(**connection))
    try:
        with db, db.cursor() as cur:
            _provision(cur, db.info.dbname, mesh, prefix, done)
    finally:
        db.close()
    return done


def _provision(cur, database: str, mesh: Mesh, prefix: str, done: Provisioned) -> None:
    from psycopg2 import sql

    group = warehouse_access.mesh_role(prefix)
    _create_role(cur, group, login=False)
    for domain in sorted(mesh.domains()):
        role = _member_role(cur, prefix, domain, group)
        cur.execute(sql.SQL("grant connect, temporary on database {} to {}").format(sql.Identifier(database), sql.Identifier(role)))
        cur.execute(sql.SQL("create schema if not exists {} authorization {}").format(sql.Identifier(domain), sql.Identifier(role)))
        _hand_over(cur, domain, role)
        cur.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(domain), sql.Identifier(group)))
        done.roles.append(role)
        done.schemas.append(domain)
    for domain in sorted(set(warehouse_access.role_domains(mesh)) - set(mesh.domains())):
        done.roles.append(_member_role(cur, prefix, domain, group))  # named by an access policy, no product yet
    for (schema, table), roles in warehouse_access.source_reads(mesh, prefix).items():
        cur.execute("select to_regclass(%s)", (f'"{schema}"."{table}"',))
        if cur.fetchone()[0] is None:
            done.missing_sources.append(f"{schema}.{table}")
            continue
        for role in roles:
            cur.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schema), sql.Identifier(role)))
            cur.execute(sql.SQL("grant select on {}.{} to {}").format(sql.Identifier(schema), sql.Identifier(table), sql.Identifier(role)))
        done.source_grants[f"{schema}.{table}"] = roles
    done.roles.insert(0, group)


def _member_role(cur, prefix: str, domain: str, group: str) -> str:
    """The domain's login role, a member of the mesh group."""
    from psycopg2 import sql

    role = warehouse_access.domain_role(prefix, domain)
    _create_role(cur, role, login=True, password=os.environ.get(f"DATAPRODUCTS_PG_PASSWORD_{domain.upper()}"))
    cur.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(role)))
    return role


def _create_role(cur, role: str, login: bool, password: str | None = None) -> None:
    from psycopg2 import sql

    cur.execute("select 1 from pg_roles where rolname = %s", (role,))
    verb = "alter" if cur.fetchone() else "create"
    options = sql.SQL("login" if login else "nologin")
    if password:
        options = sql.SQL("{} password {}").format(options, sql.Literal(password))
    cur.execute(sql.SQL(verb + " role {} {}").format(sql.Identifier(role), options))


def _hand_over(cur, schema: str, role: str) -> None:
    """The schema and the tables and views in it belong to the domain's role (dbt, running as that
    role, must be able to replace them), also when an earlier setup built them as another user."""
    from psycopg2 import sql

    cur.execute(sql.SQL("alter schema {} owner to {}").format(sql.Identifier(schema), sql.Identifier(role)))
    cur.execute(
        "select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'v', 'm', 'p') and pg_get_userbyid(c.relowner) <> %s",
        (schema, role),
    )
    kinds = {"r": "table", "p": "table", "v": "view", "m": "materialized view"}
    for name, kind in cur.fetchall():
        cur.execute(
            sql.SQL("alter {} {}.{} owner to {}").format(
                sql.SQL(kinds[kind]), sql.Identifier(schema), sql.Identifier(name), sql.Identifier(role)
            )
        )


def drop_roles(prefix: str, domains: list[str], **connection: Any) -> None:
    """Remove the roles `provision` created (after the warehouse database they own objects in is gone)."""
    import psycopg2
    from psycopg2 import sql

    roles = [warehouse_access.domain_role(prefix, d) for d in domains] + [warehouse_access.mesh_role(prefix)]
    db = psycopg2.connect(**connect_kwargs(**connection))
    db.autocommit = True
    try:
        with db.cursor() as cur:
            for role in roles:
                cur.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
    finally:
        db.close()
