"""llama.cpp in a child process: the default way the assistant runs GGUF models.

Why a process and not a thread:

* **A crash stays a crash of the model, not of the app.** If llama.cpp
  segfaults or aborts (a bad adapter file, an out-of-memory on the GPU), the
  parent sees the pipe close, reports a clear error, and starts a fresh
  worker on the next request; the user's conversation is untouched.
* **No GIL tug-of-war with the UI**, which renders while tokens arrive.
* **Speed is the same.** Measured in the real TUI on 2 cores with SmolLM2
  (``benchmarks/tui_decode.py``): 67 tok/s in the worker, 66 in a thread,
  80 for raw llama-cpp-python in a bare script. (With llama.cpp built with
  OpenMP, a thread would get 28: libgomp throttles its spin-wait when the
  caller is not the main thread, which is one reason the Makefile builds
  without OpenMP.)

The worker holds one ``LlamaCppRuntime`` for its whole life, so the model
stays loaded and its KV cache (prompt-prefix reuse) survives between turns.
The model catalog and context sizes are answered in the parent, from GGUF
headers, so listing models never starts a worker.

The worker is a plain ``python -m backend.runtimes.llamacpp_worker``
started with ``subprocess``, not ``multiprocessing``: spawn re-imports the
parent's ``__main__`` and starts a resource tracker that needs a real
``sys.stderr``, which a running Textual app has replaced. Its stdout and
stderr go to ``logs/llamacpp.log`` (llama.cpp's own messages land there, not
on the TUI's screen).

Protocol: two pipes carrying pickled tuples (``multiprocessing.connection``
framing), one request at a time (a lock): ``("count_tokens", model,
messages)`` -> ``("ok", value)`` or ``("raise", class_name, message)``;
``("stream", request)`` -> the runtime's events one by one, then
``("end",)``; ``("reset",)``; ``("close",)``. ``("cancel",)`` may arrive
during a stream: the worker's reader thread sets the event the runtime
checks between tokens.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from backend.common import errors
from backend.common.config import Settings
from backend.common.events import Done, ErrorEvent, RuntimeEvent
from backend.common.locations import Locations
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, GenerationRequest, Runtime
from backend.runtimes.llamacpp import LlamaCppRuntime

POLL_S = 0.05


class WorkerCrashed(errors.ModelError):
    title = "Model crashed"


class LlamaCppProcessRuntime(Runtime):
    """``LlamaCppRuntime`` behind a process boundary (same interface)."""

    name = LlamaCppRuntime.name
    supports_json_schema = True

    def __init__(self, settings: Settings, locations: Locations) -> None:
        self.settings = settings
        self.locations = locations
        self.catalog = LlamaCppRuntime(settings, locations)  # never loads a model
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._send_conn: Connection | None = None

    # -- answered in the parent -------------------------------------------
    def list_models(self) -> list[ModelInfo]:
        return self.catalog.list_models()

    def context_window(self, model: ModelInfo) -> int:
        return self.catalog.context_window(model)

    def native_tools(self, model: ModelInfo) -> bool:
        return self.catalog.native_tools(model)

    @property
    def worker_pid(self) -> int | None:
        """The worker's pid while one runs (tests and diagnostics)."""
        return self._proc.pid if self._proc is not None and self._alive() else None

    # -- the worker ---------------------------------------------------------
    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _worker(self) -> Connection:
        if self._alive() and self._conn is not None:
            return self._conn
        self._discard()
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        config = json.dumps(
            {"settings": self.settings.model_dump(mode="json"), "home": str(self.locations.home)}
        )
        self.locations.ensure()
        with open(self.locations.logs / "llamacpp.log", "ab") as log:
            try:
                self._proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "backend.runtimes.llamacpp_worker",
                        str(req_r),
                        str(resp_w),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(req_r, resp_w),
                    start_new_session=True,  # Ctrl+C in the terminal is the app's
                )
            finally:
                os.close(req_r)
                os.close(resp_w)
        self._send_conn = Connection(req_w, readable=False)
        self._conn = Connection(resp_r, writable=False)
        self._send_conn.send(("config", config))
        return self._conn

    def _send(self, message: tuple[Any, ...]) -> None:
        assert self._send_conn is not None
        self._send_conn.send(message)

    def _discard(self) -> None:
        for conn in (self._conn, self._send_conn):
            if conn is not None:
                conn.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None
        self._conn = self._send_conn = None

    def _crashed(self) -> WorkerCrashed:
        code = None
        if self._proc is not None:
            try:
                code = self._proc.wait(timeout=5)  # the pipe can close before it exits
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._discard()
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return WorkerCrashed(
            f"The model process stopped unexpectedly ({how}). Your conversation is safe; "
            "the model will be loaded again on the next message."
        )

    def _recv(self, conn: Connection) -> Any:
        try:
            return conn.recv()
        except (EOFError, OSError):
            raise self._crashed() from None

    @staticmethod
    def _raise(kind: str, message: str) -> None:
        cls = getattr(errors, kind, None)
        if not (isinstance(cls, type) and issubclass(cls, errors.AssistantError)):
            cls = errors.ModelError
        raise cls(message)

    def _call(self, op: str, *args: Any) -> Any:
        with self._lock:
            conn = self._worker()
            try:
                self._send((op, *args))
            except OSError:
                raise self._crashed() from None
            reply = self._recv(conn)
            if reply[0] == "raise":
                self._raise(reply[1], reply[2])
            return reply[1]

    # -- Runtime ------------------------------------------------------------
    def count_tokens(self, model: ModelInfo, messages: list[ChatMessage]) -> list[int]:
        result: list[int] = self._call("count_tokens", model, messages)
        return result

    def reset_cache(self) -> None:
        """Forget the KV cache (benchmarks use it for cold-prompt runs)."""
        if self.worker_pid is not None:
            self._call("reset")

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[RuntimeEvent]:
        with self._lock:
            try:
                conn = self._worker()
                self._send(("stream", request))
                cancel_sent = False
                while True:
                    # relay the caller's cancel to the worker between polls
                    while True:
                        if cancel.is_set() and not cancel_sent:
                            self._send(("cancel",))
                            cancel_sent = True
                        if conn.poll(POLL_S):
                            break
                        if not self._alive():
                            raise self._crashed()
                    event = self._recv(conn)
                    if isinstance(event, tuple):
                        if event[0] == "raise":
                            self._raise(event[1], event[2])
                        return  # ("end",)
                    yield event
            except errors.AssistantError as err:
                yield ErrorEvent(str(err), err.title)
                yield Done("error")
            except OSError:
                crash = self._crashed()
                yield ErrorEvent(str(crash), crash.title)
                yield Done("error")

    def close(self) -> None:
        with self._lock:
            if self._send_conn is not None and self._alive():
                with contextlib.suppress(OSError):
                    self._send(("close",))
            self._discard()


def create_llamacpp_runtime(settings: Settings, locations: Locations) -> Runtime:
    """The registered factory: in a worker process unless the config says
    ``llama.subprocess = false``."""
    if settings.llama.subprocess:
        return LlamaCppProcessRuntime(settings, locations)
    return LlamaCppRuntime(settings, locations)
