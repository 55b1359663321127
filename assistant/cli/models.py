"""``assistant models``: the models you have, and getting more.

- ``models [list]``: every model every runtime can run, then the model
  folders pulled (embedders, rerankers; the reranker in use starred)
  (``--json``);
- ``models catalog``: the curated catalog, each quantization labelled
  "fits", "slow" or "won't fit" on this machine, the recommendation marked;
- ``models search QUERY``: GGUF repos on the Hugging Face Hub, and
  ``models quants REPO``: one repo's quantizations, labelled the same way;
- ``models pull NAME[:QUANT]`` (a catalog short name or a repo id; ``--ollama``
  for the Ollama server): download with a progress line, resume after an
  interruption, verify, register;
- ``models rm NAME``: delete a downloaded model (asks first unless ``--yes``).

With only the bundled demo model, ``models`` ends with a hint naming the
recommended model for this machine. Nothing is downloaded unless asked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from dataclasses import asdict
from typing import Any

from assistant.cli.local import open_local
from assistant.cli.output import table
from backend.api import AssistantAPI, ModelInfo, Offer, PullProgress, model_origin

BUNDLED = "smollm2-135m-instruct"


def add_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="the models you have, and getting more")
    models.add_argument("--json", action="store_true")
    verbs = models.add_subparsers(dest="models_command", metavar="VERB")
    listed = verbs.add_parser("list", help="every model every runtime can run (the default)")
    listed.add_argument("--json", action="store_true")
    catalog = verbs.add_parser("catalog", help="curated models and what fits this machine")
    catalog.add_argument("--json", action="store_true")
    catalog.add_argument("--kind", choices=("chat", "embedder", "reranker"))
    search = verbs.add_parser("search", help="GGUF models on the Hugging Face Hub")
    search.add_argument("query")
    search.add_argument("-n", "--limit", type=int, default=20)
    search.add_argument("--json", action="store_true")
    quants = verbs.add_parser("quants", help="a Hub repo's quantizations and what fits")
    quants.add_argument("repo")
    quants.add_argument("--json", action="store_true")
    pull = verbs.add_parser("pull", help="download, verify and add a model")
    pull.add_argument("spec", metavar="NAME[:QUANT]", help="catalog short name or Hub repo id")
    pull.add_argument("--ollama", action="store_true", help="pull on the Ollama server instead")
    pull.add_argument("--json", action="store_true")
    rm = verbs.add_parser("rm", help="delete a downloaded model")
    rm.add_argument("name")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask")
    rm.add_argument("--json", action="store_true")


def human(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


async def cmd_models(args: argparse.Namespace) -> int:
    verb = getattr(args, "models_command", None) or "list"
    backend = await open_local()
    try:
        handler = {
            "list": _list,
            "catalog": _catalog,
            "search": _search,
            "quants": _quants,
            "pull": _pull,
            "rm": _rm,
        }[verb]
        return await handler(backend, args)
    finally:
        await backend.close()


def only_the_demo_model(models: list[ModelInfo]) -> bool:
    return [m.name for m in models] == [BUNDLED]


def hint(offers: list[Offer]) -> str:
    """One line: the bundled model is a demo; what to pull instead."""
    for offer in offers:
        if offer.recommended is not None:
            return (
                f"Only the bundled demo model ({BUNDLED}, 135M parameters) is installed. "
                f"Recommended for this machine: {offer.entry.title} "
                f"(`assistant models pull {offer.entry.name}:{offer.recommended}`)."
            )
    return (
        f"Only the bundled demo model ({BUNDLED}) is installed; "
        "`assistant models catalog` lists larger ones."
    )


async def _list(backend: AssistantAPI, args: argparse.Namespace) -> int:
    models = await backend.models.list_models()
    default = backend.settings.default_model
    down = [s for s in await backend.models.runtime_status() if s.unavailable]
    advice = hint(await backend.library.offers()) if only_the_demo_model(models) else None
    folders = await backend.library.installed_folders()
    reranker = (await backend.documents.reranker_in_use()).path if folders else None
    if args.json:
        out: dict[str, Any] = {
            "default": default,
            "models": [
                {
                    "name": m.name,
                    "runtime": m.runtime,
                    "path": str(m.path) if m.path else None,
                    "source": m.source,
                    "size_bytes": m.size_bytes,
                    "context_length": m.context_length,
                    "default": m.name == default,
                    "origin": model_origin(m),
                }
                for m in models
            ],
            "folders": [
                {**asdict(f), "path": str(f.path), "in_use": f.path == reranker} for f in folders
            ],
            "unavailable_runtimes": [asdict(u) for u in backend.unavailable],
            "unavailable": [{"runtime": s.runtime, "reason": s.reason} for s in down],
            "hint": advice,
        }
        print(json.dumps(out, indent=2))
        return 0
    rows = [
        [
            ("* " if m.name == default else "  ") + m.name,
            m.runtime,
            m.source,
            f"{m.size_bytes / 1e6:.0f} MB" if m.size_bytes else "-",
            str(m.path or "-"),
        ]
        for m in models
    ]
    print(table(rows, ["model", "runtime", "source", "size", "path"]))
    if folders:  # embedders and rerankers: no runtime, a folder each
        rows = [
            [("* " if f.path == reranker else "  ") + f.name, f.kind, human(f.size_bytes),
             str(f.path)]
            for f in folders
        ]  # fmt: skip
        print()
        print(table(rows, ["model folder", "kind", "size", "path"]))
        if reranker is not None:
            print("(* the reranker answers use)")
    if down:
        print("\nunavailable:")
    for status in down:  # plugins that failed to load, servers that are down
        print(f"  {status.runtime}: {status.reason}")
    if advice:
        print(f"\n{advice}")
    return 0


async def _catalog(backend: AssistantAPI, args: argparse.Namespace) -> int:
    offers = [o for o in await backend.library.offers() if args.kind in (None, o.entry.kind)]
    machine = await backend.library.machine()
    if args.json:
        print(json.dumps({"machine": asdict(machine), "offers": [asdict(o) for o in offers]},
                         indent=2, default=str))  # fmt: skip
        return 0
    gpu = f", {machine.gpu} {human(machine.vram_bytes)}" if machine.gpu != "none" else ""
    print(f"this machine: {human(machine.ram_bytes)} RAM{gpu}, "
          f"{human(machine.disk_free_bytes)} free disk\n")  # fmt: skip
    rows = []
    for o in offers:
        for fit in o.fits:
            mark = "→ " if o.recommended == fit.quant else "  "
            rows.append([mark + o.entry.name, o.entry.kind, fit.quant, human(fit.weights_bytes),
                         fit.label, o.entry.license])  # fmt: skip
    print(table(rows, ["model", "kind", "quant", "download", "fit", "licence"]))
    picked = next((o for o in offers if o.recommended), None)
    if picked is not None:
        fit = next(f for f in picked.fits if f.quant == picked.recommended)
        print(f"\n→ recommended: {picked.entry.name}:{fit.quant}. {fit.basis}")
    return 0


async def _search(backend: AssistantAPI, args: argparse.Namespace) -> int:
    hits = await backend.library.search(args.query, args.limit)
    if args.json:
        print(json.dumps([asdict(h) for h in hits], indent=2))
        return 0
    if not hits:
        print(f"no GGUF models match {args.query!r}")
        return 0
    rows = [[h.repo, str(h.downloads or "-"), "gated" if h.gated else ""] for h in hits]
    print(table(rows, ["repo", "downloads", ""]))
    print("\n`assistant models quants REPO` lists a repo's quantizations and what fits.")
    return 0


async def _quants(backend: AssistantAPI, args: argparse.Namespace) -> int:
    found = await backend.library.quants(args.repo)
    if args.json:
        print(json.dumps([asdict(q) for q in found], indent=2))
        return 0
    rows = [[q.option.quant or "?", human(q.option.total_bytes), str(q.option.parts), q.fit.label]
            for q in found]  # fmt: skip
    print(table(rows, ["quant", "download", "files", "fit"]))
    return 0


class ProgressLine:
    """One status line on a terminal, rewritten at most 10 times a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0

    def __call__(self, p: PullProgress) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and p.status == "downloading"):
            return
        self._last = now
        total = p.total_bytes or 0
        share = f"{100 * p.done_bytes / total:5.1f}%" if total else ""
        speed = f" {human(int(p.speed_bps))}/s" if p.speed_bps else ""
        eta = f" ~{p.eta_s:.0f} s left" if p.eta_s is not None and p.status == "downloading" else ""
        part = f" (part {p.part}/{p.parts})" if p.parts and p.parts > 1 else ""
        line = f"{p.status} {p.file}{part} {share} {human(p.done_bytes)}/{human(total)}{speed}{eta}"
        sys.stderr.write("\r\033[K" + line[:200])
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


