"""Validate the frozen fact-question set against the documentation it was written from.

Checks, for every line of the JSONL file:

- it is a JSON object with exactly the keys ``q`` (a non-empty question ending
  in '?'), ``gold`` (a non-empty list of paths relative to the html/ root) and
  ``answer`` (a non-empty string);
- every gold file exists under ``--root``;
- ``answer`` occurs (case-insensitive) in the visible text of at least one
  gold page (the same text ``sample_pages.py`` measures: the main content div);
- ``answer`` does not occur in the question itself;
- no question is repeated, no page (first gold) carries more than
  ``--max-per-page`` questions;
- nothing is copied from the dev sets (``--dev``): no identical question and no
  identical (answer, gold page) entry;
- with ``--draw-n N``: every question's first gold page is one of the pages
  ``sample_pages.py --seed SEED --n N`` draws.

It never runs any retrieval. ``--show`` prints the text around the first
occurrence of each answer, for reading the answering passage by hand.

    python3 benchmarks/questions/check_questions.py --draw-n 90
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from inputs import DEV, FACTS_DEV  # noqa: E402
from sample_pages import DEFAULT_ROOT, DEFAULT_SEED, eligible_pages, page_text  # noqa: E402

DEFAULT_FILE = HERE / "pydocs_facts_frozen.jsonl"
DEFAULT_DEV = [str(FACTS_DEV), str(DEV)]
KEYS = {"q", "gold", "answer"}


def load(path: Path) -> list[tuple[int, object]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                rows.append((n, exc))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--root", type=Path, default=Path(DEFAULT_ROOT))
    ap.add_argument(
        "--dev",
        nargs="*",
        default=DEFAULT_DEV,
        help="dev sets to check for copies (missing files are skipped)",
    )
    ap.add_argument("--max-per-page", type=int, default=2)
    ap.add_argument(
        "--draw-n",
        type=int,
        default=0,
        help="also check that first gold pages come from this draw (0: skip)",
    )
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--show", action="store_true", help="print each answer's context")
    args = ap.parse_args(argv)

    if not args.root.is_dir():
        print(f"no such folder: {args.root} (apt-get install python3.11-doc)", file=sys.stderr)
        return 2

    errors: list[str] = []
    texts: dict[str, str] = {}

    def text(rel: str) -> str:
        if rel not in texts:
            texts[rel] = page_text(args.root / rel).lower()
        return texts[rel]

    rows = load(args.file)
    good = []
    for n, row in rows:
        where = f"{args.file.name}:{n}"
        if isinstance(row, Exception):
            errors.append(f"{where}: not JSON ({row})")
            continue
        if not isinstance(row, dict) or set(row) != KEYS:
            errors.append(f"{where}: need exactly the keys {sorted(KEYS)}")
            continue
        q, gold, answer = row["q"], row["gold"], row["answer"]
        if not isinstance(q, str) or not q.strip() or not q.rstrip().endswith("?"):
            errors.append(f"{where}: q must be a non-empty question ending in '?'")
            continue
        if (
            not isinstance(gold, list)
            or not gold
            or not all(isinstance(g, str) and g and not g.startswith("/") for g in gold)
        ):
            errors.append(f"{where}: gold must be a non-empty list of relative paths")
            continue
        if not isinstance(answer, str) or not answer.strip():
            errors.append(f"{where}: answer must be a non-empty string")
            continue
        missing = [g for g in gold if not (args.root / g).is_file()]
        if missing:
            errors.append(f"{where}: gold file(s) not under {args.root}: {missing}")
            continue
        if answer.lower() in q.lower():
            errors.append(f"{where}: answer {answer!r} occurs in the question")
        hits = {g: text(g).count(answer.lower()) for g in gold}
        if not any(hits.values()):
            errors.append(f"{where}: answer {answer!r} occurs in no gold page {gold}")
        elif args.show:
            g = next(g for g in gold if hits[g])
            t = text(g)
            i = t.find(answer.lower())
            snippet = t[max(0, i - 150) : i + 250]
            print(f"[{n}] {q}\n    {answer!r} in {g} ({hits[g]}x): ...{snippet}...\n")
        good.append((n, q, gold, answer))

    qs = Counter(q.strip().lower() for _, q, _, _ in good)
    for q, c in qs.items():
        if c > 1:
            errors.append(f"question repeated {c} times: {q!r}")
    per_page = Counter(gold[0] for _, _, gold, _ in good)
    for page, c in per_page.items():
        if c > args.max_per_page:
            errors.append(f"{page}: {c} questions (max {args.max_per_page})")

    dev_q, dev_entries = set(), set()
    for path in map(Path, args.dev or []):
        if not path.is_file():
            print(f"note: dev set {path} not found, not compared", file=sys.stderr)
            continue
        for _, row in load(path):
            if isinstance(row, dict):
                dev_q.add(str(row.get("q", "")).strip().lower())
                for g in row.get("gold", []):
                    dev_entries.add((str(row.get("answer", "")).lower(), g))
    for n, q, gold, answer in good:
        if q.strip().lower() in dev_q:
            errors.append(f"{args.file.name}:{n}: question copied from a dev set")
        if any((answer.lower(), g) in dev_entries for g in gold):
            errors.append(f"{args.file.name}:{n}: ({answer!r}, gold) already in a dev set")

    if args.draw_n:
        pages = eligible_pages(args.root)
        drawn = set(random.Random(args.seed).sample(pages, args.draw_n))
        for n, _, gold, _ in good:
            if gold[0] not in drawn:
                errors.append(
                    f"{args.file.name}:{n}: first gold {gold[0]} is not in the draw "
                    f"(seed {args.seed}, n {args.draw_n})"
                )

    for e in errors:
        print("FAIL", e)
    print(
        f"{len(rows)} questions, {len(per_page)} pages (first gold), "
        f"{sum(1 for _, _, g, _ in good if len(g) > 1)} with more than one gold page; "
        f"{len(errors)} problem(s)"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
