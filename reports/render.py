"""Render report notebooks to self-contained, accessible HTML without Quarto.

The notebooks are the ones :class:`reports.notebook.ReportNotebook` builds: Quarto front matter
in a raw first cell, ``#|`` cell options, outputs already stored. nbconvert does the rendering
with our own template (``reports/templates/collab``, written on nbconvert's ``base/null``
template, so nothing from the ``lab``/``classic`` templates -- MathJax, require.js, web fonts --
reaches the page) and four preprocessors of ours that do what Quarto would do:

* :class:`FrontMatterPreprocessor` reads the title, subtitle, author and date from the front
  matter (the raw cell itself is not shown);
* :class:`CellOptionsPreprocessor` honours ``include: false``, ``echo: false``,
  ``output: false`` and the ``remove-cell``/``remove-input``/``remove-output`` tags;
* :class:`NumberingPreprocessor` numbers figures (``fig-``) and tables (``tbl-``) in order;
* :class:`MarkdownPreprocessor` renders markdown (raw HTML escaped, never passed through),
  resolves ``@fig-x``/``@tbl-x`` cross-references to "Figure N"/"Table N" links (an unknown
  label shows as ``?@fig-x``, as in Quarto), turns ``::: {.callout-note}`` blocks into
  callout boxes, rewrites relative ``.ipynb`` links to ``.html``, gives headings unique ids
  and collects the table of contents.

Figures become ``<img>`` elements with ``data:`` URIs (an SVG loaded as an image cannot run
script), captioned "Figure N: ..." below, with the figure's numbers in a ``<details>`` table.
Tables get a "Table N: ..." ``<caption>``. HTML outputs are inserted as they are (our tables
are escaped when they are made) after a check that they hold no script, event handler or
embedded content: a bug elsewhere fails loudly here instead of reaching a reader.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mistune
import yaml
from mistune.plugins.formatting import strikethrough
from mistune.plugins.table import table as table_plugin
from nbconvert.exporters import TemplateExporter
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import default

from collab_stats.atomic import write_text_atomic
from collab_stats.errors import CollabStatsError

from .notebook import CALLOUT_KINDS, cell_options

__all__ = [
    "TEMPLATE_DIR",
    "CollabHTMLExporter",
    "RenderedPage",
    "render_html",
    "render_page",
    "unresolved_references",
]

#: The folder holding our nbconvert template folder (``collab``).
TEMPLATE_DIR = Path(__file__).parent / "templates"
_LABEL = re.compile(r"^(fig|tbl)-[a-z0-9][a-z0-9-]*$")
_XREF = r"(?<![\w@\\])@(?P<xkind>[Ff]ig|[Tt]bl)-(?P<xname>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)"
_FENCE_OPEN = re.compile(r"^:::+\s*\{(?P<attrs>[^}]*)\}\s*$")
_FENCE_CLOSE = re.compile(r"^:::+\s*$")
_TITLE_ATTR = re.compile(r'title\s*=\s*"([^"]*)"')
#: Classes a fenced div or a code cell's ``classes`` option may give its container (the
#: print styles hide ``cs-no-print`` and show ``cs-print-only`` on paper only; a
#: ``cs-searchable`` table gets a search box that shows only the rows holding what is typed:
#: the page then carries the template's one small script, and nothing else does).
_CLASSES = frozenset({"cs-no-print", "cs-print-only", "cs-searchable"})


def _classes(text: str) -> str:
    """The allowed classes named in ``text`` (``.name`` in div attributes, or plain names)."""
    found = re.findall(r"[A-Za-z0-9_-]+", text or "")
    return " ".join(dict.fromkeys(c for c in found if c in _CLASSES))
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_MARKUP = re.compile(r"<[a-zA-Z!/?]")  # whatever a browser could read as the start of markup
_TAG = re.compile(r"""</?([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*"""
                  r"""(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*/?>""")
_ATTRIBUTE = re.compile(r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_SAFE_TAGS = {"table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col",
              "span", "div", "p", "a", "strong", "em", "b", "i", "abbr", "small", "sup", "sub",
              "br", "ul", "ol", "li", "code", "time", "data", "dl", "dt", "dd", "bdi"}
_SAFE_ATTRS = {"class", "id", "scope", "colspan", "rowspan", "headers", "title", "href", "abbr",
               "role", "lang", "dir", "datetime", "value", "style", "span", "align"}
_UNSAFE_VALUES = ("javascript:", "vbscript:", "url(", "expression(", "@import")
_CALLOUT_LABELS = {"note": "Note", "tip": "Tip", "important": "Important",
                   "warning": "Warning", "caution": "Caution"}
_REFERENCE_NAMES = {"fig": "Figure", "tbl": "Table"}
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_FIGURE_SCALE = 1.3
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESERVED_IDS = {"main-content", "contents", "contents-title", "page-title", "footer"}


@dataclass(frozen=True)
class RenderedPage:
    """A rendered page and what the renderer found on the way.

    Attributes
    ----------
    html : str
        The complete, self-contained HTML document.
    title : str
        The page title as plain text.
    figures, tables : tuple of str
        Labels of the numbered figures and tables, in order (Figure 1 is ``figures[0]``).
    unresolved : tuple of str
        Cross-references whose label is not in the notebook (e.g. ``"@fig-missing"``); they
        show as ``?@fig-missing`` on the page, as Quarto shows them.
    """

    html: str
    title: str
    figures: tuple[str, ...]
    tables: tuple[str, ...]
    unresolved: tuple[str, ...]


@dataclass
class _Context:
    """Per-notebook state shared by the preprocessors (kept in ``resources``)."""

    refs: dict[str, str] = field(default_factory=dict)        # label -> "Figure 3"
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=lambda: set(_RESERVED_IDS))
    toc: list[dict[str, Any]] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    callouts: int = 0

    def unique_id(self, text: str, fallback: str = "section") -> str:
        base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-") or fallback
        if base[0].isdigit():
            base = f"{fallback}-{base}"
        candidate, n = base, 1
        while candidate in self.ids:
            n += 1
            candidate = f"{base}-{n}"
        self.ids.add(candidate)
        return candidate


# -- markdown ------------------------------------------------------------------------------

def _local_href(url: str) -> str:
    """Relative links to notebooks point at their rendered pages (``x.ipynb#a`` -> ``x.html#a``)."""
    if _SCHEME.match(url) or url.startswith("//"):
        return url
    path, hash_, fragment = url.partition("#")
    path, query_mark, query = path.partition("?")
    if path.endswith(".ipynb"):
        path = path[: -len(".ipynb")] + ".html"
    return path + query_mark + query + hash_ + fragment


class _Renderer(mistune.HTMLRenderer):
    """Mistune's HTML renderer, raw HTML escaped, with headings, links and tables our way."""

    def render_token(self, token: dict[str, Any], state: Any) -> str:
        if token["type"] == "heading":
            return self._heading(token, state)
        return super().render_token(token, state)

    def _heading(self, token: dict[str, Any], state: Any) -> str:
        text = self.render_tokens(token["children"], state)
        ctx: _Context = state.env["collab"]
        level = min(max(int(token["attrs"]["level"]), 2), 6)  # h1 is the title only
        plain = html.unescape(mistune.util.striptags(text))
        anchor = ctx.unique_id(plain)
        if level <= state.env["toc_depth"]:
            ctx.toc.append({"level": level, "id": anchor, "html": text})
        return f'<h{level} id="{anchor}">{text}</h{level}>\n'

    def text(self, text: str) -> str:
        # entity references mean their character (CommonMark), which is then escaped: the
        # "&lt;" md_escape writes for "<" shows as "<", and nothing becomes markup
        return html.escape(html.unescape(text), quote=False)

    def link(self, text: str, url: str, title: str | None = None) -> str:
        if self.sanitize_url(url) != url:  # javascript: and the like: keep the words only
            return text
        return super().link(text, _local_href(url), title)

    def image(self, text: str, url: str, title: str | None = None) -> str:
        if url.lower().startswith(("http:", "https:", "//")):
            # a page must not load anything from elsewhere: link to the picture instead
            return self.link(text or url, url, title)
        return super().image(text, _local_href(url), title)


def _table_cell(renderer: Any, text: str, align: str | None = None, head: bool = False) -> str:
    tag = "th" if head else "td"
    scope = ' scope="col"' if head else ""
    css = ' class="num"' if align == "right" else ""
    return f"<{tag}{scope}{css}>{text}</{tag}>"


def _table(renderer: Any, text: str) -> str:
    return f'<div class="cs-table-wrap"><table class="cs-table">{text}</table></div>\n'


def _parse_xref(inline: Any, m: re.Match[str], state: Any) -> int:
    ctx: _Context = state.env["collab"]
    label = f"{m.group('xkind').lower()}-{m.group('xname')}"
    if label in ctx.refs:
        state.append_token({"type": "link", "children": [{"type": "text", "raw": ctx.refs[label]}],
                            "attrs": {"url": f"#{label}"}})
    else:
        ctx.unresolved.append("@" + label)
        state.append_token({"type": "strong", "children": [{"type": "text", "raw": "?@" + label}]})
    return m.end()


def _markdown_parser() -> mistune.Markdown:
    md = mistune.Markdown(renderer=_Renderer(escape=True), plugins=[table_plugin, strikethrough])
    md.renderer.register("table", _table)
    md.renderer.register("table_cell", _table_cell)
    md.inline.register("xref", _XREF, _parse_xref, before="link", start_chars="@")
    return md


_MD = _markdown_parser()


def _state(ctx: _Context, toc_depth: int) -> Any:
    state = _MD.block.state_cls()
    state.env["collab"] = ctx
    state.env["toc_depth"] = toc_depth
    return state


def _markdown(text: str, ctx: _Context, toc_depth: int = 3) -> str:
    """Block markdown -> HTML, with fenced divs (callouts) handled first."""
    lines = text.splitlines()
    parts: list[str] = []
    buffer: list[str] = []
    i = 0
    while i < len(lines):
        opened = _FENCE_OPEN.match(lines[i])
        close = _matching_close(lines, i) if opened else None
        if opened is None or close is None:
            buffer.append(lines[i])
            i += 1
            continue
        if buffer:
            parts.append(_MD.parse("\n".join(buffer), _state(ctx, toc_depth))[0])
            buffer = []
        parts.append(_fenced_div(opened.group("attrs"), lines[i + 1:close], ctx, toc_depth))
        i = close + 1
    if buffer:
        parts.append(_MD.parse("\n".join(buffer), _state(ctx, toc_depth))[0])
    return "".join(parts)


def _matching_close(lines: list[str], start: int) -> int | None:
    depth = 0
    for j in range(start + 1, len(lines)):
        if _FENCE_OPEN.match(lines[j]):
            depth += 1
        elif _FENCE_CLOSE.match(lines[j]):
            if depth == 0:
                return j
            depth -= 1
    return None


def _inline(text: str, ctx: _Context) -> str:
    """Inline markdown (a caption, a title) -> HTML without a wrapping paragraph."""
    state = _state(ctx, 0)
    tokens = _MD.inline(" ".join(str(text).split()), state.env)
    return _MD.renderer.render_tokens(tokens, state)


def _plain(fragment: str) -> str:
    """Rendered inline HTML -> escaped plain text (for <title> and aria labels)."""
    return html.escape(html.unescape(mistune.util.striptags(fragment)), quote=True)


def _fenced_div(attrs: str, body: list[str], ctx: _Context, toc_depth: int) -> str:
    kind = re.search(r"\.callout-([a-z]+)", attrs)
    if kind is None or kind.group(1) not in CALLOUT_KINDS:
        extra = _classes(" ".join(re.findall(r"\.([A-Za-z0-9_-]+)", attrs)))
        return (f'<div class="cs-div{" " + extra if extra else ""}">\n'
                f'{_markdown(chr(10).join(body), ctx, toc_depth)}</div>\n')
    name = kind.group(1)
    title_attr = _TITLE_ATTR.search(attrs)
    title = title_attr.group(1) if title_attr else ""
    rest = list(body)
    while rest and not rest[0].strip():
        rest.pop(0)
    if rest and (heading := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", rest[0])):
        title, rest = title or heading.group(1), rest[1:]
    ctx.callouts += 1
    anchor = ctx.unique_id(f"callout-{ctx.callouts}")
    label = _CALLOUT_LABELS[name]
    title_html = (f'<span><span class="callout-kind">{label}:</span> {_inline(title, ctx)}</span>'
                  if title else f'<span class="callout-kind">{label}</span>')
    return (f'<aside class="callout callout-{name}" role="note" aria-labelledby="{anchor}">'
            f'<p class="callout-title" id="{anchor}">{_ICONS[name]}{title_html}</p>'
            f'<div class="callout-body">{_markdown(chr(10).join(rest), ctx, 0)}</div></aside>\n')


def _icon(shape: str, mark: str) -> str:
    return ('<svg class="callout-icon" aria-hidden="true" focusable="false" viewBox="0 0 20 20" '
            f'width="20" height="20">{shape}{mark}</svg>')


_CIRCLE = '<circle cx="10" cy="10" r="9" fill="currentColor"/>'
_BANG = ('<rect x="8.8" y="4.5" width="2.4" height="7.5" rx="1" fill="#fff"/>'
         '<circle cx="10" cy="14.8" r="1.4" fill="#fff"/>')
_ICONS = {
    "note": _icon(_CIRCLE, '<rect x="8.8" y="8.5" width="2.4" height="7" rx="1" fill="#fff"/>'
                           '<circle cx="10" cy="5.6" r="1.4" fill="#fff"/>'),
    "tip": _icon(_CIRCLE, '<path d="M5.5 10.5l3 3 6-6.5" stroke="#fff" stroke-width="2.2" '
                          'fill="none" stroke-linecap="round" stroke-linejoin="round"/>'),
    "important": _icon(_CIRCLE, _BANG),
    "warning": _icon('<path d="M10 1.5L19 18H1z" fill="currentColor"/>',
                     '<rect x="8.9" y="7" width="2.2" height="6" rx="1" fill="#fff"/>'
                     '<circle cx="10" cy="15.3" r="1.3" fill="#fff"/>'),
    "caution": _icon('<path d="M6.3 1h7.4L19 6.3v7.4L13.7 19H6.3L1 13.7V6.3z" '
                     'fill="currentColor"/>', _BANG),
}


# -- trusted HTML check --------------------------------------------------------------------

def _checked_html(fragment: str, where: str) -> str:
    """Return ``fragment`` if it holds only inert markup: well-formed tags and attributes from
    an allow list (tables, text, links), no script URL and no CSS ``url()``.

    Text in our HTML is escaped, so every "<" must open a tag this check can read; anything
    else (a comment, a tag written to confuse parsers) is refused too.
    """
    tags = _TAG.findall(fragment)
    problems = [] if len(tags) == len(_MARKUP.findall(fragment)) else ["malformed markup"]
    problems += sorted({name.lower() for name, _ in tags} - _SAFE_TAGS)
    for attributes in {attrs for _, attrs in tags if attrs}:
        for name, value in _ATTRIBUTE.findall(attributes):
            name = name.lower()
            if name not in _SAFE_ATTRS and not name.startswith(("aria-", "data-")):
                problems.append(f"attribute {name}")
            plain = re.sub(r"[\s\x00-\x1f]+", "", html.unescape(value.strip("\"'"))).lower()
            problems += [f"{name}={bad}" for bad in _UNSAFE_VALUES if bad in plain]
    if problems:
        raise CollabStatsError(
            f"{where}: an HTML output contains {', '.join(dict.fromkeys(problems))}, which a "
            "report page may not hold (only tables, text and links; no scripts, event "
            "handlers, embedded or external content); build tables with "
            "reports.tables.table_output")
    return fragment


# -- preprocessors -------------------------------------------------------------------------

def _ctx(resources: dict[str, Any]) -> _Context:
    return resources["collab"]["ctx"]


class FrontMatterPreprocessor(Preprocessor):
    """Read the Quarto front matter from the first raw cell; drop every raw cell."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]):
        front: dict[str, Any] = {}
        if nb.cells and nb.cells[0].cell_type == "raw":
            source = nb.cells[0].source.strip()
            if source.startswith("---"):
                body = source[3:].rsplit("---", 1)[0] if source.count("---") >= 2 else source[3:]
                try:
                    loaded = yaml.load(body, Loader=_YAML_LOADER)
                except yaml.YAMLError as error:
                    raise CollabStatsError("the notebook's front matter (first raw cell) is not "
                                           f"valid YAML: {error}") from error
                front = loaded if isinstance(loaded, dict) else {}
        nb.cells = [c for c in nb.cells if c.cell_type != "raw"]
        formats = front.get("format")
        html_format = formats.get("html") if isinstance(formats, dict) else None
        html_format = html_format if isinstance(html_format, dict) else {}
        resources["collab"] = {"ctx": _Context(), "front": front, "html_format": html_format}
        return nb, resources


class CellOptionsPreprocessor(Preprocessor):
    """Honour ``#|`` options and the remove-* tags; keep each code cell's options."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]):
        kept = []
        for cell in nb.cells:
            tags = set(cell.metadata.get("tags", ()))
            if "remove-cell" in tags:
                continue
            if cell.cell_type == "code":
                options, code = cell_options(cell.source)
                if options.get("include") is False:
                    continue
                echo = options.get("echo", True) is not False and "remove-input" not in tags
                show = options.get("output", True) is not False and "remove-output" not in tags
                cell.metadata["collab"] = {"options": options, "code": code.strip() if echo else "",
                                           "show_output": show,
                                           "classes": _classes(str(options.get("classes", "")))}
            kept.append(cell)
        nb.cells = kept
        return nb, resources


def _first_output_kind(cell: NotebookNode) -> str | None:
    for output in cell.get("outputs", ()):
        data = output.get("data", {})
        if "image/svg+xml" in data or "image/png" in data or "image/jpeg" in data:
            return "fig"
        if "text/html" in data or "text/markdown" in data:
            return "tbl"
    return None


class NumberingPreprocessor(Preprocessor):
    """Number labelled figures and tables in document order (figures and tables apart)."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]):
        ctx = _ctx(resources)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            view = cell.metadata["collab"]
            label = str(view["options"].get("label", ""))
            kind = label[:3] if _LABEL.match(label) and label not in ctx.refs else None
            view.update(kind=kind or _first_output_kind(cell), label=None, number=None)
            if kind:
                numbers = ctx.figures if kind == "fig" else ctx.tables
                numbers.append(label)
                ctx.ids.add(label)
                ctx.refs[label] = f"{_REFERENCE_NAMES[kind]} {len(numbers)}"
                view.update(label=label, number=len(numbers))
        return nb, resources


class MarkdownPreprocessor(Preprocessor):
    """Render markdown cells, captions and the page header; build each cell's outputs."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]):
        ctx = _ctx(resources)
        depth = resources["collab"]["html_format"].get("toc-depth", 3)
        depth = int(depth) if str(depth).isdigit() else 3
        if resources["collab"]["html_format"].get("toc") is False:
            depth = 0
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.metadata["collab"] = {"html": _markdown(cell.source, ctx, depth)}
            elif cell.cell_type == "code":
                self._code_cell(cell, ctx)
        resources["collab"]["page"] = _page(resources["collab"]["front"],
                                            resources["collab"]["html_format"], ctx)
        resources["collab"]["page"]["searchable"] = any(
            "cs-searchable" in cell.metadata["collab"].get("classes", "")
            for cell in nb.cells if cell.cell_type == "code")
        return nb, resources

    def _code_cell(self, cell: NotebookNode, ctx: _Context) -> None:
        view = cell.metadata["collab"]
        options = view["options"]
        kind, number = view["kind"], view["number"]
        cap_key = "fig-cap" if kind == "fig" else "tbl-cap"
        caption = options.get(cap_key) or ""
        caption_html = _inline(caption, ctx) if caption else ""
        if number:
            prefix = f"{_REFERENCE_NAMES[kind]} {number}" + (":" if caption else "")
            caption_html = f'<span class="cs-caption-label">{prefix}</span> {caption_html}'.strip()
        view["caption_html"] = caption_html
        view["region_label"] = _plain(caption_html) or "Table"
        name = f"{_REFERENCE_NAMES.get(kind or '', 'Output')} {number}" if number else "this output"
        outputs, data_html = [], ""
        for output in cell.get("outputs", ()) if view["show_output"] else ():
            outputs.append(self._output(output, options, caption, cell.get("id", "?"), ctx))
            meta = output.get("metadata", {}).get("collab_stats", {})
            if meta.get("data_html") and not data_html:
                data_html = _checked_html(meta["data_html"], f"cell {cell.get('id')}")
        view.update(outputs=[o for o in outputs if o], data_html=data_html,
                    data_summary=f"Data for {name}")

    def _output(self, output: NotebookNode, options: dict[str, Any], caption: str, cell_id: str,
                ctx: _Context) -> dict[str, str] | None:
        where = f"cell {cell_id}"
        kind = output.get("output_type")
        if kind == "stream":
            return {"type": "text", "text": html.escape("".join(output.get("text", "")))}
        if kind == "error":
            return {"type": "text", "text": html.escape(
                f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")}
        data = output.get("data", {})
        alt = options.get("fig-alt") or caption or data.get("text/plain") or "Figure"
        alt = html.escape(" ".join(str(alt).split()), quote=True)
        if "image/svg+xml" in data:
            svg = "".join(data["image/svg+xml"])
            uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
            return {"type": "image", "src": uri, "alt": alt, "size": _svg_size(svg)}
        for mime in ("image/png", "image/jpeg"):
            if mime in data:
                payload = re.sub(r"\s+", "", "".join(data[mime]))
                if not _BASE64.fullmatch(payload):
                    raise CollabStatsError(f"{where}: the {mime} output is not base64 data")
                return {"type": "image", "src": f"data:{mime};base64,{payload}", "alt": alt,
                        "size": _png_size(payload) if mime == "image/png" else ""}
        if "text/html" in data:
            fragment = _checked_html("".join(data["text/html"]).strip(), where)
            opening = re.match(r"^<table\b[^>]*>", fragment, re.I)
            if opening:
                return {"type": "table", "open": opening.group(0),
                        "rest": fragment[opening.end():]}
            return {"type": "html", "html": fragment}
        if "text/markdown" in data:
            return {"type": "html", "html": _markdown("".join(data["text/markdown"]), ctx, 0)}
        if "text/plain" in data:
            return {"type": "text", "text": html.escape("".join(data["text/plain"]))}
        return None


def _svg_size(svg: str) -> str:
    """``width``/``height`` attributes for an SVG figure: its size in CSS pixels, enlarged a
    little (matplotlib's 10 pt text would read small beside 19 px body text); the style sheet
    shrinks it to the column when it is wider."""
    root = svg[: svg.find(">") + 1]
    size = [re.search(rf'\b{dim}="([0-9.]+)(pt|px)?"', root) for dim in ("width", "height")]
    if not all(size):
        return ""
    w, h = (float(m.group(1)) * (4 / 3 if m.group(2) in (None, "pt") else 1) * _FIGURE_SCALE
            for m in size)
    return f' width="{round(w)}" height="{round(h)}"'


def _png_size(payload: str) -> str:
    head = base64.b64decode(payload[:32] + "=" * (-len(payload[:32]) % 4))
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 24:
        return ""
    return (f' width="{int.from_bytes(head[16:20], "big")}"'
            f' height="{int.from_bytes(head[20:24], "big")}"')


def _page(front: dict[str, Any], html_format: dict[str, Any], ctx: _Context) -> dict[str, Any]:
    """What the template needs for the page header, contents and footer."""
    title_html = _inline(front.get("title") or "Report", ctx)
    authors = front.get("author") or []
    authors = authors if isinstance(authors, list) else [authors]
    authors = [a.get("name", "") if isinstance(a, dict) else str(a) for a in authors]
    date = front.get("date")
    iso, text = _date(date)
    lang = html_format.get("lang") or front.get("lang") or "en-GB"
    meta = front.get("collab-stats") if isinstance(front.get("collab-stats"), dict) else {}
    generated = meta.get("generated")
    return {
        "lang": html.escape(str(lang), quote=True),
        "title_html": title_html,
        "title_text": _plain(title_html),
        "subtitle_html": _inline(front["subtitle"], ctx) if front.get("subtitle") else "",
        "authors_html": [_inline(a, ctx) for a in authors if a],
        "date_iso": iso,
        "date_text": text,
        "toc": _nest(ctx.toc),
        "version": html.escape(str(meta.get("package-version", "")), quote=True),
        "generated": _date(str(generated)[:10])[1] if generated else "",
    }


def _date(value: Any) -> tuple[str, str]:
    if value in (None, ""):
        return "", ""
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return "", html.escape(str(value))
    return day.isoformat(), f"{day.day} {day:%B %Y}"


def _nest(flat: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Headings in order -> a tree by level (h3 under the h2 before it)."""
    root: list[dict[str, Any]] = []
    stack: list[dict[str, Any]] = []
    for entry in flat:
        node = {**entry, "children": []}
        while stack and stack[-1]["level"] >= node["level"]:
            stack.pop()
        (stack[-1]["children"] if stack else root).append(node)
        stack.append(node)
    return root


# -- exporter ------------------------------------------------------------------------------

def _strip_preprocess(exporter: TemplateExporter, nb: NotebookNode, resources: dict[str, Any]):
    for preprocessor in exporter._preprocessors:
        nb, resources = preprocessor(nb, resources)
    return nb, resources


class CollabHTMLExporter(TemplateExporter):
    """nbconvert exporter for report notebooks: our template and preprocessors only."""

    export_from_notebook = None
    output_mimetype = "text/html"

    @default("file_extension")
    def _file_extension_default(self) -> str:
        return ".html"

    @default("template_name")
    def _template_name_default(self) -> str:
        return "collab"

    @default("extra_template_basedirs")
    def _extra_template_basedirs_default(self) -> list[str]:
        return [str(TEMPLATE_DIR)]

    @default("default_preprocessors")
    def _default_preprocessors_default(self) -> list[Any]:
        return []

    @default("preprocessors")
    def _preprocessors_default(self) -> list[Any]:
        return [FrontMatterPreprocessor, CellOptionsPreprocessor, NumberingPreprocessor,
                MarkdownPreprocessor]

    def _preprocess(self, nb: NotebookNode, resources: dict[str, Any]):
        # nbconvert copies the notebook again and validates it after every preprocessor;
        # from_notebook_node has already copied it, and it was validated when it was built.
        return _strip_preprocess(self, nb, resources)


_LOCAL = threading.local()


def _exporter() -> CollabHTMLExporter:
    """One exporter per thread (nbconvert exporters keep per-call state)."""
    exporter = getattr(_LOCAL, "exporter", None)
    if exporter is None:
        exporter = _LOCAL.exporter = CollabHTMLExporter()
    return exporter


def render_page(nb: NotebookNode) -> RenderedPage:
    """Render a report notebook and say what was numbered and what could not be resolved.

    Parameters
    ----------
    nb : NotebookNode
        A notebook as :meth:`reports.notebook.ReportNotebook.build` makes it (or the same
        notebook after re-execution in Jupyter). It is not modified.

    Raises
    ------
    CollabStatsError
        If an HTML output holds a script, an event handler, embedded or external content.
    """
    body, resources = _exporter().from_notebook_node(nb)
    ctx = _ctx(resources)
    return RenderedPage(html=body, title=html.unescape(resources["collab"]["page"]["title_text"]),
                        figures=tuple(ctx.figures), tables=tuple(ctx.tables),
                        unresolved=tuple(ctx.unresolved))


def render_html(nb: NotebookNode, *, out: Path | None = None) -> str:
    """Render a report notebook to one self-contained HTML page (written atomically to ``out``).

    See the module docstring for what is honoured; :func:`render_page` gives the same page
    with the figure and table numbering and any unresolved cross-references.
    """
    page = render_page(nb).html
    if out is not None:
        write_text_atomic(out, page)
    return page


def unresolved_references(nb: NotebookNode) -> list[str]:
    """Cross-references (``@fig-x``, ``@tbl-x``) in ``nb`` whose label it does not define."""
    return list(render_page(nb).unresolved)
