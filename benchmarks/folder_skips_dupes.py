"""What indexing a whole real folder skips, collapses and stores.

Indexes a folder (default: Debian's python3.11-doc HTML tree, 1,063 files)
with the real parsers, the real MiniLM chunker and the real skip and
duplicate rules, but a zero-cost embedder (the vectors are not what is
measured here; embedding ~25k chunks takes 10+ minutes of two cores).
Prints and writes JSON: files indexed, skipped by reason, duplicates (and
how many are a Sphinx ``_sources`` copy of their own page: the expected
relation, so the rest are false matches), failed, chunks stored, and the
chunks the skipped and duplicate files would have added without the rules.

    python benchmarks/folder_skips_dupes.py [--corpus DIR] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from backend.knowledge.chunking import Chunker
from backend.knowledge.dedupe import source_page
from backend.knowledge.embedder import Embedder
from backend.knowledge.parsers import parse_file
from backend.knowledge.service import KnowledgeBase
from backend.store.db import Database
from backend.store.migrations import migrate
from benchmarks.inputs import CORPUS


class ZeroEmbedder(Embedder):
    """Constant unit vectors: the index is complete, the search meaningless."""

    name = "zero-benchmark-embedder"
    dim = 8
    max_tokens = 256

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[:, 0] = 1.0
        return out


def chunks_of(path: Path, chunker: Chunker) -> int:
    """Chunks a file would have added if indexed (0 if it does not parse)."""
    try:
        return len(list(chunker.chunk(parse_file(path))))
    except Exception:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        migrate(db)
        kb = KnowledgeBase(db, ZeroEmbedder())
        folder = kb.add_folder(args.corpus)
        start = time.perf_counter()
        summary = kb.index()
        seconds = time.perf_counter() - start
        chunker = kb.chunker
        root = Path(folder.path)
        expected = sum(
            1
            for p, c in summary.duplicates
            if source_page(Path(p).relative_to(root)) is not None
            and root / str(source_page(Path(p).relative_to(root))) == Path(c)
        )
        dup_chunks = sum(chunks_of(Path(p), chunker) for p, _ in summary.duplicates)
        skipped_files: list[Path] = []
        for p, _ in summary.skipped:
            path = Path(p)
            if path.is_dir():
                skipped_files += [f for f in path.rglob("*") if f.is_file()]
            else:
                skipped_files.append(path)
        skip_chunks = sum(chunks_of(f, chunker) for f in skipped_files)
        result = {
            "corpus": str(args.corpus),
            "files_indexed": summary.indexed,
            "skipped": len(summary.skipped),
            "skipped_by_reason": summary.skipped_by_reason(),
            "duplicates": len(summary.duplicates),
            "duplicates_of_own_page": expected,
            "duplicates_other": len(summary.duplicates) - expected,
            "failed": len(summary.failed),
            "failed_reasons": [r for _, r in summary.failed],
            "chunks_stored": summary.chunks,
            "chunks_avoided_duplicates": dup_chunks,
            "chunks_avoided_skipped": skip_chunks,
            "chunks_without_rules": summary.chunks + dup_chunks + skip_chunks,
            "seconds": round(seconds, 1),
        }
        db.close()
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
