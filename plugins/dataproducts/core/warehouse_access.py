"""Who may read what in a warehouse with roles: the names and the grants, decided from the specs.

Each domain's dbt runs as a role of its own, `<prefix><domain>`, which owns the domain's schema
and everything built in it. Each output table grants SELECT to the roles its port's access policy
allows, and to no other, so a read the policy forbids fails in the warehouse itself.

Policies (the port's `access`, core/access.py): "open to all" is a grant to one group role,
`<prefix>_mesh`, that every domain role is a member of, so a domain added later can read without
every producer rebuilding. A narrower policy names exactly the roles of the domains it allows (the
producer's own included); a product on an allow-list gets its domain's role, as roles are per domain,
while the spec check at load time holds every other product of that domain to the policy.

External source tables (input ports with `source:`) are read by the domains that declare them:
provisioning grants SELECT on exactly those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dataproducts.core import access
from dataproducts.core.mesh import Mesh
from dataproducts.core.spec import DataProductSpec, OutputPort

MAX_ROLE_LENGTH = 63  # Postgres truncates longer identifiers silently
_PREFIX = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class TableGrant:
    schema: str
    table: str
    roles: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"schema": self.schema, "table": self.table, "roles": list(self.roles)}


def check_prefix(prefix: str) -> str:
    if not _PREFIX.match(prefix):
        raise ValueError(f"warehouse role prefix '{prefix}' must be lower-case letters, digits and '_', starting with a letter")
    return prefix


def domain_role(prefix: str, domain: str) -> str:
    role = f"{check_prefix(prefix)}{domain}"
    if len(role) > MAX_ROLE_LENGTH:
        raise ValueError(f"warehouse role '{role}' is longer than {MAX_ROLE_LENGTH} characters: use a shorter prefix")
    return role


def mesh_role(prefix: str) -> str:
    """The group every domain role belongs to ('open to all'). Domains start with a letter, so
    `<prefix>_mesh` can never be a domain's role."""
    return f"{check_prefix(prefix)}_mesh"


def readers(spec: DataProductSpec, port: OutputPort, prefix: str) -> tuple[str, ...]:
    """The roles that may SELECT from the port's table (its owner always can)."""
    domains = access.reader_domains(spec, port)
    if domains is None:
        return (mesh_role(prefix),)
    return tuple(domain_role(prefix, domain) for domain in domains)


def role_domains(mesh: Mesh) -> list[str]:
    """Every domain that needs a role: the mesh's, and those an access policy names before they
    have a product (so the grant has a role to name, and the team can read once it arrives)."""
    named = {d for spec in mesh.products.values() for port in spec.output_ports for d in access.reader_domains(spec, port) or ()}
    return sorted(named | set(mesh.domains()))


def output_grants(spec: DataProductSpec, prefix: str) -> list[TableGrant]:
    return [TableGrant(spec.domain, port.table_name, readers(spec, port, prefix)) for port in spec.output_ports]


def source_reads(mesh: Mesh, prefix: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """(schema, table) of every external source -> the roles of the domains that declare reading it."""
    reads: dict[tuple[str, str], set[str]] = {}
    for spec in mesh.products.values():
        for port in spec.source_inputs:
            source = port.source_table
            reads.setdefault((source.schema_, source.table), set()).add(domain_role(prefix, spec.domain))
    return {table: tuple(sorted(roles)) for table, roles in sorted(reads.items())}
