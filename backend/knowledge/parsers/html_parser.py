"""HTML: the main content only, sectioned by h1-h6 and Sphinx API entries.

Navigation, sidebars, headers/footers, scripts and styles are dropped because
they repeat on every page and would make every page match every query. In
Sphinx docs each ``<dl class="py ...">`` entry (``<dt id="json.dumps">``) is a
natural section: its signature becomes the last element of the heading path.

Hidden text is dropped, not kept: elements hidden inline (``style``
``display:none`` / ``visibility:hidden``, the ``hidden`` attribute,
``aria-hidden="true"``) and comments. A reader of the page never sees it,
so it cannot be part of what the page says, and it is the classic place to
hide instructions for an assistant; keeping it (even flagged) would put in
front of the model words the user cannot check on the page. Where the
dropped text mattered -- a hidden element with a few words in it, or a
comment that ``scan`` finds suspicious -- the text keeps the visible
placeholder ``[hidden HTML text removed]``, which ``scan`` flags, so the
chunk that held it carries a "hidden HTML text" warning. Tiny hidden bits
(icons, "#" anchors) and ordinary comments vanish silently. Hiding through
stylesheet classes is not resolved (that would need a CSS engine).
"""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, Tag

from backend.knowledge.injection import HIDDEN_PLACEHOLDER, scan
from backend.knowledge.parsers.base import DocumentBuilder, Parser
from backend.knowledge.parsers.sniff import decode_text
from backend.knowledge.records import ParsedDocument

_DROP_TAGS = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside",
              "form", "button", "iframe", "svg")  # fmt: skip
_DROP_CLASSES = frozenset(
    {"sphinxsidebar", "related", "footer", "headerlink", "clearer", "skip-link", "sidebar"}
)
_DROP_IDS = frozenset({"searchbox", "sidebar"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "table", "tr", "blockquote",
    "dl", "dt", "dd", "br", "hr", "figure", "figcaption", "details", "summary", "body",
}  # fmt: skip
_SPACES = re.compile(r"\s+")
_HIDING_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
HIDDEN_MIN_WORDS = 3


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


class _Walker:
    """Walks the tree in order, flushing a section at every heading change."""

    def __init__(self) -> None:
        self.builder = DocumentBuilder()
        self.headings: list[tuple[int, str]] = []
        self.api: list[str] = []
        self.buf: list[str] = []

    def path(self) -> tuple[str, ...]:
        return tuple(t for _, t in self.headings if t) + tuple(self.api)

    def flush(self) -> None:
        text = "".join(self.buf)
        self.buf = []
        text = re.sub(r"[ \t]+\n", "\n", text)
        text = re.sub(r"\n{3,}", "\n\n", text)
        self.builder.add(text, self.path())

    def newline(self) -> None:
        if self.buf and not self.buf[-1].endswith("\n"):
            self.buf.append("\n")

    def inline(self, text: str) -> None:
        text = _SPACES.sub(" ", text)
        if not self.buf or self.buf[-1].endswith("\n"):
            text = text.lstrip()
        if text:
            self.buf.append(text)

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, (Comment, Doctype)):
                continue
            if isinstance(child, NavigableString):
                self.inline(str(child))
            elif isinstance(child, Tag):
                self.element(child)

    def element(self, tag: Tag) -> None:
        name = tag.name
        if name in _HEADINGS:
            self.heading(_HEADINGS[name], _clean(tag.get_text()))
        elif name == "dl" and self._is_api(tag):
            self.api_list(tag)
        elif name == "pre":
            self.newline()
            self.buf.append(tag.get_text().strip("\n") + "\n")
        elif name in _BLOCKS:
            self.newline()
            self.walk(tag)
            self.newline()
        else:
            self.walk(tag)

    def heading(self, level: int, title: str) -> None:
        self.flush()
        self.api = []
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, title))
        if title:
            self.buf.append(title + "\n")

    @staticmethod
    def _is_api(tag: Tag) -> bool:
        classes: list[str] | str = tag.get("class") or []
        if "py" in classes:
            return True
        return any(
            isinstance(dt, Tag) and dt.get("id") for dt in tag.find_all("dt", recursive=False)
        )

    def api_list(self, dl: Tag) -> None:
        depth = len(self.api)
        for child in dl.children:
            if not isinstance(child, Tag):
                continue
            if child.name == "dt":
                self.flush()
                del self.api[depth:]
                signature = _clean(child.get_text())
                self.api.append(signature)
                self.buf.append(signature + "\n")
            elif child.name == "dd":
                self.walk(child)
                self.newline()
        self.flush()
        del self.api[depth:]


class HtmlParser(Parser):
    name = "html"
    extensions = (".html", ".htm", ".xhtml")

    def parse(self, path: Path, data: bytes) -> ParsedDocument:
        soup = BeautifulSoup(decode_text(data), "html.parser")
        title_tag = soup.find("title")
        title = _clean(title_tag.get_text()) if title_tag else None
        root = _strip_chrome(soup)
        walker = _Walker()
        walker.walk(root)
        walker.flush()
        return walker.builder.build(self.name, title)


def _strip_chrome(soup: BeautifulSoup) -> Tag:
    """Drop navigation and boilerplate in one pass (CSS selectors were half
    the parse time on the Python docs) and return the main content element."""
    main: dict[str, Tag] = {}
    doomed: list[Tag] = []
    hidden: list[Tag] = []
    for tag in soup.find_all(True):
        classes: set[str] = set(tag.get("class") or ())
        if _is_hidden(tag):
            hidden.append(tag)
            continue
        if (
            tag.name in _DROP_TAGS
            or classes & _DROP_CLASSES
            or tag.get("id") in _DROP_IDS
            or tag.get("role") == "navigation"
        ):
            doomed.append(tag)
            continue
        if tag.get("role") == "main":
            main.setdefault("role", tag)
        elif tag.name in ("main", "article", "body"):
            main.setdefault(tag.name, tag)
        elif tag.name == "div" and "body" in classes:
            main.setdefault("div.body", tag)
    for tag in doomed:
        if not tag.decomposed:
            tag.decompose()
    _drop_hidden(soup, hidden)
    for key in ("role", "main", "article", "div.body", "body"):
        candidate = main.get(key)
        if candidate is not None and not candidate.decomposed:
            return candidate
    return soup


def _is_hidden(tag: Tag) -> bool:
    style = tag.get("style")
    return (
        tag.has_attr("hidden")
        or str(tag.get("aria-hidden", "")).strip().lower() == "true"
        or (isinstance(style, str) and _HIDING_STYLE.search(style) is not None)
    )


def _drop_hidden(soup: BeautifulSoup, hidden: list[Tag]) -> None:
    """Remove hidden elements and comments, leaving the placeholder where
    what was removed mattered (see the module docstring)."""
    for tag in hidden:
        if tag.decomposed:  # inside chrome or another hidden element
            continue
        text = _clean(tag.get_text(" "))
        if len(text.split()) >= HIDDEN_MIN_WORDS or scan(text):
            tag.replace_with(NavigableString(f" {HIDDEN_PLACEHOLDER} "))
        else:
            tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        if scan(str(comment)):
            comment.replace_with(NavigableString(f" {HIDDEN_PLACEHOLDER} "))
