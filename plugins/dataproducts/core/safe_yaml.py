"""Reading a spec file as data, safely and within bounds, remembering where every value was written.

A spec file is untrusted input: any team (or a mistake) can put anything there. So it is read only
when it is a regular file inside product_specs/ and no larger than the `max_spec_bytes` setting;
it must be UTF-8; it is composed into YAML nodes by libyaml's safe loader (plain data tags only,
never Python objects), with its nesting, its number of values (aliases counted each time they are
used, so an alias bomb stops early) and its text lengths bounded; and duplicate keys are errors.
Every value keeps the line and column it came from, so an error can point at its field.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 32  # spec fields nest 5 deep; libyaml's composer recurses in C, so deep flow nesting must never reach it
MAX_VALUES = 20_000  # scalars, lists and mappings, each use of an alias counted again
MAX_TEXT = 10_000  # characters of one value
SNIPPET = 40  # characters of the input an error may quote

Path_ = tuple  # ('output_ports', 0, 'name'): where a value sits in the document


@dataclass(frozen=True)
class Place:
    line: int  # 1-based, as editors count
    column: int


@dataclass
class Document:
    """The parsed spec and where each value (and each key) was written. A document read on the
    fast path finds the places only when they are first asked for (an error), from its text."""

    data: Any
    _values: Optional[dict[Path_, Place]] = field(default=None, repr=False)
    _keys: Optional[dict[Path_, Place]] = field(default=None, repr=False)
    text: Optional[str] = field(default=None, repr=False, compare=False)

    @property
    def values(self) -> dict[Path_, Place]:
        if self._values is None:
            self._locate()
        return self._values  # type: ignore[return-value]  # set by _locate

    @property
    def keys(self) -> dict[Path_, Place]:
        if self._keys is None:
            self._locate()
        return self._keys  # type: ignore[return-value]  # set by _locate

    def without_data(self) -> Document:
        """The places (or the text they come from) without the data, for keeping beside a spec."""
        return Document(None, self._values, self._keys, self.text)

    def _locate(self) -> None:
        located = _parse_carefully(self.text or "")
        self._values, self._keys = located.values, located.keys

    def place_of(self, path: Path_, key: bool = False) -> Optional[Place]:
        """The place of the value at path, else of the closest enclosing value that was written."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            found = self.values.get(tuple(path[:end]))
            if found is not None:
                return found
        return None


class ReadError(Exception):
    """The file could not be read as a spec; problem and fix are for the user, place is where."""

    def __init__(self, problem: str, fix: str, place: Optional[Place] = None):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix
        self.place = place


def snippet(value: Any) -> str:
    """A value as an error may quote it: short, on one line."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


# ------------------------------------------------------------------------------------------------
# the file
# ------------------------------------------------------------------------------------------------


def read_spec_bytes(path: Path, specs_dir: Path, max_bytes: int) -> bytes:
    """The file's bytes, if it is a regular file that resolves inside specs_dir and is small enough."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            target = path.resolve(strict=True)
            if not target.is_relative_to(specs_dir.resolve()):
                raise ReadError(
                    "is a link to a file outside product_specs/, which is never read",
                    "put the spec file itself in product_specs/<domain>/ instead of a link",
                )
            info = os.stat(target)
    except (FileNotFoundError, RuntimeError):
        raise ReadError(
            "is a link that leads nowhere (its target does not exist)", "remove the link or restore its target"
        ) from None
    except OSError as exc:
        raise ReadError(f"cannot be read ({exc.strerror})", "check the file's permissions") from None
    if not stat.S_ISREG(info.st_mode):
        raise ReadError(
            f"is a {_kind(info.st_mode)}, not a regular file, and is never read",
            "replace it with a plain YAML file",
        )
    if info.st_size > max_bytes:
        raise ReadError(
            f"is {info.st_size:,} bytes, more than the limit of {max_bytes:,} bytes for a spec file",
            "split the product into smaller ones, or raise the max_spec_bytes setting",
        )
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ReadError(f"cannot be read ({exc.strerror})", "check the file's permissions") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):  # swapped between lstat and open
            raise ReadError("is not a regular file, and is never read", "replace it with a plain YAML file")
        data = _read_to_end(fd, max_bytes + 1, opened.st_size)
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew after stat
        raise ReadError(
            f"is more than the limit of {max_bytes:,} bytes for a spec file",
            "split the product into smaller ones, or raise the max_spec_bytes setting",
        )
    return data


