"""Quality rules: what a spec may say (checked when specs load, with the file, field and fix), and
each rule kind measured on a real DuckDB table, read-only, with the verdict and message it gives."""

from __future__ import annotations

import copy
import datetime as dt

import duckdb
import pytest
from conftest import spec, write_spec

from dataproducts.core import quality, quality_sql
from dataproducts.core.loader import load_spec_file
from dataproducts.core.mesh import load_mesh
from dataproducts.core.spec import DataProductSpec, QualityRule
from dataproducts.dbt import quality_checks, warehouse_session

FILE = "product_specs/inventory/listings.yaml"
D3 = dt.date(2026, 11, 3)


def with_rules(*rules) -> dict:
    document = spec()
    port = document["output_ports"][0]
    port["contract"]["columns"] += [
        {"name": "business_date", "type": "date"},
        {"name": "price_eur", "type": "number"},
        {"name": "fuel_type", "type": "string"},
    ]
    port["quality"] = [copy.deepcopy(r) for r in rules]
    return document


def errors(tmp_project, *rules) -> list[str]:
    write_spec(tmp_project.root, with_rules(*rules))
    mesh = load_mesh(tmp_project, check_dbt=False)
    return [str(e) for e in mesh.errors]


# ------------------------------------------------------------------ the spec


def test_good_rules_load_and_the_default_rule_is_added(tmp_project):
    rules = [
        {"metric": "null_values", "column": "price_eur", "unit": "percent", "must_be_less_or_equal_to": 5, "severity": "warn"},
        {"metric": "duplicate_values", "columns": ["listing_id", "business_date"]},
        {"metric": "invalid_values", "column": "fuel_type", "valid_values": ["petrol", "diesel"]},
        {
            "name": "no_free_cars",
            "query": "select count(*) from ${table} where business_date = ${business_date} and price_eur <= 0",
            "must_be": 0,
        },
    ]
    assert errors(tmp_project, *rules) == []
    port = load_mesh(tmp_project, check_dbt=False).products["inventory.listings"].output_ports[0]
    names = [(r.rule_name, r.severity.value) for r in quality.rules_of(port)]
    assert names == [
        ("null_values_price_eur", "warn"),
        ("duplicate_values_listing_id_business_date", "error"),
        ("invalid_values_fuel_type", "error"),
        ("no_free_cars", "error"),
        ("row_count", "warn"),
    ], "explicit rules default to error; the default zero-rows rule is a warning"


def test_a_row_count_rule_of_the_port_replaces_the_default(tmp_project):
    write_spec(tmp_project.root, with_rules({"metric": "row_count", "must_be_between": [100, 1000], "severity": "error"}))
    port = load_mesh(tmp_project, check_dbt=False).products["inventory.listings"].output_ports[0]
    ((rule),) = quality.rules_of(port)
    assert (rule.rule_name, rule.severity.value, quality.threshold_text(rule)) == ("row_count", "error", "between 100 and 1000")


def test_a_rule_on_a_column_outside_the_contract_breaks_the_spec_naming_file_field_and_fix(tmp_project):
    assert errors(tmp_project, {"metric": "null_values", "column": "colour"}) == [
        f"{FILE}:38:13: output_ports[0].quality[0].column: quality rule 'null_values_colour' names column 'colour', "
        "which is not a contract column of output port 'listings'. Fix: use one of: listing_id, business_date, price_eur, fuel_type"
    ]
    (message,) = errors(tmp_project, {"metric": "duplicate_values", "columns": ["listing_id", "dealer"]})
    assert message.startswith(f"{FILE}:40:7: output_ports[0].quality[0].columns[1]: quality rule ")


