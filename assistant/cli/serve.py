"""``assistant serve``: the backend over HTTP (see ``backend.server``)."""

from __future__ import annotations

import argparse
import sys

from backend.common.locations import default_locations
from backend.server.defaults import DEFAULT_HOST, DEFAULT_PORT


def add_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve", help="serve OpenAI- and Ollama-compatible HTTP APIs on loopback"
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    serve.add_argument("--show-token", action="store_true", help="print the bearer token and exit")
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let browser pages from ORIGIN call the API (repeatable; default none)",
    )


async def cmd_serve(args: argparse.Namespace) -> int:
    from backend.server.run import Server, warn_if_exposed
    from backend.server.security import load_or_create_token

    token, note = load_or_create_token(default_locations())
    if note:
        print(f"note: {note}", file=sys.stderr)
    if args.show_token:
        print(token)
        return 0
    warn_if_exposed(args.host)
    print(
        f"serving on http://{args.host}:{args.port} (OpenAI: /v1, Ollama: /api); "
        "send `Authorization: Bearer <token>` (see `assistant serve --show-token`)",
        file=sys.stderr,
    )
    server = Server(token, args.host, args.port, tuple(args.allow_origin))
    await server.serve()
    return 0