def _read_to_end(fd: int, limit: int, size: int) -> bytes:
    """The file's bytes up to its end, or the first `limit` of them. The first read asks for the size
    the file has (and a byte more, to see its end): a buffered read of `limit` bytes allocated a
    buffer of the limit (256 kB) for every 1 kB spec, three quarters of the time reading a mesh took."""
    data = os.read(fd, min(size, limit - 1) + 1)
    while len(data) < limit:  # the file grew since its size was taken, or the read was short
        more = os.read(fd, min(limit - len(data), 8192))
        if not more:
            break
        data += more
    return data


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "folder"
    return "special file"


def decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ReadError("is UTF-16 text (it starts with a UTF-16 byte order mark)", "save it as UTF-8", Place(1, 1))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise ReadError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} cannot start or continue a character)",
            "save it as UTF-8",
            Place(line, column),
        ) from None


# ------------------------------------------------------------------------------------------------
# the YAML
# ------------------------------------------------------------------------------------------------


def parse(text: str) -> Document:
    """Plain data within the bounds on the fast path; anything else (an error, a tag, a merge key,
    a duplicate key, a bound reached) is read again carefully, which raises the error with its place."""
    _refuse_deep_flow_nesting(text)
    try:
        return Document(_plain_data(text), text=text)
    except _NotPlain:
        return _parse_carefully(text)


def _parse_carefully(text: str) -> Document:
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        document = Document(None, {}, {})
        if node is not None:
            document.data = _Builder(loader, document).build(node)
        return document
    except yaml.YAMLError as exc:
        raise _yaml_read_error(exc, text) from None
    except RecursionError:  # only a defensive net: nesting is bounded before and during the walk
        raise ReadError(f"nests deeper than {MAX_DEPTH} levels", "flatten it: spec fields nest a few levels only") from None
    finally:
        loader.dispose()