@pytest.mark.parametrize(
    "rule, field, problem, fix",
    [
        (
            {"metric": "row_count"},
            "output_ports[0].quality[0]",
            "metric 'row_count' needs a threshold, e.g. must_be_greater_than: 0 or must_be_between: [100, 1000]",
            "add one operator: must_be, must_not_be",
        ),
        (
            {"metric": "null_values", "must_be": 0},
            "output_ports[0].quality[0]",
            "metric 'null_values' needs column:",
            "add column:",
        ),
        (
            {"metric": "row_count", "column": "price_eur", "must_be_greater_than": 0},
            "output_ports[0].quality[0]",
            "metric 'row_count' takes no column:",
            "remove that field",
        ),
        (
            {"metric": "row_count", "must_be_greater_than": 0, "must_be_less_than": 9},
            "output_ports[0].quality[0]",
            "a quality rule has one threshold operator, not 2 (must_be_greater_than, must_be_less_than)",
            "must_be_between: [smallest, largest]",
        ),
        (
            {"metric": "row_count", "must_be_between": [9, 1]},
            "output_ports[0].quality[0]",
            "must_be_between takes the smallest number first, not [9.0, 1.0]",
            "swap the two numbers",
        ),
        (
            {"metric": "row_count", "must_be": "0"},
            "output_ports[0].quality[0].must_be",
            "Input should be a valid number",
            "write a number",
        ),
        (
            {"metric": "rows", "must_be": 1},
            "output_ports[0].quality[0].metric",
            "'rows' is not allowed",
            "use one of 'row_count'",
        ),
        (
            {"metric": "row_count", "must_be": 1, "severity": "fatal"},
            "output_ports[0].quality[0].severity",
            "'fatal' is not allowed",
            "use one of 'error' or 'warn'",
        ),
        (
            {"query": "select count(*) from ${table}", "must_be": 0},
            "output_ports[0].quality[0]",
            "a quality rule with a query needs a name:",
            "add name:",
        ),
        (
            {"metric": "row_count", "query": "select 1", "name": "x", "must_be": 1},
            "output_ports[0].quality[0]",
            "exactly one of metric:",
            "give metric:",
        ),
        (
            {"name": "x", "query": "select 1; drop table inventory.listings", "must_be": 1},
            "output_ports[0].quality[0].query",
            "custom SQL is not allowed: the query may not contain ';' (one statement only); the query may not use 'drop'",
            "write one SELECT that returns one number",
        ),
        (
            {"metric": "invalid_values", "column": "fuel_type", "valid_values": ["petrol", None]},
            "output_ports[0].quality[0].valid_values",
            "valid_values holds only texts, numbers or booleans",
            "count nulls with metric: null_values",
        ),
    ],
)
def test_a_bad_rule_breaks_the_spec_at_its_field_with_a_fix(tmp_project, rule, field, problem, fix):
    path = write_spec(tmp_project.root, with_rules(rule))
    (error,) = load_spec_file(path, tmp_project.root).errors
    assert (error.file, error.field) == (FILE, field)
    assert problem in error.problem and fix in error.fix, str(error)
    assert error.line, "placed at its line"


def test_two_rules_of_one_name_break_the_spec(tmp_project):
    rule = {"metric": "null_values", "column": "price_eur"}
    path = write_spec(tmp_project.root, with_rules(rule, {**rule, "severity": "warn"}))
    (error,) = load_spec_file(path, tmp_project.root).errors
    assert (error.field, error.problem) == (
        "output_ports[0].quality",
        "quality rule name 'null_values_price_eur' is used twice; names must be unique",
    )


@pytest.mark.parametrize(
    "query, problem",
    [
        ("delete from ${table}", "must be one SELECT statement"),
        ("select 1; select 2", "may not contain ';'"),
        ("with x as (insert into t values (1) returning 1) select * from x", "may not use 'insert'"),
        ("select count(*) into t from ${table}", "may not use 'into'"),
        ("select 1 /* ; drop */", "may not contain block comments"),
        ("select E'\\''; drop table t; --'", "may not contain a backslash"),
        ("select $$x$$", "may not contain '$'"),
        ("select count(*) from ${table} where business_date = ?", "may not contain '?'"),
        ("select ${tabel}", "unknown placeholder ${tabel}"),
        ("select 'unclosed", "never closed"),
        ("copy (select 1) to '/tmp/x'", "may not use 'copy'"),
        ("select set_config('a', 'b', false)", None),  # a function of that name is a word 'set_config', not 'set'
    ],
)
def test_custom_sql_is_one_select_that_only_reads(query, problem):
    found = quality_sql.problems(query)
    if problem is None:
        assert found == []
    else:
        assert any(problem in p for p in found), found


def test_words_inside_literals_and_quoted_names_are_data():
    assert quality_sql.problems("select count(*) from ${table} where \"update\" = 'drop; delete' -- insert\n") == []
    sql, dates = quality_sql.render("select count(*) from ${table} where d = ${business_date} and n like '1%'", '"s"."t"', "%s")
    assert (sql, dates) == ('select count(*) from "s"."t" where d = %s and n like \'1%%\'', 1)
    assert quality_sql.render("select '${table}' from ${table}", '"s"."t"', "?") == ('select \'${table}\' from "s"."t"', 0)


# ------------------------------------------------------------------ measured on DuckDB


ROWS = [  # business_date, listing_id, price_eur, fuel_type
    (D3, "a", 100.0, "petrol"),
    (D3, "b", None, "diesel"),
    (D3, "b", 300.0, "steam"),
    (D3, "c", 400.0, None),
    (dt.date(2026, 11, 4), "a", None, "coal"),  # another date: never counted
]


CREATE = "create table inventory.listings (business_date date, listing_id varchar, price_eur double precision, fuel_type varchar)"
UNDATED = "create table inventory.models as select listing_id as model_id, cast(price_eur as decimal(9, 2)) as price from inventory.listings"


