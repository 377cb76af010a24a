"""Build Quarto-compatible notebooks with their outputs already in them.

A report is assembled, not executed: each figure or table is computed once by a function of
the report modules, and the notebook stores both the call (as the code cell, so a reader sees
how the output was made and can re-run it in Jupyter) and its output. Quarto renders such a
notebook as it is (it does not execute ``.ipynb`` files unless asked).

Conventions, as Quarto expects them:

* the first cell is a raw cell with the YAML front matter;
* code cells carry ``#|`` options (``label``, ``fig-cap``, ``fig-alt``, ``tbl-cap``,
  ``echo: false``) and the matching ``remove-input`` tag for Jupyter/nbconvert users;
* figure labels start with ``fig-``, table labels with ``tbl-``; markdown refers to them as
  ``@fig-peers``; callouts are ``::: {.callout-note}`` blocks;
* cell ids are derived from labels and positions, so rebuilding a report gives the same ids.

Every output function takes the report data as its first argument and returns a
:class:`FigureOutput` or :class:`TableOutput`; both display themselves in Jupyter
(``_repr_mimebundle_``), so re-executing a notebook reproduces its outputs.
"""

from __future__ import annotations

import datetime as dt
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import nbformat
import pandas as pd
import yaml
from nbformat import NotebookNode, from_dict, v4
from nbformat.validator import ValidationError, get_validator

from .text import md_escape

__all__ = [
    "CALLOUT_KINDS",
    "FigureOutput",
    "ReportNotebook",
    "TableOutput",
    "cell_options",
]

CALLOUT_KINDS = ("note", "tip", "important", "warning", "caution")
CalloutKind = Literal["note", "tip", "important", "warning", "caution"]

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
_py = platform.python_version_tuple()
LANGUAGE_INFO = {
    "name": "python",
    "version": platform.python_version(),
    "mimetype": "text/x-python",
    "file_extension": ".py",
    "codemirror_mode": {"name": "ipython", "version": int(_py[0])},
    "pygments_lexer": "ipython3",
    "nbconvert_exporter": "python",
}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader: ~10x faster
_FAST_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
#: Text that libyaml writes exactly as PyYAML does: no line breaks, no surrogates and no
#: characters beyond the Basic Multilingual Plane (libyaml escapes those, PyYAML does not).
_SAME_IN_LIBYAML = re.compile("[^\n\r\x85\u2028\u2029\ud800-\udfff\U00010000-\U0010ffff]*")
_LABEL = re.compile(r"^(fig|tbl)-[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True, eq=False)
class FigureOutput:
    """A figure: SVG markup, its alternative text, and the numbers it shows.

    ``data`` is the table behind the figure (already suppressed), offered beside the figure
    as a table and as a CSV download so that nothing is available only as a picture.
    """

    svg: str
    alt: str
    data: pd.DataFrame

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"image/svg+xml": self.svg, "text/plain": self.alt}


@dataclass(frozen=True, eq=False)
class TableOutput:
    """A table as HTML (with header cells) and Markdown, and the frame it was made from."""

    html: str
    markdown: str
    data: pd.DataFrame

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self.html, "text/markdown": self.markdown}


