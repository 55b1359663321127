"""Draw documentation pages at random, reproducibly, for the frozen question set.

Lists every ``*.html`` page under ``--root`` except Sphinx's generated pages
(``_sources/``, ``_static/``, ``genindex*``, ``py-modindex*``, ``search.html``)
and pages whose main text is shorter than ``--min-chars`` characters, sorts
the list, and prints ``random.Random(seed).sample(pages, n)`` one path a line
(relative to the root, in the order drawn).

Stdlib only. The text of a page is the visible text inside Sphinx's
``<div class="body" role="main">`` (the whole ``<body>`` when a page has no
such div), without ``<script>``/``<style>``, whitespace collapsed.

    python3 benchmarks/questions/sample_pages.py --n 90
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

DEFAULT_ROOT = "/usr/share/doc/python3.11/html"
DEFAULT_SEED = 20261204
MIN_CHARS = 2000

_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}


class _TextParser(HTMLParser):
    """Collects visible text: all of <body>, and separately the main div."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.body: list[str] = []
        self.main: list[str] = []
        self._in_body = False
        self._skip = 0  # depth inside <script>/<style>
        self._main_depth = 0  # open <div> count inside the main div; 0 = outside
        self.found_main = False

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self._in_body = True
        elif tag in ("script", "style"):
            self._skip += 1
        elif tag == "div":
            if self._main_depth:
                self._main_depth += 1
            elif dict(attrs).get("role") == "main":
                self._main_depth = 1
                self.found_main = True

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag == "div" and self._main_depth:
            self._main_depth -= 1

    def handle_data(self, data):
        if self._skip or not self._in_body:
            return
        self.body.append(data)
        if self._main_depth:
            self.main.append(data)


def page_text(path: Path) -> str:
    """The visible main text of one HTML page, whitespace collapsed."""
    parser = _TextParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    parts = parser.main if parser.found_main else parser.body
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def is_excluded(rel: str) -> bool:
    first = rel.split("/", 1)[0]
    name = rel.rsplit("/", 1)[-1]
    return (
        first in ("_sources", "_static")
        or name.startswith("genindex")
        or name.startswith("py-modindex")
        or rel == "search.html"
    )


def eligible_pages(root: Path, min_chars: int = MIN_CHARS) -> list[str]:
    pages = []
    for path in root.rglob("*.html"):
        rel = path.relative_to(root).as_posix()
        if is_excluded(rel):
            continue
        if len(page_text(path)) < min_chars:
            continue
        pages.append(rel)
    return sorted(pages)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=DEFAULT_ROOT, help="html/ folder of the docs")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--n", type=int, default=90, help="pages to draw")
    ap.add_argument(
        "--min-chars", type=int, default=MIN_CHARS, help="skip pages with less main text than this"
    )
    args = ap.parse_args(argv)
    root = Path(args.root)
    if not root.is_dir():
        print(f"no such folder: {root} (apt-get install python3.11-doc)", file=sys.stderr)
        return 2
    pages = eligible_pages(root, args.min_chars)
    if args.n > len(pages):
        print(f"only {len(pages)} eligible pages, cannot draw {args.n}", file=sys.stderr)
        return 2
    drawn = random.Random(args.seed).sample(pages, args.n)
    print(
        f"# {len(pages)} eligible pages under {root}; seed {args.seed}; n {args.n}", file=sys.stderr
    )
    for rel in drawn:
        print(rel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
