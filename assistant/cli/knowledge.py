"""CLI sub-commands for the knowledge base: ``folders``, ``documents``,
``index``, ``search``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from assistant.cli.local import open_local
from backend.api import Document, IndexProgress, IndexSummary


def _progress_printer() -> Callable[[IndexProgress], None]:
    """A one-line progress bar on a terminal (nothing when piped)."""
    tty = sys.stderr.isatty()

    def show(p: IndexProgress) -> None:
        if not tty or p.total == 0:
            return
        width = 30
        filled = int(width * p.done / p.total)
        eta = f" ETA {p.eta_s:.0f}s" if p.eta_s is not None else ""
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total} files, "
            f"{p.chunks} chunks, {p.failed} failed{eta}   "
        )
        sys.stderr.flush()

    return show


def _print_summary(summary: IndexSummary, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2))
        return
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(
        f"indexed {summary.indexed}, unchanged {summary.unchanged}, removed {summary.removed}, "
        f"skipped {len(summary.skipped)}, duplicates {len(summary.duplicates)}, "
        f"failed {len(summary.failed)}, {summary.chunks} chunks in {summary.seconds:.1f} s"
        + (" (cancelled)" if summary.cancelled else "")
    )
    if summary.skipped:
        reasons = ", ".join(f"{r} {n}" for r, n in summary.skipped_by_reason().items())
        print(f"  skipped (not documents): {reasons}; `assistant documents --status skipped`")
    for path, reason in summary.failed:
        print(f"  failed: {path}: {reason}")


def _document_dict(doc: Document) -> dict[str, object]:
    return {
        "path": doc.path,
        "status": "duplicate" if doc.duplicate_of else doc.status,
        "chunks": doc.chunk_count,
        "error": doc.error,
        "duplicate_of": doc.duplicate_of,
    }


def _document_line(doc: Document, folder: str) -> str:
    def rel(path: str) -> str:
        p = Path(path)
        return str(p.relative_to(folder)) if p.is_relative_to(folder) else path

    if doc.duplicate_of:
        return f"duplicate {rel(doc.path)}  (duplicate of {rel(doc.duplicate_of)})"
    extra = f"  ({doc.error})" if doc.error else ""
    return f"{doc.status:<9} {rel(doc.path)}{extra}"


async def cmd_folders(args: argparse.Namespace) -> int:
    backend = await open_local()
    try:
        if args.folders_command == "add":
            max_bytes = int(args.max_mb * 1_000_000) if args.max_mb else None
            folder = await backend.documents.add_folder(
                args.path, tuple(args.include), tuple(args.exclude), max_bytes
            )
            print(f"watching {folder.path} (id {folder.id}); run `assistant index` to index it")
        elif args.folders_command == "remove":
            folder = await backend.documents.remove_folder(args.path)
            print(f"removed {folder.path} and its index")
        else:
            statuses = await backend.documents.folders()
            files = {}
            if args.files or args.json:
                for st in statuses:
                    files[st.folder.id] = await backend.documents.list_documents(st.folder.id)
            if args.json:
                out = []
                for st in statuses:
                    d = st.as_dict()
                    d["files"] = [_document_dict(doc) for doc in files[st.folder.id]]
                    out.append(d)
                print(json.dumps({"folders": out}, indent=2))
            elif not statuses:
                print("no watched folders; add one with `assistant folders add PATH`")
            for st in statuses if not args.json else []:
                print(
                    f"{st.folder.id:>3}  {st.folder.path}  indexed {st.indexed}, pending "
                    f"{st.pending}, failed {st.failed}, skipped {st.skipped}, duplicates "
                    f"{st.duplicates}, {st.chunks} chunks"
                )
                for doc in files.get(st.folder.id, []):
                    print(f"       {_document_line(doc, st.folder.path)}")
    finally:
        await backend.close()
    return 0


async def cmd_documents(args: argparse.Namespace) -> int:
    """Every document with its status; ``duplicate`` is a pseudo-status (a
    skipped copy of an indexed document)."""
    backend = await open_local()
    try:
        statuses = await backend.documents.folders()
        status = None if args.status in (None, "duplicate") else args.status
        rows: list[tuple[str, Document]] = []
        for st in statuses:
            for doc in await backend.documents.list_documents(st.folder.id, status):
                if args.status == "duplicate" and not doc.duplicate_of:
                    continue
                if args.status == "skipped" and doc.duplicate_of:
                    continue
                rows.append((st.folder.path, doc))
    finally:
        await backend.close()
    if args.json:
        print(json.dumps({"documents": [_document_dict(d) for _, d in rows]}, indent=2))
        return 0
    if not rows:
        print("no documents" + (f" with status {args.status}" if args.status else ""))
    for folder, doc in rows:
        print(_document_line(doc, folder))
    return 0


async def cmd_index(args: argparse.Namespace) -> int:
    backend = await open_local()
    try:
        if args.reembed:
            await backend.documents.reembed()
        summary = await backend.documents.index(progress=_progress_printer())
        _print_summary(summary, args.json)
        if args.watch:
            notices = await backend.documents.watch_folders(
                lambda s: (
                    _print_summary(s, args.json)
                    if (s.indexed or s.removed or s.failed or s.skipped or s.duplicates)
                    else None
                )
            )
            for notice in notices:
                print(f"note: {notice}", file=sys.stderr)
            print("watching for changes; Ctrl+C stops", file=sys.stderr)
            while True:
                await asyncio.sleep(3600)
    finally:
        await backend.close()
    return 1 if summary.cancelled else 0


async def cmd_search(args: argparse.Namespace) -> int:
    """Search the index; ``--rerank`` runs ``retrieve(mode="hybrid+rerank")``,
    what answers read. The reranker answers use is reported either way (in
    the JSON, and as a first line with ``--rerank``)."""
    backend = await open_local()
    try:
        in_use = await backend.documents.reranker_in_use()
        if args.rerank:
            result = await backend.documents.retrieve(args.query, mode="hybrid+rerank", k=args.k)
            hits = result.hits
        else:
            hits = await backend.documents.search_documents(args.query, args.k, args.mode)
    finally:
        await backend.close()
    if args.json:
        print(
            json.dumps(
                {
                    "query": args.query,
                    "mode": "hybrid+rerank" if args.rerank else args.mode,
                    "reranked": args.rerank and in_use.kind != "none",
                    "reranker": {
                        **asdict(in_use),
                        "path": str(in_use.path) if in_use.path else None,
                    },
                    "results": [
                        {
                            "path": h.path,
                            "heading": h.heading,
                            "page": h.page,
                            "score": h.score,
                            "text": h.text,
                            "start": h.start,
                            "end": h.end,
                        }
                        for h in hits
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    if args.rerank:
        print(f"reranker: {in_use.summary()}")
    if not hits:
        print("no matches")
    for i, h in enumerate(hits, 1):
        where = (
            h.path
            + (f" > {h.heading}" if h.heading else "")
            + (f" (page {h.page})" if h.page else "")
        )
        snippet = " ".join(h.text.split())[:200]
        print(f"{i}. [{h.score:.3f}] {where}\n   {snippet}")
    return 0
