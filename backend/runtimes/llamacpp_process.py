"""llama.cpp in a child process: the default way the assistant runs GGUF models.

Why a process and not a thread:

* **Speed.** llama.cpp's CPU backend synchronises its worker threads at every
  layer. Built with OpenMP (llama.cpp's default), that only runs at full
  speed when generation is driven from the process's *main* thread: from any
  other thread libgomp throttles its spin-wait and decoding drops to a third
  (measured with SmolLM2 on 2 cores: 82 vs 29 tok/s). Built without OpenMP,
  ggml's own pool spins without ever yielding, which is fast on an idle
  machine but collapses when anything else wants the CPU (0.7 tok/s during a
  compile). A Textual app owns its main thread, so the model gets a process
  whose main thread is free, and the OpenMP build (spin, then sleep) stays
  fast alone and degrades gracefully under load.
* **No GIL tug-of-war with the UI**, which renders while tokens arrive.
* **A crash stays a crash of the model, not of the app.** If llama.cpp
  segfaults or aborts (a bad adapter file, an out-of-memory on the GPU), the
  parent sees the pipe close, reports a clear error, and starts a fresh
  worker on the next request; the user's conversation is untouched.

The worker holds one ``LlamaCppRuntime`` for its whole life, so the model
stays loaded and its KV cache (prompt-prefix reuse) survives between turns.
The model catalog and context sizes are answered in the parent, from GGUF
headers, so listing models never starts a worker.

Protocol over one ``multiprocessing`` pipe, one request at a time (a lock):
``("count_tokens", model, messages)`` -> ``("ok", value)`` or
``("raise", class_name, message)``; ``("stream", request)`` -> the runtime's
events one by one, then ``("end",)``; ``("reset",)``; ``("close",)``.
Cancellation crosses over as a ``multiprocessing.Event`` that the worker's
runtime checks between tokens.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from backend import errors
from backend.config import Settings
from backend.events import Done, ErrorEvent, RuntimeEvent
from backend.locations import Locations
from backend.runtimes.base import ChatMessage, GenerationRequest, ModelInfo, Runtime
from backend.runtimes.llamacpp import LlamaCppRuntime

POLL_S = 0.05


def _serve(conn: Connection, settings: dict[str, Any], home: str, cancel: Any) -> None:
    """The worker's main loop (runs in the child's main thread)."""
    runtime = LlamaCppRuntime(Settings.model_validate(settings), Locations.from_path(home))
    while True:
        try:
            op, *args = conn.recv()
        except (EOFError, OSError):
            break
        if op == "close":
            break
        try:
            if op == "stream":
                for event in runtime.stream(args[0], cancel):
                    conn.send(event)
                conn.send(("end",))
            elif op == "count_tokens":
                conn.send(("ok", runtime.count_tokens(*args)))
            elif op == "reset":
                runtime.reset_cache()
                conn.send(("ok", None))
            else:
                conn.send(("raise", "AssistantError", f"unknown request {op!r}"))
        except errors.AssistantError as err:
            conn.send(("raise", type(err).__name__, str(err)))
        except Exception as err:
            conn.send(("raise", "ModelError", f"{type(err).__name__}: {err}"))
    runtime.close()
    conn.close()


class WorkerCrashed(errors.ModelError):
    title = "Model crashed"


class LlamaCppProcessRuntime(Runtime):
    """``LlamaCppRuntime`` behind a process boundary (same interface)."""

    name = LlamaCppRuntime.name

    def __init__(self, settings: Settings, locations: Locations) -> None:
        self.settings = settings
        self.locations = locations
        self.catalog = LlamaCppRuntime(settings, locations)  # never loads a model
        self._lock = threading.RLock()
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None
        self._cancel: Any = None

    # -- answered in the parent -------------------------------------------
    def list_models(self) -> list[ModelInfo]:
        return self.catalog.list_models()

    def context_window(self, model: ModelInfo) -> int:
        return self.catalog.context_window(model)

    @property
    def worker_pid(self) -> int | None:
        """The worker's pid while one runs (tests and diagnostics)."""
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    # -- the worker ---------------------------------------------------------
    def _worker(self) -> Connection:
        if self._proc is not None and self._proc.is_alive() and self._conn is not None:
            return self._conn
        self._discard()
        parent, child = self._ctx.Pipe()
        self._cancel = self._ctx.Event()
        self._proc = self._ctx.Process(
            target=_serve,
            args=(
                child,
                self.settings.model_dump(mode="json"),
                str(self.locations.home),
                self._cancel,
            ),
            name="assistant-llamacpp",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn = parent
        return parent

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            self._proc.join(timeout=1)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout=5)
        self._proc = self._conn = None

    def _crashed(self) -> WorkerCrashed:
        code = None
        if self._proc is not None:
            self._proc.join(timeout=5)  # the pipe can close before it is reaped
            code = self._proc.exitcode
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
                conn.send((op, *args))
            except (BrokenPipeError, OSError):
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
                self._cancel.clear()
                conn.send(("stream", request))
                while True:
                    # relay the caller's cancel to the worker between polls
                    while not conn.poll(POLL_S):
                        if cancel.is_set():
                            self._cancel.set()
                        if not self._proc.is_alive():
                            raise self._crashed()
                    if cancel.is_set():
                        self._cancel.set()
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
            if self._conn is not None and self._proc is not None and self._proc.is_alive():
                with contextlib.suppress(OSError):
                    self._conn.send(("close",))
            self._discard()


def create_llamacpp_runtime(settings: Settings, locations: Locations) -> Runtime:
    """The registered factory: in a worker process unless the config says
    ``llama.subprocess = false``."""
    if settings.llama.subprocess:
        return LlamaCppProcessRuntime(settings, locations)
    return LlamaCppRuntime(settings, locations)
