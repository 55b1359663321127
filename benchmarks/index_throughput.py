"""How fast does the knowledge base index, and what does it cost on top of
the raw embedding model?

On Debian's python3.11-doc HTML (a deterministic sample by default: every
Nth ``*.html`` file sorted by path, copied into a temp folder; ``--files 0``
takes the whole corpus), in one run:

* end-to-end: a fresh DB + ``KnowledgeBase``, add the folder, ``index()``:
  files, chunks, seconds, chunks/s;
* raw baseline: ``SentenceTransformer.encode`` (same model, batch size 32)
  on the same texts the indexer embedded (the same files chunked by the same
  ``Chunker``, formatted by ``Indexer.embed_text``): chunks/s, and the ratio
  end-to-end / raw (target >= 0.85);
* restart with nothing changed: a new ``KnowledgeBase`` on the same DB,
  ``index()``: seconds and chunks re-embedded (target 0);
* watcher latency: ``kb.watch()``, add a unique word to one file, poll
  keyword search until it is found: seconds from save to searchable
  (target <= 2 s), median of ``--watch-repeats``;
* peak RSS of the process.

The embedding model is loaded (and warmed up) before anything is timed, so
no figure includes the model load; its time is reported on its own.

Prints a table and writes JSON (``--out``, default
``benchmarks/results/index_throughput.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from inputs import CORPUS

from backend.knowledge.embedder import DelegatingEmbedder, Embedder, SentenceTransformerEmbedder
from backend.knowledge.records import IndexSummary
from backend.knowledge.service import DEFAULT_MAX_FILE_BYTES, KnowledgeBase
from backend.store.db import Database
from backend.store.migrations import migrate

BATCH_SIZE = 32


class CountingEmbedder(DelegatingEmbedder):
    """Delegates to a real embedder and counts what it is asked to embed."""

    def __init__(self, inner: Embedder, keep_texts: bool = False) -> None:
        super().__init__(inner)
        self.calls = 0
        self.texts = 0
        self.seconds = 0.0
        self.keep_texts = keep_texts
        self.seen: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        start = time.perf_counter()
        out = self.inner.embed(texts)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.texts += len(texts)
        if self.keep_texts:
            self.seen += texts
        return out


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def sample_files(root: Path, n: int) -> list[Path]:
    """Every Nth ``*.html`` file under ``root`` sorted by path (all when n <= 0)."""
    files = sorted(root.rglob("*.html"))
    if not files:
        raise SystemExit(f"no HTML files under {root} (apt install python3.11-doc)")
    if n <= 0 or n >= len(files):
        return files
    return [files[i * len(files) // n] for i in range(n)]


def copy_sample(files: list[Path], root: Path, dest: Path) -> list[Path]:
    out = []
    for f in files:
        target = dest / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
        out.append(target)
    return out


def chunk_texts(kb: KnowledgeBase, files: list[Path]) -> list[str]:
    """The texts the indexer embeds for ``files``: parsed by ``parse_file``,
    chunked by the knowledge base's own ``Chunker``, formatted by
    ``Indexer.embed_text``."""
    from backend.knowledge.indexer import Indexer
    from backend.knowledge.parsers import parse_file

    texts: list[str] = []
    for f in sorted(files):
        try:
            doc = parse_file(f, DEFAULT_MAX_FILE_BYTES)
        except Exception:  # the indexer records these as failed and embeds nothing
            continue
        texts += [Indexer.embed_text(c) for c in kb.chunker.chunk(doc)]
    return texts


def raw_encode(model: Any, texts: list[str]) -> float:
    start = time.perf_counter()
    model.encode(
        texts,
        batch_size=BATCH_SIZE,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return time.perf_counter() - start


def pick_watch_file(files: list[Path]) -> Path:
    """The median-sized file of the sample: a typical document to edit."""
    return sorted(files, key=lambda f: (f.stat().st_size, str(f)))[len(files) // 2]


def add_word(path: Path, word: str) -> None:
    """Put ``word`` in a paragraph at the top of the main content (the HTML
    parser drops footers, so text just before ``</body>`` is never indexed)."""
    text = path.read_text(encoding="utf-8")
    para = f"<p>{word}</p>\n"
    main = text.find('role="main"')
    idx = text.find(">", main) + 1 if main >= 0 else text.rfind("</body>")
    text = text[:idx] + para + text[idx:] if idx > 0 else text + para
    path.write_text(text, encoding="utf-8")


def measure_watch(
    kb: KnowledgeBase, counting: CountingEmbedder, path: Path, repeats: int, timeout_s: float
) -> dict[str, Any]:
    swept = threading.Event()
    sweeps: list[IndexSummary] = []

    def on_swept(summary: IndexSummary) -> None:
        sweeps.append(summary)
        swept.set()

    notices = kb.watch(on_swept)
    time.sleep(0.5)  # let the observer start
    runs = []
    for _ in range(repeats):
        word = f"benchword{uuid.uuid4().hex[:12]}"
        swept.clear()
        before = counting.texts
        add_word(path, word)
        saved = time.perf_counter()
        latency = None
        while time.perf_counter() - saved < timeout_s:
            if any(word in h.text for h in kb.search(word, k=5, mode="keyword")):
                latency = time.perf_counter() - saved
                break
            time.sleep(0.01)
        swept.wait(timeout=timeout_s)  # let the sweep finish before the next edit
        time.sleep(0.6)  # and the debounce of any late event
        runs.append({"seconds": latency, "reembedded_chunks": counting.texts - before})
    kb.close()
    found = [r["seconds"] for r in runs if r["seconds"] is not None]
    return {
        "file": str(path.name),
        "file_bytes": path.stat().st_size,
        "notices": notices,
        "runs": runs,
        "sweeps": len(sweeps),
        "median_s": statistics.median(found) if found else None,
        "all_found": len(found) == len(runs),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    rss: dict[str, float] = {"start": peak_rss_mib()}
    base = SentenceTransformerEmbedder(batch_size=BATCH_SIZE)
    start = time.perf_counter()
    model = base._load()
    base.embed(["warm up the model", "and its tokenizer"])
    model_load_s = time.perf_counter() - start
    rss["model_loaded"] = peak_rss_mib()

    tmp = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        files = sample_files(args.corpus, args.files)
        copied = copy_sample(files, args.corpus, tmp / "docs")
        corpus_bytes = sum(f.stat().st_size for f in copied)
        db_path = tmp / "kb.sqlite"

        # -- end-to-end --------------------------------------------------------
        db = Database(db_path)
        migrate(db)
        counting = CountingEmbedder(base, keep_texts=True)
        kb = KnowledgeBase(db, counting)
        kb.add_folder(tmp / "docs")
        start = time.perf_counter()
        summary = kb.index()
        e2e_s = time.perf_counter() - start
        counts = kb.store.counts()
        rss["indexed"] = peak_rss_mib()

        # -- raw baseline on the same texts ------------------------------------
        texts = chunk_texts(kb, copied)
        same_texts = sorted(texts) == sorted(counting.seen)
        counting.seen = []
        raw_s = raw_encode(model, texts)
        rss["raw_encoded"] = peak_rss_mib()
        kb.close()
        db.close()

        # -- restart, nothing changed ------------------------------------------
        db = Database(db_path)
        migrate(db)
        counting2 = CountingEmbedder(base)
        kb2 = KnowledgeBase(db, counting2)
        start = time.perf_counter()
        again = kb2.index()
        restart_s = time.perf_counter() - start
        restart_reembedded = counting2.texts

        # -- watcher latency ---------------------------------------------------
        target = pick_watch_file(copied)
        watch = measure_watch(kb2, counting2, target, args.watch_repeats, args.watch_timeout)
        doc = kb2.store.document(str(target.resolve()))
        watch["file_chunks"] = doc.chunk_count if doc else None
        db.close()
        rss["end"] = peak_rss_mib()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    e2e_rate = summary.chunks / e2e_s if e2e_s > 0 else None
    raw_rate = len(texts) / raw_s if raw_s > 0 else None
    ratio = e2e_rate / raw_rate if e2e_rate and raw_rate else None
    watch_s = watch["median_s"]
    return {
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
        "model": base.name,
        "corpus": {
            "root": str(args.corpus),
            "sample": "all" if args.files <= 0 else f"every Nth of the sorted *.html, {args.files}",
            "files": len(files),
            "bytes": corpus_bytes,
        },
        "model_load_s": model_load_s,
        "end_to_end": {
            "files_indexed": summary.indexed,
            "files_failed": len(summary.failed),
            "failed": [{"path": p, "reason": r} for p, r in summary.failed[:10]],
            "chunks": summary.chunks,
            "store_counts": counts,
            "seconds": e2e_s,
            "chunks_per_s": e2e_rate,
            "embed_seconds_inside": counting.seconds,
            "embed_calls": counting.calls,
        },
        "raw": {
            "chunks": len(texts),
            "same_texts_as_indexer": same_texts,
            "batch_size": BATCH_SIZE,
            "seconds": raw_s,
            "chunks_per_s": raw_rate,
        },
        "ratio_end_to_end_over_raw": ratio,
        "restart": {
            "seconds": restart_s,
            "unchanged": again.unchanged,
            "indexed": again.indexed,
            "reembedded_chunks": restart_reembedded,
        },
        "watch": watch,
        "peak_rss_mib": rss,
        "targets": {
            "ratio>=0.85": ratio is not None and ratio >= 0.85,
            "restart_reembedded==0": restart_reembedded == 0,
            "watch_median<=2s": watch_s is not None and watch_s <= 2.0 and watch["all_found"],
        },
    }


def report(result: dict[str, Any]) -> None:
    def f(v: float | None, d: int = 1) -> str:
        return "-" if v is None else f"{v:.{d}f}"

    c, e, r = result["corpus"], result["end_to_end"], result["raw"]
    rs, w = result["restart"], result["watch"]
    print(
        f"corpus {c['root']}: {c['files']} files ({c['sample']}), {c['bytes'] / 1e6:.1f} MB; "
        f"model {result['model']}, {result['machine']['torch_threads']} torch threads; "
        f"model load {f(result['model_load_s'])} s (not in any figure below)"
    )
    print(f"{'':34}{'chunks':>8}{'seconds':>10}{'chunks/s':>10}")
    print(
        f"{'end-to-end KnowledgeBase.index()':34}{e['chunks']:>8}{f(e['seconds']):>10}"
        f"{f(e['chunks_per_s']):>10}"
    )
    print(
        f"{'raw SentenceTransformer.encode':34}{r['chunks']:>8}{f(r['seconds']):>10}"
        f"{f(r['chunks_per_s']):>10}"
    )
    print(
        f"ratio end-to-end / raw: {f(result['ratio_end_to_end_over_raw'], 3)}"
        f"  (files indexed {e['files_indexed']}, failed {e['files_failed']}; "
        f"same texts as the indexer: {r['same_texts_as_indexer']})"
    )
    print(
        f"restart, nothing changed: {f(rs['seconds'], 3)} s, {rs['unchanged']} unchanged, "
        f"{rs['reembedded_chunks']} chunks re-embedded"
    )
    runs = " ".join(f(x["seconds"], 2) for x in w["runs"])
    print(
        f"watcher save -> searchable: median {f(w['median_s'], 2)} s (runs: {runs}) "
        f"editing {w['file']} ({w['file_bytes']} bytes, {w['file_chunks']} chunks)"
    )
    if w["notices"]:
        print("  watcher notices: " + "; ".join(w["notices"]))
    print("peak RSS MiB: " + ", ".join(f"{k} {v:.0f}" for k, v in result["peak_rss_mib"].items()))
    for name, ok in result["targets"].items():
        print(f"target {name}: {'met' if ok else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--files", type=int, default=60, help="sample size (every Nth file); 0 = whole corpus"
    )
    parser.add_argument("--watch-repeats", type=int, default=3)
    parser.add_argument("--watch-timeout", type=float, default=60.0)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "index_throughput.json"
    )
    args = parser.parse_args()
    result = run(args)
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