@pytest.fixture(params=["duckdb", "postgres"])
def adapter(request, tmp_path, monkeypatch):
    """The same table in a DuckDB file and in a Postgres database of its own (the machine's Postgres,
    as the production stack's tests use it); the warehouse as dbt's profile reaches it."""
    if request.param == "duckdb":
        path = tmp_path / "warehouse.duckdb"
        with duckdb.connect(str(path)) as db:
            db.execute("create schema inventory")
            db.execute(CREATE)
            db.executemany("insert into inventory.listings values (?, ?, ?, ?)", ROWS)
            db.execute(UNDATED)
        monkeypatch.setenv("DATAPRODUCTS_DUCKDB_PATH", str(path))
        yield "duckdb"
        return
    yield from _postgres(monkeypatch)


def _postgres(monkeypatch):
    import secrets

    import psycopg2
    from services import skip_or_fail

    from dataproducts.ops.celery_stack import StackSettings, create_database, drop_database

    settings = StackSettings.from_env()
    server = settings.server()
    try:
        psycopg2.connect(**{**server, "connect_timeout": 3}).close()
    except Exception as exc:
        skip_or_fail(f"Postgres at {settings.postgres_url} is not reachable: {exc}")
    name = f"dpq{secrets.token_hex(3)}"
    create_database(server, name)
    try:
        with psycopg2.connect(**{**server, "dbname": name}) as db, db.cursor() as cur:
            cur.execute("create schema inventory")
            cur.execute(CREATE)
            cur.executemany("insert into inventory.listings values (%s, %s, %s, %s)", ROWS)
            cur.execute(UNDATED)
        for key, value in {"HOST": server["host"], "PORT": server["port"], "USER": server["user"], "DBNAME": name}.items():
            monkeypatch.setenv(f"DATAPRODUCTS_PG_{key}", str(value))
        if server["password"]:
            monkeypatch.setenv("DATAPRODUCTS_PG_PASSWORD", server["password"])
        yield "postgres"
    finally:
        drop_database(server, name)


def product(*rules) -> DataProductSpec:
    return DataProductSpec.model_validate(with_rules(*rules))


COLUMNS = {"listings": {"business_date": "DATE", "listing_id": "VARCHAR", "price_eur": "DOUBLE", "fuel_type": "VARCHAR"}}


def evaluate(adapter, *rules):
    return {r.rule: r for r in quality_checks.evaluate(adapter, product(*rules), D3, COLUMNS)}


@pytest.mark.parametrize(
    "rule, observed, passed",
    [
        ({"metric": "row_count", "must_be_between": [1, 4]}, 4, True),
        ({"metric": "row_count", "must_be_greater_than": 4}, 4, False),
        ({"metric": "null_values", "column": "price_eur"}, 1, False),
        ({"metric": "null_values", "column": "price_eur", "unit": "percent", "must_be_less_or_equal_to": 25}, 25, True),
        ({"metric": "duplicate_values", "columns": ["listing_id"]}, 1, False),
        ({"metric": "duplicate_values", "columns": ["listing_id", "price_eur"]}, 0, True),
        ({"metric": "duplicate_values", "columns": ["listing_id"], "unit": "percent", "must_be_less_than": 30}, 25, True),
        ({"metric": "invalid_values", "column": "fuel_type", "valid_values": ["petrol", "diesel"]}, 1, False),
        ({"metric": "invalid_values", "column": "fuel_type", "valid_values": ["petrol", "diesel", "steam"]}, 0, True),
        (
            {
                "name": "cheap",
                "query": "select count(*) from ${table} where business_date = ${business_date} and price_eur < 250",
                "must_be_less_or_equal_to": 0,
            },
            1,
            False,
        ),
        (  # a '%' in a literal, with the date bound (psycopg2 reads it doubled) and without
            {
                "name": "e",
                "query": "select count(*) from ${table} where business_date = ${business_date} and fuel_type like '%e%'",
                "must_be": 3,
            },
            3,
            True,
        ),
        ({"name": "p", "query": "select count(*) from ${table} where fuel_type like 'p%'", "must_be": 1}, 1, True),
    ],
)
def test_each_rule_kind_is_measured_on_the_dates_rows(adapter, rule, observed, passed):
    result = evaluate(adapter, rule)[QualityRule.model_validate(rule).rule_name]
    assert (result.observed, result.passed) == (observed, passed), result.message


def test_the_message_names_port_rule_observed_value_and_threshold(adapter):
    results = evaluate(adapter, {"metric": "null_values", "column": "price_eur", "severity": "error"})
    assert results["null_values_price_eur"].message == (
        "inventory.listings.listings: quality rule 'null_values_price_eur' fails (severity error): "
        "null_values of 'price_eur' is 1, expected = 0"
    )
    assert results["null_values_price_eur"].blocks
    assert results["row_count"].passed and results["row_count"].severity == "warn"