def _refuse_deep_flow_nesting(text: str) -> None:
    """libyaml composes nested [ and { recursively in C: 100,000 of them crash the process.
    Counting brackets without parsing overcounts brackets inside quotes, which only errs safely."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # too few to nest that deep
        return
    depth = 0
    for line_no, line in enumerate(text.splitlines(), 1):
        for column, char in enumerate(line, 1):
            if char in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    raise ReadError(
                        f"nests '[' or '{{' deeper than {MAX_DEPTH} levels",
                        "flatten it: spec fields nest a few levels only",
                        Place(line_no, column),
                    )
            elif char in "]}" and depth:
                depth -= 1


def _place(mark) -> Optional[Place]:
    return Place(mark.line + 1, mark.column + 1) if mark is not None else None


def _node_place(node) -> Place:
    return Place(node.start_mark.line + 1, node.start_mark.column + 1)


def _yaml_read_error(exc: yaml.YAMLError, text: str) -> ReadError:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None) or ""
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        return ReadError(
            f"has the control character U+{exc.character if isinstance(exc.character, int) else ord(exc.character):04X}, which YAML does not allow",
            "remove it (and save the file as plain UTF-8 text)",
            Place(before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1),
        )
    opened = _unclosed_quote(text, problem_mark)
    if opened is not None:
        return ReadError(
            "has a quoted value that is never closed (it starts here)",
            "close the quote with the same character it opens with (' or \")",
            opened,
        )
    if "'\\t'" in problem or _char_at(text, problem_mark) == "\t":
        return ReadError(
            "has a tab character where YAML expects indentation or a value; YAML indents with spaces only",
            "replace the tab with spaces",
            _place(problem_mark),
        )
    if "quoted scalar" in context and context_mark is not None:
        return ReadError(
            "has a quoted value that is never closed (it starts here)",
            "close the quote with the same character it opens with (' or \")",
            _place(context_mark),
        )
    if context.startswith(("while parsing a flow sequence", "while parsing a flow mapping")) and context_mark is not None:
        opener = "[" if "sequence" in context else "{"
        return ReadError(
            f"has a '{opener}' that is never closed (it opens here)",
            f"close it with '{']' if opener == '[' else '}'}', or write the value without brackets",
            _place(context_mark),
        )
    if "expected a single document" in problem + context:
        return ReadError("holds more than one YAML document ('---')", "keep one spec per file", _place(problem_mark))
    return ReadError(
        f"is not valid YAML: {problem}" + (f" ({context})" if context else ""),
        "fix the YAML syntax at that place (indentation, quotes, colons, brackets)",
        _place(problem_mark),
    )


_QUOTED_VALUE = re.compile(r"""^\s*(?:-\s+)?(?:[^"'#\s][^:#]*:\s+)?(["'])(.*)$""")


def _unclosed_quote(text: str, mark) -> Optional[Place]:
    """libyaml lets a quoted value run on over lines, so a missing closing quote is reported far
    away; the first line before that place whose quoted value does not close on it is the culprit."""
    if mark is None:
        return None
    for number, line in enumerate(text.splitlines()[: mark.line + 1]):
        found = _QUOTED_VALUE.match(line)
        if not found:
            continue
        quote, rest = found.group(1), found.group(2)
        closed = rest.replace("\\\\", "").replace('\\"', "") if quote == '"' else rest.replace("''", "")
        if quote not in closed:
            return Place(number + 1, found.start(1) + 1)
    return None


def _char_at(text: str, mark) -> Optional[str]:
    if mark is None:
        return None
    lines = text.splitlines()
    if mark.line < len(lines) and mark.column < len(lines[mark.line]):
        return lines[mark.line][mark.column]
    return None


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


# what PyYAML's constructors raise for a scalar of a plain tag that is not one (explicit '!!int abc',
# or a date-shaped 2026-13-45): the safe loader lets these through as they are, not as YAMLError
_CONSTRUCT_ERRORS = (ValueError, KeyError, AttributeError, TypeError, OverflowError)
_KINDS = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:timestamp": "a date",
}


class _NotPlain(Exception):
    """The fast path met something it leaves to the careful one."""


_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


class _PlainLoader(SafeLoader):  # type: ignore[misc,valid-type]  # SafeLoader is libyaml's or PyYAML's safe loader
    """The safe loader, its tags resolved as the safe loader resolves them, minus the work for path
    resolvers, which the safe loader never has (libyaml calls these three for every node).

    A plain scalar's implicit tag depends on its text alone. Only a text whose first character
    starts one of the safe loader's patterns (a digit, '-', '.', '~', 'y', 'n', 'o', 't', 'f', ...)
    can be anything but text, and spec files repeat the same few of those ('name', 'true', 'none',
    'date', 'table') hundreds of thousands of times in a mesh: the tag found by the safe loader's own
    patterns is remembered per text, so each is matched once. The memory is bounded (_TAGS_KEPT)."""

    _by_first_char = {first: tuple(rules) for first, rules in SafeLoader.yaml_implicit_resolvers.items() if first is not None}
    _any_first_char = tuple(SafeLoader.yaml_implicit_resolvers.get(None, ()))

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode:
            if implicit[0] and (value[:1] in self._by_first_char or self._any_first_char):  # may say null, true, 3
                tag = _implicit_tags.get(value)
                return tag if tag is not None else self._remember_tag(value)
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP

    @classmethod
    def _remember_tag(cls, value: str) -> str:
        tag = _STR
        for rule_tag, pattern in cls._by_first_char.get(value[:1], ()) + cls._any_first_char:
            if pattern.match(value):
                tag = rule_tag
                break
        if len(_implicit_tags) >= _TAGS_KEPT:
            _implicit_tags.clear()
        _implicit_tags[value] = tag
        return tag

    def descend_resolver(self, current_node, current_index):
        return None

    def ascend_resolver(self):
        return None


_TAGS_KEPT = 10_000  # texts whose implicit tag is remembered; a mesh of 10,000 specs has under 1,000
_implicit_tags: dict[str, str] = {}


def _plain_data(text: str) -> Any:
    """The document's data when it is plain (untagged scalars, lists and mappings with text keys, each
    key once, no merge keys) and within the bounds, the same data as _Builder builds but without
    places; raises _NotPlain otherwise, and for any YAML error."""
    loader = _PlainLoader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _PlainWalk(loader).build(node, 0)
    except (yaml.YAMLError, RecursionError):
        raise _NotPlain from None
    finally:
        loader.dispose()


class _PlainWalk:
    """Nodes -> data for _plain_data, within the bounds, as _Builder builds it.

    It takes a container's text scalars (most values) in place instead of one call each, and counts
    a container's values when it enters it, before walking them (so an alias used again and again
    still stops at MAX_VALUES): the count _Builder reaches, reached no later.

    A class, not nested functions: a function that calls itself through its closure is a reference
    cycle, which kept every loader (and libyaml's buffers, tens of kB) alive until the next full
    collection, and loading a mesh pauses the collector (mesh.py): 270 MB at 10,000 specs."""

    def __init__(self, loader):
        self.construct = loader.construct_object
        self.count = 1  # the document's node; each node is counted by its container

    def build(self, node, depth: int) -> Any:
        kind = node.__class__
        if kind is yaml.ScalarNode:
            return self.scalar(node)
        items = node.value
        if items and depth >= MAX_DEPTH:  # its values would nest deeper than MAX_DEPTH
            raise _NotPlain
        if kind is yaml.SequenceNode and node.tag == _SEQ:
            self.count += len(items)
            if self.count > MAX_VALUES:
                raise _NotPlain
            return [
                item.value
                if item.__class__ is yaml.ScalarNode and item.tag == _STR and len(item.value) <= MAX_TEXT
                else self.build(item, depth + 1)
                for item in items
            ]
        if kind is not yaml.MappingNode or node.tag != _MAP:
            raise _NotPlain
        self.count += 2 * len(items)  # each key and its value
        if self.count > MAX_VALUES:
            raise _NotPlain
        result: dict = {}
        for key_node, value_node in items:
            key = key_node.value
            if key_node.__class__ is not yaml.ScalarNode or key_node.tag != _STR or len(key) > MAX_TEXT or key in result:
                raise _NotPlain
            if value_node.__class__ is yaml.ScalarNode and value_node.tag == _STR and len(value_node.value) <= MAX_TEXT:
                result[key] = value_node.value
            else:
                result[key] = self.build(value_node, depth + 1)
        return result

    def scalar(self, node) -> Any:
        value = node.value
        if len(value) > MAX_TEXT or node.tag not in _PLAIN_TAGS:
            raise _NotPlain
        if node.tag == _STR:
            return value
        try:
            return self.construct(node)
        except _CONSTRUCT_ERRORS:  # e.g. '!!int abc' or 2026-13-45: the careful reader says where and why
            raise _NotPlain from None


class _Builder:
    """Nodes -> plain Python data, recording each value's place, within the bounds above."""

    def __init__(self, loader, document: Document):
        self.loader = loader
        self.document = document
        self.count = 0

    def build(self, node, path: Path_ = (), depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise ReadError(
                f"holds more than {MAX_VALUES:,} values (aliases count each time they are used)",
                "write the spec without mass repetition; a spec has tens of values, not thousands",
                _place(node.start_mark),
            )
        if depth > MAX_DEPTH:
            raise ReadError(
                f"nests deeper than {MAX_DEPTH} levels",
                "flatten it: spec fields nest a few levels only",
                _place(node.start_mark),
            )
        if path not in self.document.values:
            self.document.values[path] = _node_place(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag not in ("tag:yaml.org,2002:seq",):
                raise self._tag_error(node)
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node, path: Path_, depth: int) -> dict:
        if node.tag not in ("tag:yaml.org,2002:map",):
            raise self._tag_error(node)
        self.loader.flatten_mapping(node)  # merge keys ('<<: *anchor'), as the safe loader does
        result: dict = {}
        for key_node, value_node in node.value:
            key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise ReadError(
                    "has a key that is not text (keys are field names)",
                    "write keys as plain names, e.g. 'name:'",
                    _place(key_node.start_mark),
                )
            if key in result:
                first = self.document.keys.get((*path, key))
                where = f" (first at line {first.line})" if first else ""
                raise ReadError(
                    f"has the key {snippet(key)} twice in one mapping{where}",
                    "keep one of them: YAML would silently drop the first",
                    _place(key_node.start_mark),
                )
            self.document.keys[(*path, key)] = _node_place(key_node)
            self.count += 1
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result

    def _scalar(self, node) -> Any:
        if node.tag not in _PLAIN_TAGS:
            raise self._tag_error(node)
        if len(node.value) > MAX_TEXT:
            raise ReadError(
                f"has a value of {len(node.value):,} characters, more than {MAX_TEXT:,}",
                "shorten it; long documentation belongs in the dbt project or a linked page",
                _place(node.start_mark),
            )
        try:
            return self.loader.construct_object(node)
        except _CONSTRUCT_ERRORS:
            kind = _KINDS.get(node.tag, "a value of its tag")
            raise ReadError(
                f"has the value {snippet(node.value)}, which YAML takes for {kind} but is not a valid one",
                f"write {kind} there, or quote the value ('...') to keep it as text, without a '!!' tag",
                _place(node.start_mark),
            ) from None

    def _tag_error(self, node) -> ReadError:
        return ReadError(
            f"uses the YAML tag {snippet(_short_tag(node.tag))}, which specs may not use: specs are plain data",
            "remove the tag (write the value as plain text, a number, a list or a mapping)",
            _place(node.start_mark),
        )
