"""Spec text in the Markdown of DAG docs: always escaped, so that it stays text."""

from __future__ import annotations

import html
import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~=])")


def text(value: str) -> str:
    """Spec text is data: every Markdown mark is backslash-escaped and every HTML character made an
    entity, so no spec value can become a link, an image, a code fence, a table cell or markup."""
    return html.escape(_MARKDOWN.sub(r"\\\1", value.strip()), quote=True)


def cell(value: str) -> str:
    """text() on one line (a table cell or a list item ends at a line break)."""
    return text(" ".join(value.split()))
