"""`dataproducts new`: the files of a new product that validates at once and runs.

Pure: it reads the mesh and the domain's dbt project files and returns the files to write; the
CLI writes them. A product gets its spec, a starter dbt model (one row per business date with a
row count per input) with a model YAML whose tests match the contract, dbt sources for what it
reads, and, for a new domain, the domain's dbt project and its DAG file. The platform's dbt
conventions are not copied into the project: they live in dbt/platform_macros/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from dataproducts.core import naming
from dataproducts.core.mesh import Mesh
from dataproducts.core.project import Project

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
THIS_DATE = "business_date = cast('{{ var(\"business_date\") }}' as date)"
DEFAULT_CRON = "0 3 * * *"


class ScaffoldError(ValueError):
    """A request `new` cannot fulfil; the message says why and what to do."""


@dataclass(frozen=True)
class Input:
    port: str  # input port name in the spec
    schema: str
    table: str
    product: Optional[tuple[str, str]] = None  # (product id, port) when it reads a product

    @property
    def spec_entry(self) -> dict[str, Any]:
        if self.product:
            return {"name": self.port, "product": self.product[0], "port": self.product[1]}
        return {"name": self.port, "source": {"schema": self.schema, "table": self.table}}


@dataclass
class Scaffold:
    product_id: str
    files: dict[str, str] = field(default_factory=dict)  # path relative to the project root -> text


def scaffold_product(
    project: Project,
    mesh: Mesh,
    product_id: str,
    reads: list[str],
    sources: list[str],
    owner: Optional[str] = None,
    contact: Optional[str] = None,
) -> Scaffold:
    domain, name = _split_id(product_id)
    if product_id in mesh.entries:
        raise ScaffoldError(f"'{product_id}' exists already ({mesh.entries[product_id].path})")
    inputs = [_product_input(mesh, ref) for ref in reads] + [_source_input(ref) for ref in sources]
    _reject_duplicate_ports(inputs)
    team = owner or domain
    result = Scaffold(product_id)
    project_dir = f"dbt/{domain}"
    result.files[f"product_specs/{domain}/{name}.yaml"] = spec_text(product_id, inputs, team, contact or f"{team}@example.com")
    declared = declared_sources(project.dbt_dir / domain)
    names = source_names(inputs, declared, name)
    result.files[f"{project_dir}/models/{name}/{name}.sql"] = model_sql(product_id, inputs, names)
    result.files[f"{project_dir}/models/{name}/{name}.yml"] = model_yml(name, inputs)
    missing = [i for i in inputs if (i.schema, i.table) not in declared]
    if missing:
        result.files[f"{project_dir}/models/{name}/sources.yml"] = sources_yml(missing, names)
    if not (project.dbt_dir / domain / "dbt_project.yml").is_file():
        result.files[f"{project_dir}/dbt_project.yml"] = dbt_project_yml(domain)
    if not project.domain_dag_file(domain).is_file():
        result.files[f"dags/{domain}.py"] = domain_dag_file_text(domain)
    return result


def _split_id(product_id: str) -> tuple[str, str]:
    parts = product_id.split(".")
    if len(parts) != 2 or not all(IDENTIFIER.match(p) for p in parts):
        raise ScaffoldError(
            f"'{product_id}' is not a product id: give <domain>.<name>, both lower case letters, digits and _ (e.g. pricing.price_index)"
        )
    return parts[0], parts[1]


def _product_input(mesh: Mesh, ref: str) -> Input:
    product_id, port = naming.split_port_id(ref) if ref.count(".") == 2 else (ref, "")
    producer = mesh.products.get(product_id)
    if producer is None:
        known = ", ".join(sorted(mesh.products)) or "(none)"
        raise ScaffoldError(f"--reads {ref}: '{product_id}' is not a valid product of the mesh; valid products: {known}")
    ports = {p.name: p for p in producer.output_ports}
    if port not in ports:
        raise ScaffoldError(f"--reads {ref}: give <product>.<port>; the ports of {product_id} are: {', '.join(ports)}")
    return Input(producer.product_name, producer.domain, ports[port].table_name, (product_id, port))


def _source_input(ref: str) -> Input:
    parts = ref.split(".")
    if len(parts) != 2 or not all(IDENTIFIER.match(p) for p in parts):
        raise ScaffoldError(f"--source {ref}: give <schema>.<table> of an external table, e.g. landing.raw_orders")
    return Input(parts[1], parts[0], parts[1])


def _reject_duplicate_ports(inputs: list[Input]) -> None:
    seen: set[str] = set()
    for item in inputs:
        if item.port in seen:
            raise ScaffoldError(f"two inputs would both be named '{item.port}'; read it once")
        seen.add(item.port)


def contract_columns(inputs: list[Input]) -> list[dict[str, Any]]:
    columns: list[dict[str, Any]] = [
        {
            "name": "business_date",
            "type": "date",
            "required": True,
            "unique": True,
            "description": "The business date this row describes (one row per date).",
        }
    ]
    columns += [
        {"name": f"{i.port}_rows", "type": "integer", "required": True, "description": f"Rows read from {i.schema}.{i.table}."}
        for i in inputs
    ]
    return columns


def spec_text(product_id: str, inputs: list[Input], team: str, contact: str) -> str:
    domain, name = product_id.split(".")
    reads_products = any(i.product for i in inputs)
    document = {
        "apiVersion": "dataproducts/v1",
        "id": product_id,
        "name": name.replace("_", " ").capitalize(),
        "domain": domain,
        "description": f"TODO: what {product_id} offers its consumers, and what one row means.",
        "version": "0.1.0",
        "status": "active",
        "owner": {"team": team, "contact": contact},
        "schedule": {"timezone": "UTC"} if reads_products else {"cron": DEFAULT_CRON, "timezone": "UTC"},
        "input_ports": [i.spec_entry for i in inputs],
        "transform": {"dbt": {"project": domain, "select": [f"path:models/{name}"]}},
        "output_ports": [
            {
                "name": "daily",
                "table": name,
                "description": "One row per business date.",
                "contract": {"columns": contract_columns(inputs)},
                "freshness": {"max_age_hours": 26},
            }
        ],
    }
    if not inputs:
        del document["input_ports"]
    header = f"# {product_id}: written by `dataproducts new`; see README 'Add a product, a domain, a source'.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def source_names(inputs: list[Input], declared: dict[tuple[str, str], str], product_name: str) -> dict[str, str]:
    """Input port -> the dbt source name the model calls: the one the project declares for the
    table, else the schema, else (that name taken by another file's source) one of the product's own."""
    taken = set(declared.values())
    return {
        i.port: declared.get((i.schema, i.table)) or (i.schema if i.schema not in taken else f"{i.schema}_{product_name}")
        for i in inputs
    }


def model_sql(product_id: str, inputs: list[Input], names: dict[str, str]) -> str:
    lines = [
        f"-- {product_id}: a starter model; replace the query with the product's logic.",
        "-- Keep the business_date column: the date each row describes, the one date this run builds.",
        "-- The platform deletes that date's rows and inserts these again (dbt/platform_macros), so",
        "-- select only the rows of var('business_date').",
    ]
    ctes = []
    for item in inputs:
        source_name = names[item.port]
        where = f"\n    where {THIS_DATE}" if item.product else "  -- an external table: filter it to the business date"
        ctes.append(f"{item.port} as (\n    select *\n    from {{{{ source('{source_name}', '{item.table}') }}}}{where}\n)")
    if ctes:
        lines.append("with " + ",\n\n".join(ctes))
        lines.append("")
    columns = ["    cast('{{ var(\"business_date\") }}' as date) as business_date"]
    columns += [f"    (select count(*) from {i.port}) as {i.port}_rows" for i in inputs]
    lines.append("select\n" + ",\n".join(columns))
    return "\n".join(lines) + "\n"


def model_yml(name: str, inputs: list[Input]) -> str:
    columns = []
    for column in contract_columns(inputs):
        tests: list[Any] = [{"not_null": {"config": {"where": THIS_DATE}}}]
        if column.get("unique"):
            tests.append({"unique": {"config": {"where": THIS_DATE}}})
        data_type = "date" if column["type"] == "date" else "bigint"  # count(*) is a bigint on DuckDB and Postgres
        columns.append(
            {"name": column["name"], "description": column["description"], "data_type": data_type, "data_tests": tests}
        )
    model = {
        "name": name,
        "description": "TODO: what one row means.",
        "config": {"contract": {"enforced": True}},
        "columns": columns,
    }
    document = {"version": 2, "models": [model]}
    return yaml.safe_dump(document, sort_keys=False, width=120)


def declared_sources(project_dir: Path) -> dict[tuple[str, str], str]:
    """(schema, table) -> source name, for every source the domain's dbt project declares."""
    declared: dict[tuple[str, str], str] = {}
    for path in sorted((project_dir / "models").rglob("*.yml")) if (project_dir / "models").is_dir() else []:
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            continue  # dbt parse reports it
        for source in document.get("sources") or [] if isinstance(document, dict) else []:
            schema = source.get("schema") or source.get("name")
            for table in source.get("tables") or []:
                declared[(schema, table.get("identifier") or table.get("name"))] = source.get("name")
    return declared


def sources_yml(inputs: list[Input], names: dict[str, str]) -> str:
    sources: dict[str, dict[str, Any]] = {}
    for item in inputs:
        name = names[item.port]
        entry = sources.setdefault(name, {"name": name, "schema": item.schema, "tables": []})
        what = f"{item.product[0]}, port {item.product[1]}" if item.product else "an external table"
        entry["tables"].append({"name": item.table, "description": what})
    return yaml.safe_dump({"version": 2, "sources": list(sources.values())}, sort_keys=False, width=120)


def dbt_project_yml(domain: str) -> str:
    return (
        f"# Domain '{domain}': one folder of models per data product under models/<product>/.\n"
        "# Other products are read only as dbt sources, never by ref. The platform's conventions live in\n"
        "# ../platform_macros: schema = domain (the project's name), each run clears its business date.\n"
        f"name: {domain}\n"
        'version: "1.0.0"\n'
        "config-version: 2\n"
        "profile: dataproducts\n"
        'model-paths: ["models"]\n'
        'macro-paths: ["macros", "../platform_macros"]\n'
        'clean-targets: ["target"]\n'
        "vars:\n"
        '  business_date: "2026-11-01"  # every run passes its own; this one only makes parse work\n'
        "models:\n"
        f"  {domain}:\n"
        "    +materialized: incremental\n"
        "    +incremental_strategy: delete+insert\n"
        "    +unique_key: business_date\n"
        "    # a column added to a model reaches its table (history kept); the enforced contract stops other changes\n"
        "    +on_schema_change: append_new_columns\n"
        '    +pre-hook: "{{ dataproducts_clear_business_date() }}"\n'
    )


def domain_dag_file_text(domain: str) -> str:
    """`dags/<domain>.py`: the same lines for every domain. The two airflow imports are for
    Airflow's dag-processor, which imports the `airflow.*` modules a DAG file names once, before it
    starts a process per file ([dag_processor] parsing_pre_import_modules), so no file's process
    imports them again."""
    return (
        f'"""Airflow DAGs of the \'{domain}\' domain: one DAG per spec in product_specs/{domain}/ '
        '(written by `dataproducts new`)."""\n\n'
        "from pathlib import Path\n\n"
        f"{PRE_IMPORTS}\n"
        "from dataproducts.airflow.dag_factory import build_domain_dags\n\n"
        f'globals().update(build_domain_dags("{domain}", default_root=Path(__file__).resolve().parents[1]))\n'
    )


PRE_IMPORTS = (
    "# imported once by the dag-processor before it starts a process per DAG file (parsing_pre_import_modules)\n"
    "import airflow.providers.standard.operators.python\n"
    "import airflow.timetables.simple  # noqa: F401\n"
)
