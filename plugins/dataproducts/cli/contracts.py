"""`dataproducts contract <product>.<port>`: an output port's contract as an ODCS v3 document."""

from __future__ import annotations

import json
import sys

import yaml

from dataproducts.cli.mesh import mesh_knowing
from dataproducts.core import odcs
from dataproducts.core.project import Project


def register(sub) -> None:
    contract = sub.add_parser("contract", help="an output port's contract as an ODCS v3 document, validated by Bitol's model")
    contract.add_argument("port_id", help="<domain>.<product>.<port>, e.g. pricing.market_prices.daily")
    contract.add_argument("--format", choices=("yaml", "json"), default="yaml")
    contract.set_defaults(handler=cmd_contract)


def cmd_contract(project: Project, args) -> int:
    product_id, _, port_name = args.port_id.rpartition(".")
    mesh = mesh_knowing(project, product_id, valid=True) if product_id else None
    if mesh is None:
        if not product_id:
            print(f"'{args.port_id}' is not a port id: use <domain>.<product>.<port>", file=sys.stderr)
        return 2
    spec = mesh.products[product_id]
    port = next((p for p in spec.output_ports if p.name == port_name), None)
    if port is None:
        print(
            f"'{product_id}' has no output port '{port_name}'; its ports: {', '.join(p.name for p in spec.output_ports)}",
            file=sys.stderr,
        )
        return 2
    document = odcs.contract_document(spec, port)
    try:
        odcs.validate(document)
    except odcs.InvalidContract as exc:
        print(f"{args.port_id}: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(document, indent=2))
    else:
        print(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), end="")
    return 0
