"""A small collector of problems for validating definitions read from YAML.

Validation never stops at the first problem: each accessor records what is wrong at a path
and returns a safe fallback, so the caller can keep checking and report everything at once.
"""

from __future__ import annotations

import re
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

_MISSING = object()
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: str | Path, error: type[CollabStatsError]) -> Any:
    """Read a YAML file; unreadable or malformed files raise ``error`` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(str(path), [Problem("", f"cannot read the file ({exc})")]) from None
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise error(str(path), [Problem(where, f"not valid YAML ({reason})")]) from None


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
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"