@dataclass
class ReportNotebook:
    """A report being assembled cell by cell.

    Parameters
    ----------
    title, subtitle, author, date:
        Front matter, as plain text: Quarto (and our renderer) read the title, subtitle and
        author as Markdown, so they are escaped here (user-supplied names are safe to pass).
        ``date`` defaults to today.
    data_path:
        How the notebook's setup cell finds the workspace when re-executed, relative to
        the notebook's folder (e.g. ``"../.."`` for ``reports/collaborations/x.ipynb``).
    extra_front_matter:
        Merged into the front matter (e.g. ``{"collab-stats": {...provenance...}}``).
    """

    title: str
    subtitle: str = ""
    author: str = ""
    date: dt.date | None = None
    data_path: str = ".."
    extra_front_matter: Mapping[str, Any] = field(default_factory=dict)
    cells: list[nbformat.NotebookNode] = field(default_factory=list)
    outputs: dict[str, FigureOutput | TableOutput] = field(default_factory=dict)
    _modules: dict[str, str] = field(default_factory=dict)
    _ids: set[str] = field(default_factory=set)

    # -- text -------------------------------------------------------------------------------
    def markdown(self, text: str, *, key: str = "md") -> None:
        """A markdown cell. ``text`` is trusted markup: user-supplied strings in it must
        already be escaped with :func:`reports.text.md_escape`."""
        self._add(_cell("markdown", text.strip() + "\n"), key)

    def heading(self, text: str, level: int = 2, *, key: str | None = None) -> None:
        """A heading (level 2 and below: level 1 is the title from the front matter)."""
        if not 2 <= level <= 6:
            raise ValueError(f"heading level must be 2-6, got {level}")
        self.markdown(f"{'#' * level} {text}", key=key or f"h-{_slug(text)}")

    def callout(self, kind: CalloutKind, text: str, *, title: str,
                key: str = "callout") -> None:
        """A Quarto callout block (note, tip, important, warning, caution) with its own
        title (an untitled callout would get Quarto's default heading, e.g. "Warning")."""
        if kind not in CALLOUT_KINDS:
            raise ValueError(f"callout kind must be one of {CALLOUT_KINDS}, got {kind!r}")
        if not title or not title.strip() or '"' in title or "\n" in title:
            raise ValueError(f"a callout needs a one-line title without double quotes, got "
                             f"{title!r}")
        self.markdown(f'::: {{.callout-{kind} title="{title}"}}\n{text.strip()}\n:::', key=key)

    # -- outputs ----------------------------------------------------------------------------
    def output(self, function: Callable[..., FigureOutput | TableOutput], data: Any, *,
               label: str, caption: str, classes: str | None = None,
               **kwargs: Any) -> FigureOutput | TableOutput:
        """Call ``function(data, **kwargs)`` and add a code cell holding the call and its
        output. ``label`` is ``fig-...`` for a figure or ``tbl-...`` for a table; ``classes``
        (Quarto's cell option) e.g. ``"cs-no-print"`` to leave it out of the PDF."""
        if not _LABEL.match(label):
            raise ValueError(f"label must look like 'fig-name' or 'tbl-name', got {label!r}")
        if label in self.outputs:
            raise ValueError(f"label {label!r} is used twice in this report")
        result = function(data, **kwargs)
        alias = self._alias(function)
        args = "".join(f", {k}={v!r}" for k, v in kwargs.items())
        options = {"label": label}
        if isinstance(result, FigureOutput):
            if not label.startswith("fig-"):
                raise ValueError(f"a figure's label must start with 'fig-', got {label!r}")
            options |= {"fig-cap": caption, "fig-alt": result.alt}
            bundle = result._repr_mimebundle_()
        elif isinstance(result, TableOutput):
            if not label.startswith("tbl-"):
                raise ValueError(f"a table's label must start with 'tbl-', got {label!r}")
            options |= {"tbl-cap": caption}
            bundle = result._repr_mimebundle_()
        else:
            raise TypeError(f"{function.__qualname__} returned {type(result).__name__}, "
                            "not a FigureOutput or TableOutput")
        if classes:
            options["classes"] = classes
        options["echo"] = False
        meta: dict[str, Any] = {"label": label}
        if isinstance(result, FigureOutput):
            from .tables import data_table_html  # tables imports this module

            meta["data_html"] = data_table_html(result.data)
        source = _options_text(options) + f"{alias}.{function.__name__}(data{args})"
        # A table is the cell's result (as a pandas DataFrame's would be): Quarto treats a
        # text/html *display_data* output as a JavaScript widget and adds require.js and
        # jQuery from a CDN; an execute_result is rendered as the HTML it is.
        kind = "execute_result" if "text/html" in bundle else "display_data"
        extra = {"execution_count": None} if kind == "execute_result" else {}
        output = {"output_type": kind, "metadata": {"collab_stats": meta}, "data": bundle,
                  **extra}
        self._add(_cell("code", source, tags=["remove-input"], outputs=[output]), label)
        self.outputs[label] = result
        return result

    # -- assembly ---------------------------------------------------------------------------
    def front_matter(self) -> dict[str, Any]:
        matter: dict[str, Any] = {"title": md_escape(self.title)}
        if self.subtitle:
            matter["subtitle"] = md_escape(self.subtitle)
        if self.author:
            matter["author"] = md_escape(self.author)
        matter["date"] = (self.date or dt.date.today()).isoformat()
        # Only what genuine Quarto builds without TeX, and no embed-resources: in a Quarto
        # website that would keep downloads/ and pdf/ out of _site and make pandoc fetch
        # scripts. Self-contained pages and PDFs are this project's own renderer's business.
        matter["format"] = {
            "html": {"toc": True, "toc-depth": 2, "number-sections": False, "lang": "en-GB"},
        }
        matter["jupyter"] = "python3"
        matter["execute"] = {"enabled": False}
        matter |= dict(self.extra_front_matter)
        return matter

    def build(self) -> nbformat.NotebookNode:
        """The notebook: front matter, a hidden setup cell, then the cells added so far."""
        front = "---\n" + yaml.safe_dump(self.front_matter(), sort_keys=False,
                                         allow_unicode=True, width=100) + "---\n"
        raw = _cell("raw", front, cell_id="front-matter")
        imports = "".join(f"import {module} as {alias}\n"
                          for module, alias in sorted(self._modules.items()))
        setup = _cell("code", _options_text({"label": "setup", "include": False})
                      + "from reports.data import load_report_data\n" + imports
                      + f"data = load_report_data({self.data_path!r})\n",
                      cell_id="setup", tags=["remove-cell"])
        # as v4.new_notebook makes it, which would check it against the schema once more
        nb = from_dict({"nbformat": v4.nbformat, "nbformat_minor": v4.nbformat_minor,
                        "metadata": {"kernelspec": dict(KERNELSPEC),
                                     "language_info": dict(LANGUAGE_INFO)}})
        nb.cells = [raw, setup, *self.cells]
        _validate(nb)
        return nb

    def _alias(self, function: Callable[..., Any]) -> str:
        module = function.__module__
        alias = module.rsplit(".", 1)[-1]
        if any(a == alias and m != module for m, a in self._modules.items()):
            raise ValueError(f"two modules would share the alias {alias!r}")
        self._modules[module] = alias
        return alias

    def _add(self, cell: nbformat.NotebookNode, key: str) -> None:
        base = _slug(key)[:56] or "cell"
        cell_id, n = base, 1
        while cell_id in self._ids or cell_id in ("front-matter", "setup"):
            n += 1
            cell_id = f"{base}-{n}"
        self._ids.add(cell_id)
        cell.id = cell_id
        self.cells.append(cell)


