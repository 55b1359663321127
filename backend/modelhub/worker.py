"""Hub work in its own process: ``python -m backend.modelhub pull|search|quants ...``.

Why a process: huggingface_hub freezes ``HF_HUB_OFFLINE`` at import, and the
knowledge base sets it to 1 for its local model loads, so inside a running
app a pull may be refused (``hub.ensure_online``). A fresh process gets a
clean setting (``pull_in_subprocess`` starts it with ``HF_HUB_OFFLINE=0``:
asking for a pull is asking to go online). It also isolates the download:
the UI process never blocks on hashing gigabytes, and cancelling is a
``SIGTERM`` (the worker turns it into a cancel, so the partial file is
flushed and kept) -- even a ``SIGKILL`` only leaves a partial file that the
next pull resumes.

The worker writes one JSON object per line on stdout: ``{"event":
"progress", <PullProgress fields>}`` (at most ~10 a second), then ``{"event":
"done", "path": ..., ...}`` or ``{"event": "error", "error": <class name>,
"title": ..., "message": ...}``; exit status 0, 1 (error) or 130 (cancelled).
``search`` and ``quants`` answer ``{"event": "done", "results": [...]}``:
searching the Hub from the app needs the same fresh, online process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from backend.common.locations import Locations, default_locations
from backend.modelhub import errors
from backend.modelhub.catalog import Kind
from backend.modelhub.download import PullResult
from backend.modelhub.progress import ProgressCallback, PullProgress
from backend.modelhub.records import HubModel, QuantOption

EMIT_INTERVAL_S = 0.1


def _write(out: IO[str], obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m backend.modelhub")
    sub = p.add_subparsers(dest="command", required=True)
    pull = sub.add_parser("pull", help="download, verify and register a model")
    pull.add_argument("spec", help="catalog short name or Hub repo id (owner/name)")
    pull.add_argument("--quant")
    pull.add_argument("--filename")
    pull.add_argument("--kind", choices=("chat", "embedder", "reranker"))
    pull.add_argument("--revision")
    pull.add_argument("--dest", type=Path, help="models folder (default: <home>/models)")
    pull.add_argument("--home", type=Path, help="data folder (default: $ASSISTANT_HOME)")
    search = sub.add_parser("search", help="GGUF repos on the Hub matching a query")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=20)
    quants = sub.add_parser("quants", help="a Hub repo's GGUF quantizations with sizes")
    quants.add_argument("repo")
    return p


def _lookup(args: argparse.Namespace, stream: IO[str]) -> int:
    """``search`` or ``quants``: one answer line."""
    from backend.modelhub.search import repo_quants, search_hub

    try:
        if args.command == "search":
            found: list[Any] = search_hub(args.query, limit=args.limit)
        else:
            found = repo_quants(args.repo)
    except errors.ModelHubError as err:
        _write(stream, {"event": "error", "error": type(err).__name__, "title": err.title,
                        "message": str(err)})  # fmt: skip
        return 1
    _write(stream, {"event": "done", "results": [asdict(r) for r in found]})
    return 0


def main(argv: list[str] | None = None, out: IO[str] | None = None) -> int:
    """Run one pull, reporting as JSON lines on ``out`` (stdout).

    Returns:
        The exit status: 0 done, 1 failed, 130 cancelled.
    """
    from backend.modelhub.download import pull

    args = _parser().parse_args(argv)
    stream = out or sys.stdout
    if args.command != "pull":
        return _lookup(args, stream)
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    last: dict[str, Any] = {"at": 0.0, "status": ""}

    def report(p: PullProgress) -> None:
        now = time.monotonic()
        if p.status == last["status"] and now - last["at"] < EMIT_INTERVAL_S:
            return
        last.update(at=now, status=p.status)
        _write(stream, {"event": "progress", **asdict(p)})

    try:
        result = pull(
            args.spec,
            quant=args.quant,
            filename=args.filename,
            kind=args.kind,
            revision=args.revision,
            locations=default_locations(args.home),
            dest=args.dest,
            on_progress=report,
            cancel=cancel,
        )
    except errors.ModelHubError as err:
        event: dict[str, Any] = {"event": "error", "error": type(err).__name__, "title": err.title}
        event["message"] = str(err)
        if isinstance(err, errors.NotEnoughDiskError):
            event.update(needed=err.needed, free=err.free)
        _write(stream, event)
        return 130 if isinstance(err, errors.PullCancelledError) else 1
    _write(
        stream,
        {
            "event": "done",
            "path": str(result.path),
            "files": [str(f) for f in result.files],
            "repo": result.repo,
            "revision": result.revision,
            "quant": result.quant,
            "kind": result.kind,
            "total_bytes": result.total_bytes,
            "downloaded_bytes": result.downloaded_bytes,
            "already_present": result.already_present,
        },
    )
    return 0


def worker_command(
    spec: str,
    *,
    quant: str | None = None,
    filename: str | None = None,
    kind: Kind | None = None,
    dest: Path | None = None,
    home: Path | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The command line that runs one pull in a worker process."""
    cmd = [python, "-m", "backend.modelhub", "pull", spec]
    for flag, value in (("--quant", quant), ("--filename", filename), ("--kind", kind),
                        ("--dest", dest), ("--home", home)):  # fmt: skip
        if value is not None:
            cmd += [flag, str(value)]
    return cmd


