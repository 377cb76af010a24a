"""Words and numbers as readers see them: escaping, rounding, plain labels.

Every string that comes from users (collaboration, organisation and partner names, free text,
file names) goes through :func:`md_escape` before it is put in a markdown cell and through
:func:`html_escape` before it is put in HTML. Rounding happens here, never in the library.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

__all__ = [
    "fmt_ci",
    "fmt_int",
    "fmt_number",
    "fmt_percent",
    "html_escape",
    "md_escape",
    "plural",
    "suppressed_text",
]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>:@$^=\"'])")


def html_escape(value: Any) -> str:
    """HTML-escape any value (quotes included), for text and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def md_escape(value: Any) -> str:
    """Make a user-supplied string inert in Markdown (Quarto's and nbconvert's): HTML
    special characters become entities, Markdown punctuation is backslash-escaped, and line
    breaks become spaces, so a name can never open a tag, a link, a heading or a code cell
    option, nor start a Quarto cross-reference or shortcode."""
    text = " ".join(str("" if value is None else value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def suppressed_text(threshold: int) -> str:
    """What a reader sees instead of a suppressed figure."""
    return f"fewer than {threshold} responses"


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(math.isnan(value))
    except TypeError:
        return value is None


def fmt_number(value: Any, digits: int = 2, *, sign: bool = False, missing: str = "–") -> str:
    """A number rounded for reading (``missing`` for NaN/None); a true minus sign."""
    if _missing(value):
        return missing
    text = f"{float(value):+.{digits}f}" if sign else f"{float(value):.{digits}f}"
    if float(text.replace("+", "")) == 0:
        text = text.lstrip("+-")
    return text.replace("-", "\u2212")


def fmt_int(value: Any, *, missing: str = "–") -> str:
    return missing if _missing(value) else f"{int(round(float(value))):,}"


def fmt_percent(value: Any, digits: int = 0, *, missing: str = "–") -> str:
    """A proportion (0-1) as a percentage."""
    return missing if _missing(value) else f"{100 * float(value):.{digits}f}%"


def fmt_ci(low: Any, high: Any, digits: int = 2) -> str:
    """A confidence interval as ``low to high`` (words, not a dash that reads as minus)."""
    if _missing(low) or _missing(high):
        return "–"
    return f"{fmt_number(low, digits)} to {fmt_number(high, digits)}"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
