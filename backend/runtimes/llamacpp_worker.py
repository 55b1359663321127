"""The llama.cpp worker process (see ``llamacpp_process`` for why it exists).

Run as ``python -m backend.runtimes.llamacpp_worker REQ_FD RESP_FD``. The main
thread runs the model; a reader thread takes requests off the pipe, so a
``("cancel",)`` sent during a stream is seen at once, while every other
request waits its turn in a queue.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from backend.common import errors
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.runtimes.llamacpp import LlamaCppRuntime

_CLOSE = ("close",)


def _read(conn: Connection, requests: queue.Queue[Any], cancel: threading.Event) -> None:
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            requests.put(_CLOSE)  # the parent went away
            return
        if message[0] == "cancel":
            cancel.set()
        else:
            requests.put(message)
            if message[0] == "close":
                return


def _handle(
    runtime: LlamaCppRuntime, out: Connection, op: str, args: list[Any], cancel: threading.Event
) -> None:
    try:
        if op == "stream":
            cancel.clear()
            for event in runtime.stream(args[0], cancel):
                out.send(event)
            out.send(("end",))
        elif op == "count_tokens":
            out.send(("ok", runtime.count_tokens(*args)))
        elif op == "reset":
            runtime.reset_cache()
            out.send(("ok", None))
        else:
            out.send(("raise", "AssistantError", f"unknown request {op!r}"))
    except errors.AssistantError as err:
        out.send(("raise", type(err).__name__, str(err)))
    except Exception as err:
        out.send(("raise", "ModelError", f"{type(err).__name__}: {err}"))


def main(argv: list[str]) -> int:
    inbox = Connection(int(argv[0]), writable=False)
    out = Connection(int(argv[1]), readable=False)
    op, config = inbox.recv()
    if op != "config":
        return 2
    data = json.loads(config)
    runtime = LlamaCppRuntime(
        Settings.model_validate(data["settings"]), Locations.from_path(data["home"])
    )
    requests: queue.Queue[Any] = queue.Queue()
    cancel = threading.Event()
    threading.Thread(target=_read, args=(inbox, requests, cancel), daemon=True).start()
    try:
        while True:
            op, *args = requests.get()
            if op == "close":
                break
            _handle(runtime, out, op, args, cancel)
    except (BrokenPipeError, OSError):
        pass  # the parent went away mid-reply
    finally:
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