def worker_env(online: bool = True) -> dict[str, str]:
    """The worker's environment: ours, with this package importable and
    ``HF_HUB_OFFLINE=0`` when ``online``."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding backend/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    if online:
        env["HF_HUB_OFFLINE"] = "0"
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return env


def _error(event: dict[str, Any]) -> errors.ModelHubError:
    cls = getattr(errors, str(event.get("error")), None)
    message = str(event.get("message", "the download worker failed"))
    if cls is errors.NotEnoughDiskError:
        return errors.NotEnoughDiskError(message, needed=event["needed"], free=event["free"])
    if isinstance(cls, type) and issubclass(cls, errors.ModelHubError):
        return cls(message)
    return errors.ModelHubError(message)


def pull_in_subprocess(
    spec: str,
    *,
    quant: str | None = None,
    filename: str | None = None,
    kind: Kind | None = None,
    locations: Locations | None = None,
    dest: Path | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    online: bool = True,
) -> PullResult:
    """``download.pull`` in a worker process, with progress and cancel relayed.

    Args:
        spec, quant, filename, kind, dest: as ``download.pull``.
        locations: the data folder (passed as ``--home``).
        on_progress: called with each ``PullProgress`` the worker reports.
        cancel: set it to stop; the worker gets ``SIGTERM`` and cancels cleanly.
        online: start the worker with ``HF_HUB_OFFLINE=0``.

    Returns:
        The registered model.

    Raises:
        The ``ModelHubError`` subclass the worker reported (same class and
        message), or ``ModelHubError`` if the worker died without a report.
    """
    home = (locations or default_locations()).home
    cmd = worker_command(spec, quant=quant, filename=filename, kind=kind, dest=dest, home=home)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=worker_env(online))
    assert proc.stdout is not None

    def watch() -> None:
        while proc.poll() is None:
            if cancel is not None and cancel.wait(0.2):
                proc.send_signal(signal.SIGTERM)
                return
            if cancel is None:
                time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    final: dict[str, Any] | None = None
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "progress" and on_progress is not None:
            fields = {k: v for k, v in event.items() if k != "event"}
            on_progress(PullProgress(**fields))
        elif event.get("event") in ("done", "error"):
            final = event
    proc.wait()
    watcher.join(timeout=1)
    if final is None:
        raise errors.ModelHubError(f"The download worker exited with status {proc.returncode}.")
    if final["event"] == "error":
        raise _error(final)
    return PullResult(
        path=Path(final["path"]),
        files=tuple(Path(f) for f in final["files"]),
        repo=final["repo"],
        revision=final["revision"],
        quant=final["quant"],
        kind=final["kind"],
        total_bytes=final["total_bytes"],
        downloaded_bytes=final["downloaded_bytes"],
        already_present=final["already_present"],
    )


def _lookup_in_subprocess(args: list[str]) -> list[dict[str, Any]]:
    cmd = [sys.executable, "-m", "backend.modelhub", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=worker_env(True))
    for line in reversed(proc.stdout.splitlines()):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "error":
            raise _error(event)
        if event.get("event") == "done":
            results: list[dict[str, Any]] = event["results"]
            return results
    raise errors.ModelHubError(f"The Hub worker exited with status {proc.returncode}.")


def search_in_subprocess(query: str, limit: int = 20) -> list[HubModel]:
    """``search.search_hub`` in a fresh, online process (see the module docstring).

    Raises:
        HubUnreachableError: no answer from the Hub.
    """
    rows = _lookup_in_subprocess(["search", query, "--limit", str(limit)])
    return [HubModel(**{**r, "tags": tuple(r.get("tags", ()))}) for r in rows]


def quants_in_subprocess(repo: str) -> list[QuantOption]:
    """``search.repo_quants`` in a fresh, online process.

    Raises:
        ModelNotFoundError, GatedRepoError, HubUnreachableError.
    """
    rows = _lookup_in_subprocess(["quants", repo])
    return [QuantOption(**{**r, "files": tuple(r["files"])}) for r in rows]
