"""A small collector of problems for validating definitions read from YAML.

Validation never stops at the first problem: each accessor records what is wrong at a path
and returns a safe fallback, so the caller can keep checking and report everything at once.
"""

from __future__ import annotations

import re
import reprlib
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import CollabStatsError, Problem

#: Identifiers that are safe in file names, URLs and HTML ids: lower-case letters, digits,
#: ``-``, ``_`` and ``.``, starting with a letter or digit, at most 64 characters.
SAFE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
#: Item identifiers as they appear in exports and column names (upper case allowed).
ITEM_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")

#: YAML aliases (``*name``) a definition file may use, and how many nodes they may add once
#: expanded. A few aliases of nested anchors (a "billion laughs" document of a few hundred
#: bytes) would otherwise expand to millions of nodes and take minutes and gigabytes to check;
#: the project's own files use none. Both are checked on the parser's events, before any
#: Python object is built.
MAX_YAML_ALIASES = 100
MAX_YAML_ALIAS_NODES = 10_000

_MISSING = object()
_SHORT_REPR = reprlib.Repr()  # attributes, not keywords: Python 3.11
_SHORT_REPR.maxlevel, _SHORT_REPR.maxstring, _SHORT_REPR.maxother = 2, 40, 40
_SHORT_REPR.maxlist = _SHORT_REPR.maxdict = 4
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: str | Path, error: type[CollabStatsError]) -> Any:
    """Read a YAML file; unreadable or malformed files raise ``error`` naming the file.

    A document with more than :data:`MAX_YAML_ALIASES` aliases, aliases that expand to more
    than :data:`MAX_YAML_ALIAS_NODES` nodes, or an alias inside its own anchor is refused
    (naming the line) before it is built.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        message = " ".join(f"cannot read the file ({exc})".split())
        raise error(str(path), [Problem("", message)]) from None
    try:
        if "&" in text and "*" in text:  # no anchor or no alias: nothing to expand
            _check_aliases(text, str(path), error)
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise error(str(path), [Problem(where, f"not valid YAML ({reason})")]) from None


def _check_aliases(text: str, source: str, error: type[CollabStatsError]) -> None:
    """Count a YAML text's aliases and the nodes they expand to, from the parser's events."""
    sizes: dict[str, int] = {}  # anchor -> nodes of its (closed) node
    stack: list[list[Any]] = []  # open collections: [anchor, nodes so far]
    aliases = expanded = 0

    def refuse(event: Any, message: str) -> None:
        mark = event.start_mark
        raise error(source, [Problem(f"line {mark.line + 1}, column {mark.column + 1}",
                                     message)])

    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                refuse(event, f"more than {MAX_YAML_ALIASES} YAML aliases (*name); a "
                       "definition file needs none: write the values out")
            if any(open_anchor == event.anchor for open_anchor, _ in stack):
                refuse(event, f"the alias *{event.anchor} is inside its own anchor "
                       f"&{event.anchor} (a recursive document)")
            anchor, size = None, sizes.get(event.anchor, 1)
            expanded += size
            if expanded > MAX_YAML_ALIAS_NODES:
                refuse(event, f"YAML aliases expand to more than {MAX_YAML_ALIAS_NODES:,} "
                       "nodes (an alias bomb?); write the values out")
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        if stack:
            stack[-1][1] += size


class Checker:
    """Collects :class:`~collab_stats.errors.Problem` objects while reading a document."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        self.add(where, f"expected a mapping (key: value), got {_describe(value)}")
        return {}

    def items(self, value: Any, where: str, *, allow_empty: bool = False) -> list[Any]:
        if value is None and allow_empty:
            return []
        if isinstance(value, list):
            if not value and not allow_empty:
                self.add(where, "must not be empty")
            return value
        self.add(where, f"expected a list, got {_describe(value)}")
        return []

    def field(
        self,
        doc: Mapping[str, Any],
        key: str,
        where: str,
        kind: type | tuple[type, ...] = str,
        *,
        required: bool = True,
        default: Any = None,
    ) -> Any:
        """Return ``doc[key]`` if it has the expected type, recording a problem otherwise."""
        path = f"{where}.{key}" if where else key
        value = doc.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.add(path, "is required")
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int subclass; never accept True/False where a number is wanted.
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            self.add(path, f"expected {names}, got {_describe(value)}")
            return default
        if isinstance(value, str) and not value.strip():
            self.add(path, "must not be blank")
            return default
        return value

    def text(self, doc: Mapping[str, Any], key: str, where: str, **kw: Any) -> str:
        return self.field(doc, key, where, str, **kw) or kw.get("default", "") or ""

    def identifier(
        self, doc: Mapping[str, Any], key: str, where: str, pattern: re.Pattern[str] = SAFE_ID
    ) -> str:
        value = self.field(doc, key, where, str)
        if value is None:
            return ""
        if not pattern.match(value):
            self.add(
                f"{where}.{key}" if where else key,
                f"{value!r} is not a valid identifier (allowed: {pattern.pattern})",
            )
        return value

    def one_of(self, value: Any, allowed: Iterable[Any], where: str, what: str) -> bool:
        allowed = list(allowed)
        if value in allowed:
            return True
        self.add(where, f"{value!r} is not a known {what} (allowed: {', '.join(map(str, allowed))})")
        return False

    def unique(self, values: Iterable[str], where: str, what: str) -> None:
        for value, count in Counter(v for v in values if v).items():
            if count > 1:
                self.add(where, f"duplicate {what} {value!r} (appears {count} times)")

    def unknown_keys(self, doc: Mapping[str, Any], known: Iterable[str], where: str) -> None:
        known = set(known)
        for key in doc:
            if key not in known:
                self.add(
                    f"{where}.{key}" if where else str(key),
                    f"unknown key (allowed: {', '.join(sorted(known))})",
                )


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    text = _SHORT_REPR.repr(value)  # bounded: never the repr of a whole (huge) value
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"
