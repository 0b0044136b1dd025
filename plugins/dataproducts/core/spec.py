"""The data product spec: what a domain team writes in product_specs/<domain>/<name>.yaml.

Pure pydantic; knows nothing of Airflow, dbt or DataHub. Field names follow ODPS/ODCS where
those standards already have a word for the idea (outputPorts -> output_ports, logicalType ->
type, required, unique). Every model forbids unknown fields so a typo is an error, and every
field added later must be optional so existing specs keep validating.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import re
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, Literal, Optional, Union

import pendulum
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from dataproducts.core import quality_sql
from dataproducts.core.safe_yaml import snippet

API_VERSION = "dataproducts/v1"

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=63)]
# port, table and column names: any letters, so that the naming rules (core/naming_rules.py, snake_case by
# default) judge them, with a suggested name and the configured severity
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=63)]
ProductId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", max_length=127)]
SemVer = Annotated[
    str,
    StringConstraints(pattern=r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"),
]
# '<product id>.<port>' (a port), or '<product id>' (a whole product, for a deprecated product)
PortRef = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$", max_length=191)
]
# dbt selector syntax only (methods, graph and set operators, wildcards); never a flag (a leading '-')


@functools.lru_cache(maxsize=4096)  # many specs share a team's address
def _email_address(value: str) -> str:
    """EmailStr's own check and normal form, with email_validator imported only when a spec is
    validated: importing it costs every DAG file's process 90 ms, and the specs a DAG file reads
    back from the mesh cache are never validated again."""
    from pydantic.networks import validate_email

    return validate_email(value)[1]


EmailAddress = Annotated[str, AfterValidator(_email_address), WithJsonSchema({"format": "email", "type": "string"})]
DbtSelector = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:+*/@,][A-Za-z0-9_.:+*/@,\-]*$", max_length=300)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _made_afresh(factory: Callable[[], Any], **kwargs: Any) -> Any:
    """A field whose mutable default (an empty list, the open Access) the factory makes for each model
    that lacks it, shown in the JSON Schema as a plain default would be. pydantic deep-copies a
    default it cannot hash for every model it validates: 40,000 deep copies at 10,000 specs."""
    shown = factory()
    return Field(
        default_factory=factory,
        json_schema_extra={"default": shown.model_dump(mode="json") if isinstance(shown, BaseModel) else shown},
        **kwargs,
    )


class Status(str, Enum):
    draft = "draft"
    active = "active"
    deprecated = "deprecated"


class LogicalType(str, Enum):
    """ODCS v3 logical types; the warehouse type is dbt's business."""

    string = "string"
    integer = "integer"
    number = "number"
    boolean = "boolean"
    date = "date"
    timestamp = "timestamp"


class Owner(_Strict):
    team: Identifier = Field(description="Owning team, as known to the identity provider (DataHub corpGroup).")
    contact: EmailAddress = Field(description="Where consumers reach the team (an e-mail address).")


