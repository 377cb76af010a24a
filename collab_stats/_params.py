"""Parameter checks with one error template: the parameter, what is allowed, what was given.

Used at the top of public functions instead of ``assert`` (which ``python -O`` strips).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from .errors import ParameterError

#: How rows with missing values are treated, across the library.
#: ``pairwise`` - each statistic (e.g. each covariance) uses every row that has the values it
#: needs; ``listwise`` - only rows complete on every item of the set are used.
NanPolicy = Literal["pairwise", "listwise"]
NAN_POLICIES: tuple[str, ...] = ("pairwise", "listwise")
#: Factor models cannot use pairwise covariances (no likelihood); they take ``listwise`` or
#: ``fiml`` (full-information ML over every row with at least one answer, lavaan's
#: ``missing = "ml"``).


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ParameterError(
            f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}"
        )
    return value


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> Any:
    kind = "a whole number" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        raise ParameterError(f"{name} must be {kind}; got {value!r}")
    if value != value:  # NaN
        raise ParameterError(f"{name} must be {kind}, not NaN")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ParameterError(f"{name} must be in {left}{lo}, {hi}{right}; got {value!r}")
    return value
