"""What keeping prompt versions and full request inputs costs.

Prints and writes JSON (``--out``): milliseconds per request-log row
without and with prompt versions + inputs (a 6-message prompt of about 2 kB,
one 600-character reply), bytes of database per logged request, and the
time to hash the bundled model file the first time and from the cache.

    python benchmarks/prompt_log.py --rows 300 --out prompt_log.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from backend.chat.prompt_catalog import builtin
from backend.modelfiles.catalog import bundled_model_path
from backend.store.db import Database
from backend.store.migrations import migrate
from backend.store.request_inputs import FileHashes, RunInputs
from backend.store.requests import RequestLog


def _db_bytes(db: Database) -> int:
    page = db.query_one("PRAGMA page_size")[0]
    return int(db.query_one("PRAGMA page_count")[0]) * int(page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prompt-log-"))
    model = bundled_model_path()
    messages = [("system", "You are a helpful assistant. " * 6)]
    for i in range(5):
        messages.append(("user" if i % 2 == 0 else "assistant", f"turn {i} " + "words " * 60))
    prompts = [("preset:Assistant", messages[0][1]), *builtin("rag.instructions")]

    figures: dict[str, float] = {}
    for label, with_inputs in (("plain", False), ("versions_and_inputs", True)):
        db = Database(work / f"{label}.db")
        migrate(db)
        log = RequestLog(db)
        if with_inputs and model is not None:
            log.inputs.hashes.sha256(model)  # hashed once: measured below
        before = _db_bytes(db)
        started = time.perf_counter()
        for i in range(args.rows):
            log.record(
                runtime="llamacpp",
                model="smollm2-135m-instruct",
                usage=None,
                stop_reason="stop",
                prompts=prompts if with_inputs else (),
                inputs=RunInputs(
                    model_name="smollm2-135m-instruct",
                    model_path=model,
                    params={"temperature": 0.0, "top_p": 0.95, "max_tokens": 512},
                    messages=messages,
                    output=f"reply {i} " + "x" * 600,
                )
                if with_inputs
                else None,
            )
        figures[f"ms_per_row_{label}"] = (time.perf_counter() - started) * 1000 / args.rows
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        figures[f"bytes_per_row_{label}"] = (_db_bytes(db) - before) / args.rows
        db.close()

    if model is not None:
        db = Database(work / "hash.db")
        migrate(db)
        hashes = FileHashes(db)
        started = time.perf_counter()
        hashes.sha256(model)
        figures["model_mb"] = model.stat().st_size / 1e6
        figures["hash_first_ms"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        hashes.sha256(model)
        figures["hash_cached_ms"] = (time.perf_counter() - started) * 1000
        db.close()

    for key, value in figures.items():
        print(f"{key:32} {value:10.2f}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