class Schedule(_Strict):
    cron: Optional[str] = Field(None, description="Cron expression; required when the product reads no other product.")
    timezone: str = Field("UTC", description="IANA timezone the cron and the business date are read in.")
    trigger: Literal["all", "any"] = Field(
        "all", description="Run when all product inputs have published ('all') or when any has ('any')."
    )

    @field_validator("cron")
    @classmethod
    def _cron_is_valid(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _is_cron(value):
            raise ValueError(f"{snippet(value)} is not a valid cron expression (five fields, e.g. '0 3 * * *')")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_is_known(cls, value: str) -> str:
        if not _is_timezone(value):
            raise ValueError(f"{snippet(value)} is not an IANA timezone (e.g. 'Europe/Berlin', 'UTC')")
        return value


# a mesh repeats a few crons and time zones thousands of times: each distinct one is checked once
@functools.lru_cache(maxsize=4096)
def _is_cron(value: str) -> bool:
    # croniter ships with Airflow and has no types; imported when first needed: keeps the core light
    croniter = importlib.import_module("croniter").croniter
    return bool(croniter.is_valid(value))


@functools.lru_cache(maxsize=1024)
def _is_timezone(value: str) -> bool:
    try:
        pendulum.timezone(value)
    except Exception:
        return False
    return True


class SourceTable(_Strict):
    schema_: Identifier = Field(alias="schema", description="Schema of the source table in the warehouse.")
    table: Identifier
    system: Optional[str] = Field(None, description="Operational system the table comes from.")


class InputPort(_Strict):
    name: Name
    product: Optional[ProductId] = Field(None, description="Id of the product whose output port is read.")
    port: Optional[Name] = Field(None, description="Output port of that product.")
    source: Optional[SourceTable] = Field(None, description="An external source table, when no product provides it.")
    description: str = ""

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> InputPort:
        is_product = self.product is not None or self.port is not None
        if is_product and self.source is not None:
            raise ValueError("give either product+port or source, not both")
        if not is_product and self.source is None:
            raise ValueError("give product+port (another product's output port) or source (an external table)")
        if is_product and (self.product is None or self.port is None):
            raise ValueError("a product input needs both 'product' and 'port'")
        return self

    @property
    def is_product(self) -> bool:
        return self.product is not None

    @property
    def upstream(self) -> tuple[str, str]:
        """(product id, output port) a product input reads."""
        if self.product is None or self.port is None:
            raise ValueError(f"input port '{self.name}' reads a source table, not a product")
        return self.product, self.port

    @property
    def source_table(self) -> SourceTable:
        if self.source is None:
            raise ValueError(f"input port '{self.name}' reads a product, not a source table")
        return self.source


class DbtTransform(_Strict):
    """dbt's own selection syntax, restricted to characters a selector needs (no shell, no '..', no
    flags); at load each item is resolved against the project's manifest (core/selection.py)."""

    project: Identifier = Field(description="Folder name of the domain's dbt project under dbt/.")
    select: list[DbtSelector] = Field(
        min_length=1, description="dbt node selection, e.g. ['+market_prices'] or ['path:models/market_prices']."
    )

    @field_validator("select")
    @classmethod
    def _stays_in_the_project(cls, select: list[str]) -> list[str]:
        for item in select:
            if ".." in item:
                raise ValueError(f"'{item}' leads out of the dbt project; select inside it, e.g. 'path:models/<product>'")
        return select


class Transform(_Strict):
    dbt: DbtTransform


class Column(_Strict):
    name: Name
    type: LogicalType
    required: bool = Field(False, strict=True)
    unique: bool = Field(False, strict=True)
    description: str = ""


class Contract(_Strict):
    columns: list[Column] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _column_names_unique(cls, columns: list[Column]) -> list[Column]:
        _reject_duplicates([c.name for c in columns], "column")
        return columns


class Freshness(_Strict):
    max_age_hours: float = Field(gt=0, strict=True, description="Consumers may expect data no older than this.")


class Severity(str, Enum):
    error = "error"  # the run fails and nothing is published
    warn = "warn"  # published; the warning is logged, on the asset event and in DataHub


class Metric(str, Enum):
    """ODCS v3.1's library metrics (rowCount, nullValues, duplicateValues, invalidValues)."""

    row_count = "row_count"
    null_values = "null_values"
    duplicate_values = "duplicate_values"
    invalid_values = "invalid_values"


class Unit(str, Enum):
    rows = "rows"
    percent = "percent"


# ODCS v3's comparison operators: a rule holds when its measured value satisfies its one operator
OPERATORS = (
    "must_be",
    "must_not_be",
    "must_be_greater_than",
    "must_be_greater_or_equal_to",
    "must_be_less_than",
    "must_be_less_or_equal_to",
    "must_be_between",
    "must_not_be_between",
)
ValidValue = Union[str, int, float, bool]
Number = Annotated[float, Strict()]


class QualityRule(_Strict):
    """One check on the business date's rows of an output port's table (ODCS v3 data quality):
    a library `metric` or a custom SQL `query`, a threshold as one ODCS operator, and a severity."""

    name: Optional[Identifier] = Field(
        None, description="Names the rule (messages, DataHub); default: the metric and its columns. Required for a query."
    )
    description: str = ""
    metric: Optional[Metric] = Field(None, description="row_count | null_values | duplicate_values | invalid_values")
    query: Optional[str] = Field(
        None,
        description="Custom SQL: one SELECT returning one number; ${table} is the port's table, ${business_date} the date (bound).",
    )
    column: Optional[Identifier] = Field(None, description="null_values, invalid_values: the contract column checked.")
    columns: list[Identifier] = _made_afresh(
        list, description="duplicate_values: the contract columns that must be unique per date."
    )
    valid_values: list[ValidValue] = _made_afresh(list, description="invalid_values: the accepted values of the column.")
    unit: Unit = Field(Unit.rows, description="null/duplicate/invalid values: count 'rows' or 'percent' of the date's rows.")
    must_be: Optional[Number] = None
    must_not_be: Optional[Number] = None
    must_be_greater_than: Optional[Number] = None
    must_be_greater_or_equal_to: Optional[Number] = None
    must_be_less_than: Optional[Number] = None
    must_be_less_or_equal_to: Optional[Number] = None
    must_be_between: Optional[tuple[Number, Number]] = Field(None, description="[smallest, largest], both included.")
    must_not_be_between: Optional[tuple[Number, Number]] = Field(None, description="[smallest, largest], both excluded.")
    severity: Severity = Field(Severity.error, description="error (blocks publication) | warn (publishes, warns)")

    @field_validator("query")
    @classmethod
    def _one_select(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else quality_sql.check(value)

    @field_validator("valid_values", mode="before")
    @classmethod
    def _scalar_values(cls, values: Any) -> Any:
        if isinstance(values, list) and any(v is None or isinstance(v, (list, dict)) for v in values):
            raise ValueError("valid_values holds only texts, numbers or booleans (nulls are null_values' business)")
        return values

    @model_validator(mode="after")
    def _complete(self) -> QualityRule:
        problem = _rule_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def operators(self) -> dict[str, Any]:
        """The operators given, by name (at most one after validation)."""
        return {op: getattr(self, op) for op in OPERATORS if getattr(self, op) is not None}

    @property
    def rule_name(self) -> str:
        """The rule's name: given, or the metric and its columns (null_values_price_eur)."""
        if self.name:
            return self.name
        return "_".join([self.metric.value if self.metric else "query", *([self.column] if self.column else []), *self.columns])


_RULE_OPTIONS = {  # what each metric needs besides its threshold
    Metric.null_values: {"column"},
    Metric.invalid_values: {"column", "valid_values"},
    Metric.duplicate_values: {"columns"},
}


def _rule_problem(rule: QualityRule) -> Optional[str]:
    """What a rule lacks or has too much of, for its kind; None when it is complete."""
    if (rule.metric is None) == (rule.query is None):
        return "a quality rule has exactly one of metric: (a library metric) or query: (custom SQL)"
    if rule.query is not None and rule.name is None:
        return "a quality rule with a query needs a name: (it names the rule in messages and DataHub)"
    wants = _RULE_OPTIONS.get(rule.metric, set()) if rule.metric else set()
    kind = f"metric '{rule.metric.value}'" if rule.metric else "a query rule"
    for option in ("column", "columns", "valid_values"):
        given = bool(getattr(rule, option))
        if given != (option in wants):
            return f"{kind} {'needs' if option in wants else 'takes no'} {option}:"
    if rule.unit is Unit.percent and not wants:
        return f"{kind} counts rows; unit: percent applies to null_values, duplicate_values and invalid_values"
    if len(rule.operators) > 1:
        return f"a quality rule has one threshold operator, not {len(rule.operators)} ({', '.join(rule.operators)})"
    if not rule.operators and not wants:
        return f"{kind} needs a threshold, e.g. must_be_greater_than: 0 or must_be_between: [100, 1000]"
    for op in ("must_be_between", "must_not_be_between"):
        bounds = getattr(rule, op)
        if bounds is not None and bounds[0] > bounds[1]:
            return f"{op} takes the smallest number first, not {list(bounds)}"
    return None


class Visibility(str, Enum):
    open = "open"
    domain = "domain"
    restricted = "restricted"


class Access(_Strict):
    """Who may read an output port: every product of the mesh ('open', the default), the products of
    the port's own domain ('domain'), or those plus the listed domains and products ('restricted')."""

    visibility: Visibility = Field(Visibility.open, description="open | domain | restricted")
    domains: list[Identifier] = _made_afresh(list, description="restricted: other domains whose products may read the port.")
    products: list[ProductId] = _made_afresh(list, description="restricted: other products that may read the port.")

    @model_validator(mode="after")
    def _lists_only_when_restricted(self) -> Access:
        listed = bool(self.domains or self.products)
        if self.visibility is Visibility.restricted and not listed:
            raise ValueError("visibility 'restricted' needs 'domains' or 'products' to say who may read the port")
        if self.visibility is not Visibility.restricted and listed:
            raise ValueError(f"'domains' and 'products' only apply to visibility 'restricted', not '{self.visibility.value}'")
        return self


class Deprecation(_Strict):
    """A product or output port on its way out: consumers are warned when specs load until the
    sunset date, and reading it after that date breaks the consumer's spec (core/deprecation.py)."""

    sunset: datetime.date = Field(description="Last day it may be read (YYYY-MM-DD); reading it later breaks the reader.")
    replacement: Optional[PortRef] = Field(None, description="What consumers read instead: '<product id>.<port>'.")
    note: str = Field("", description="Why, and how to move.")


class OutputPort(_Strict):
    name: Name
    description: str = ""
    table: Optional[Name] = Field(None, description="dbt model (alias) that materialises the port; defaults to the port name.")
    contract: Contract
    freshness: Optional[Freshness] = None
    access: Access = _made_afresh(
        lambda: Access(visibility=Visibility.open, domains=[], products=[]),
        description="Who may read the port (default: every product of the mesh).",
    )
    deprecation: Optional[Deprecation] = Field(None, description="The port is on its way out; see Deprecation.")
    quality: list[QualityRule] = _made_afresh(
        list,
        description="Checks on the business date's rows before publication; a row_count rule replaces the default "
        "(row_count must be greater than 0, severity warn).",
    )

    @field_validator("quality")
    @classmethod
    def _rule_names_unique(cls, rules: list[QualityRule]) -> list[QualityRule]:
        _reject_duplicates([r.rule_name for r in rules], "quality rule")
        return rules

    @property
    def table_name(self) -> str:
        return self.table or self.name


class DataProductSpec(_Strict):
    api_version: Literal["dataproducts/v1"] = Field("dataproducts/v1", alias="apiVersion")
    id: ProductId = Field(description="'<domain>.<name>'; must match the file's place: product_specs/<domain>/<name>.yaml")
    name: str = Field(min_length=1, description="Display name.")
    domain: Identifier
    description: str = Field(min_length=1)
    version: SemVer
    status: Status = Status.active
    owner: Owner
    tags: list[Identifier] = _made_afresh(list)
    terms: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_. -]*$", max_length=200)]] = _made_afresh(
        list, description="Business glossary terms (DataHub), e.g. 'Marketplace.Listing'."
    )
    schedule: Optional[Schedule] = None
    input_ports: list[InputPort] = _made_afresh(list)
    transform: Transform
    output_ports: list[OutputPort] = Field(min_length=1)
    deprecation: Optional[Deprecation] = Field(None, description="The whole product is on its way out; see Deprecation.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, str_strip_whitespace=True)

    @model_validator(mode="after")
    def _consistent(self) -> DataProductSpec:
        if self.id.split(".")[0] != self.domain:
            raise ValueError(f"id '{self.id}' must start with its domain '{self.domain}.'")
        _reject_duplicates([p.name for p in self.input_ports], "input port")
        _reject_duplicates([p.name for p in self.output_ports], "output port")
        _reject_duplicates([p.table_name for p in self.output_ports], "output table")
        if not any(p.is_product for p in self.input_ports) and (self.schedule is None or self.schedule.cron is None):
            raise ValueError("a product that reads no other product needs schedule.cron to know when to run")
        return self

    @property
    def product_name(self) -> str:
        return self.id.split(".", 1)[1]

    @property
    def product_inputs(self) -> list[InputPort]:
        return [p for p in self.input_ports if p.is_product]

    @property
    def source_inputs(self) -> list[InputPort]:
        return [p for p in self.input_ports if not p.is_product]

    @property
    def timezone(self) -> str:
        return self.schedule.timezone if self.schedule else "UTC"

    @property
    def trigger(self) -> Optional[str]:
        """'all' or 'any' of the product inputs; None for a product that reads no product."""
        if not self.product_inputs:
            return None
        return self.schedule.trigger if self.schedule else "all"

    @property
    def schedule_summary(self) -> str:
        """'cron 0 3 * * * (Europe/Berlin) or when all of inventory.listings.daily, ... publish'"""
        parts = []
        if self.schedule and self.schedule.cron:
            parts.append(f"cron {self.schedule.cron} ({self.schedule.timezone})")
        if self.trigger:
            ports = ", ".join(".".join(p.upstream) for p in self.product_inputs)
            parts.append(f"when {self.trigger} of {ports} publish")
        return " or ".join(parts)


def _reject_duplicates(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} name '{name}' is used twice; names must be unique")
        seen.add(name)


def json_schema() -> dict:
    """JSON Schema of the spec for editors (committed as schema/dataproduct.schema.json)."""
    schema = DataProductSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Data product spec (dataproducts/v1)"
    return schema


PRODUCT_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