def cell_options(source: str) -> tuple[dict[str, Any], str]:
    """Split a code cell's leading ``#|`` lines into an options dict and the remaining code."""
    lines = source.splitlines()
    head = []
    for line in lines:
        if not line.startswith("#|"):
            break
        head.append(line[2:].strip())
    options = yaml.load("\n".join(head), Loader=_LOADER) if head else {}
    return (options if isinstance(options, dict) else {}), "\n".join(lines[len(head):])


def _cell(cell_type: Literal["markdown", "code", "raw"], source: str, *, cell_id: str = "",
          tags: list[str] | None = None,
          outputs: list[dict[str, Any]] | None = None) -> NotebookNode:
    """A cell as ``nbformat.v4.new_*_cell`` makes it, without its schema check: nbformat
    checks a cell against a part of the schema with jsonschema (~0.1 ms a cell), whereas
    :meth:`ReportNotebook.build` checks the whole notebook once. The id is set by
    :meth:`ReportNotebook._add` unless given."""
    cell: dict[str, Any] = {"id": cell_id, "cell_type": cell_type}
    if cell_type == "code":
        cell |= {"metadata": {}, "execution_count": None, "source": source,
                 "outputs": outputs or []}
    else:
        cell |= {"source": source, "metadata": {}}
    if tags:
        cell["metadata"]["tags"] = tags
    return from_dict(cell)


def _validate(nb: NotebookNode) -> None:
    """Check ``nb`` against the notebook schema with fastjsonschema (nbformat's default
    validator, chosen here whatever ``NBFORMAT_VALIDATOR`` says: jsonschema takes ~10 times as
    long). When it fails, :func:`nbformat.validate` raises the error with jsonschema's fuller
    message."""
    validator = get_validator(nb.nbformat, nb.nbformat_minor, name="fastjsonschema")
    try:
        validator.validate(nb)
    except ValidationError:
        nbformat.validate(nb)
        raise


def _options_text(options: Mapping[str, Any]) -> str:
    """Quarto's ``#|`` lines: each option as ``yaml.safe_dump`` writes it in flow style."""
    return "".join(f"#| {_option_yaml(key, value)}\n" for key, value in options.items())


def _option_yaml(key: str, value: Any) -> str:
    """``key: value`` as ``yaml.safe_dump({key: value}, default_flow_style=True)`` writes it
    (without the braces). libyaml (~5x faster) writes text and booleans the same except for
    the characters :data:`_SAME_IN_LIBYAML` leaves out, which go to PyYAML's own emitter."""
    same = (isinstance(value, bool | None) or isinstance(value, str)
            and _SAME_IN_LIBYAML.fullmatch(value) is not None)
    dumped = yaml.dump({key: value}, Dumper=_FAST_DUMPER if same else yaml.SafeDumper,
                       default_flow_style=True, width=10_000, allow_unicode=True).strip()
    return dumped[1:-1].strip()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