async def _pull(backend: AssistantAPI, args: argparse.Namespace) -> int:
    spec, _, quant = args.spec.partition(":")
    if args.ollama:
        spec, quant = args.spec, ""  # Ollama's own name:tag
    line = ProgressLine(sys.stderr.isatty() and not args.json)
    cancel = threading.Event()
    try:
        if args.ollama:
            await backend.library.pull_ollama(spec, progress=line, cancel=cancel)
            result: dict[str, Any] = {"ollama": spec}
        else:
            pulled = await backend.library.pull(spec, quant=quant or None, progress=line,
                                                cancel=cancel)  # fmt: skip
            result = asdict(pulled)
    except (KeyboardInterrupt, asyncio.CancelledError):
        cancel.set()
        raise
    finally:
        line.done()
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    elif args.ollama:
        print(f"pulled {spec} on the Ollama server")
    else:
        what = "already here" if result["already_present"] else f"{human(result['total_bytes'])}"
        print(f"{result['path']} ({what}, SHA-256 verified); pick it with f4 or --model")
    return 0


async def _rm(backend: AssistantAPI, args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            print("Refused: deleting needs --yes when not on a terminal", file=sys.stderr)
            return 1
        answer = input(f"Delete {args.name} and its files? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("kept", file=sys.stderr)
            return 1
    removed = await backend.library.remove(args.name)
    if args.json:
        print(json.dumps(asdict(removed), indent=2, default=str))
        return 0
    print(
        f"deleted {removed.name}: {len(removed.paths)} file(s), {human(removed.bytes_freed)} freed"
    )
    return 0
