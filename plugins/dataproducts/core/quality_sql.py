"""A quality rule's custom SQL: one SELECT that returns one number, checked when specs load and
rendered for a warehouse at run time. Pure; the warehouse side is dbt/quality_checks.py.

The query is spec data, never a template: the only things put into it are the port's table (two
validated identifiers, quoted) for `${table}` and a parameter marker for `${business_date}`, whose
value the warehouse driver binds. A statement separator, a block comment, a backslash, a `$` or a
`?` outside these placeholders, and any word that writes, changes or configures something, are
refused; at run time the query also runs in a read-only transaction (the second line).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

TABLE = "${table}"
BUSINESS_DATE = "${business_date}"
PLACEHOLDERS = (TABLE, BUSINESS_DATE)
MAX_LENGTH = 5000

# words that write, change or configure something (DuckDB and Postgres), refused outside quotes
FORBIDDEN_WORDS = frozenset(
    {
        *("insert", "update", "delete", "merge", "upsert", "into", "returning", "copy"),  # writes, also inside a WITH
        *("create", "drop", "alter", "truncate", "rename", "grant", "revoke", "attach", "detach", "install"),
        *("pragma", "set", "reset", "call", "execute", "prepare", "deallocate", "export", "import", "vacuum"),
        *("checkpoint", "begin", "commit", "rollback", "abort", "savepoint", "transaction", "lock", "listen"),
        *("notify", "unlisten", "refresh", "reindex", "cluster", "analyze"),
    }
)

_TOKEN = re.compile(
    r"""(?P<string>'(?:[^']|'')*')
      | (?P<quoted>"(?:[^"]|"")*")
      | (?P<comment>--[^\n]*)
      | (?P<block>/\*)
      | (?P<placeholder>\$\{[A-Za-z_]*\})
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<space>\s+)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | quoted | comment | block | placeholder | word | space | other
    text: str


def tokens(query: str) -> Iterator[Token]:
    """The query's tokens; an unclosed quote is one 'other' token (the quote), refused by problems()."""
    for match in _TOKEN.finditer(query):
        kind = match.lastgroup or "other"
        yield Token(kind, match.group())


def problems(query: str) -> list[str]:
    """Why the query is not one plain SELECT returning a number (empty when it is)."""
    found: list[str] = []
    if len(query) > MAX_LENGTH:
        return [f"the query has {len(query):,} characters; at most {MAX_LENGTH:,} are allowed"]
    significant = [t for t in tokens(query) if t.kind not in ("space", "comment")]
    if not significant or significant[0].kind != "word" or significant[0].text.lower() not in ("select", "with"):
        found.append("the query must be one SELECT statement (starting with SELECT or WITH)")
    for token in significant:
        problem = _token_problem(token)
        if problem and problem not in found:
            found.append(problem)
    return found


def _token_problem(token: Token) -> str | None:
    text = token.text
    if token.kind == "word" and text.lower() in FORBIDDEN_WORDS:
        return f"the query may not use '{text}' (only a SELECT that reads; quote a column of that name: \"{text.lower()}\")"
    if token.kind == "placeholder" and text not in PLACEHOLDERS:
        return f"the query uses the unknown placeholder {text}; use {TABLE} and {BUSINESS_DATE}"
    if "\\" in text:
        return "the query may not contain a backslash"
    if token.kind == "block":
        return "the query may not contain block comments (/* */); use -- comments"
    if token.kind != "other":
        return None
    return {
        ";": "the query may not contain ';' (one statement only)",
        "'": "the query has a ' that is never closed",
        '"': 'the query has a " that is never closed',
        "$": f"the query may not contain '$' except in {TABLE} and {BUSINESS_DATE}",
        "?": f"the query may not contain '?'; the business date is {BUSINESS_DATE}",
    }.get(text)


def check(query: str) -> str:
    """The query when it is one plain SELECT; raises ValueError saying why not."""
    found = problems(query)
    if found:
        raise ValueError("custom SQL is not allowed: " + "; ".join(found))
    return query


def render(query: str, table: str, marker: str) -> tuple[str, int]:
    """The query with `${table}` replaced by the quoted table and `${business_date}` by the
    warehouse's parameter marker, and how many date parameters to bind. With parameters and the
    marker `%s`, `%` is doubled (psycopg2 then reads `%%` as `%`, in literals too)."""
    found = list(tokens(check(query)))
    dates = sum(t.kind == "placeholder" and t.text == BUSINESS_DATE for t in found)
    doubled = marker == "%s" and dates > 0
    parts = []
    for token in found:
        if token.kind == "placeholder":
            parts.append(table if token.text == TABLE else marker)
        else:
            parts.append(token.text.replace("%", "%%") if doubled else token.text)
    return "".join(parts), dates