def test_the_default_rule_warns_about_a_date_without_rows(adapter):
    results = quality_checks.evaluate(adapter, product(), dt.date(2026, 11, 9), COLUMNS)
    ((result),) = results
    assert result.warns and not result.blocks
    assert result.message == (
        "inventory.listings.listings: quality rule 'row_count' fails (severity warn): row_count is 0, expected > 0"
    )


def test_a_query_that_fails_or_returns_no_number_fails_its_rule_with_the_reason(adapter):
    results = evaluate(
        adapter,
        {"name": "typo", "query": "select count(*) from ${table} where prize < 0", "must_be": 0},
        {"name": "text", "query": "select 'many' from ${table} limit 1", "must_be": 0},
        {"name": "rows", "query": "select price_eur from ${table}", "must_be": 0},
    )
    assert results["typo"].observed is None and not results["typo"].passed
    error = {"duckdb": "BinderException", "postgres": "UndefinedColumn"}[adapter]
    assert f"could not be measured ({error}: " in results["typo"].message and "prize" in results["typo"].message
    assert "the query returned str 'many', not a number" in results["text"].message
    assert "the query returned 5 rows of 1 columns, not one number" in results["rows"].message
    assert results["row_count"].passed, "a rule that fails to run does not stop the others"


def test_queries_run_read_only_and_bind_the_date(adapter):
    with warehouse_session.session(adapter) as run:
        with pytest.raises(Exception, match="read-only"):
            run("delete from inventory.listings", [])
        marker = warehouse_session.MARKERS[adapter]
        assert run(f"select count(*) from inventory.listings where business_date = {marker}", [D3]) == [(4,)]
        assert run("select count(*) from inventory.listings", []) == [(5,)], "nothing was deleted"


def test_a_table_without_business_date_is_measured_whole(adapter):
    columns = {"listings": {c: t for c, t in COLUMNS["listings"].items() if c != "business_date"}}
    ((result),) = quality_checks.evaluate(adapter, product(), D3, columns)
    assert result.observed == 5


def test_an_adapter_without_quality_queries_fails_each_rule_saying_so():
    ((result),) = quality_checks.evaluate("snowflake", product(), D3, COLUMNS)
    assert not result.passed and "no quality queries for dbt adapter 'snowflake'" in result.message


def test_rules_survive_the_mesh_cache_which_rebuilds_specs_without_validating():
    from dataproducts.core.mesh_cache import trusted

    rules = [
        {"metric": "row_count", "must_be_between": [1, 5]},
        {"metric": "invalid_values", "column": "fuel_type", "valid_values": ["petrol", 1, True]},
        {"name": "q", "query": "select 1", "must_be": 1, "severity": "warn"},
    ]
    validated = product(*rules)
    rebuilt = trusted(DataProductSpec, validated.model_dump(mode="json", exclude_unset=True))
    assert rebuilt == validated
    assert [quality.threshold_text(r) for r in quality.rules_of(rebuilt.output_ports[0])] == ["between 1 and 5", "= 0", "= 1"]


def test_output_tables_are_inspected_directly_with_the_warehouses_types(adapter):
    """Rows for the date (every row without a business_date column) and columns as dbt's
    get_columns_in_relation reports them, through the same read-only session."""
    from dataproducts.dbt import output_inspection

    database = {"duckdb": "warehouse", "postgres": None}[adapter]
    with warehouse_session.session(adapter) as run:
        database = database or run("select current_database()", [])[0][0]
    listings = output_inspection.OutputTable("listings", database, "inventory", "listings", '"inventory"."listings"')
    counts, columns = output_inspection.inspect(adapter, [listings], D3)
    assert counts == {"listings": 4}
    types = {
        "duckdb": ["date", "varchar", "double", "varchar"],
        "postgres": ["date", "character varying", "double precision", "character varying"],
    }
    assert columns == {
        "listings": dict(zip(["business_date", "listing_id", "price_eur", "fuel_type"], types[adapter], strict=True))
    }
    models = output_inspection.OutputTable("models", database, "inventory", "models", '"inventory"."models"')
    counts, columns = output_inspection.inspect(adapter, [models], D3)
    assert counts == {"models": 5}, "no business_date column: every row"
    assert columns == {
        "models": {"model_id": types[adapter][1], "price": {"duckdb": "decimal(9,2)", "postgres": "numeric"}[adapter]}
    }
    gone = output_inspection.OutputTable("gone", database, "inventory", "gone", '"inventory"."gone"')
    with pytest.raises(output_inspection.NotInspectable, match='"inventory"."gone" is not in the warehouse'):
        output_inspection.inspect(adapter, [gone], D3)
