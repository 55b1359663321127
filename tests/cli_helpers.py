"""Run the ``assistant`` command inside the test process.

``run_cli("ask", "hi", "--json")`` calls ``assistant.cli.main`` as
``python -m assistant.cli`` would, and returns what a process would have
shown: the exit code (``SystemExit`` from argparse becomes its code) and
stdout/stderr as text. Compared with a subprocess it saves Python start-up
and the imports of torch, transformers and llama.cpp on every call (several
seconds each); what it does not see is output written straight to file
descriptors 1 and 2 by C code, and the interpreter's own start-up and
shut-down. The few tests that check the process boundary itself (exit
codes of a real process, a quiet stderr on a real run, ``assistant
serve``) still start a subprocess and say so.

What a process gets, the call gets too:

- ``sys.stdin``, ``sys.stdout`` and ``sys.stderr`` are replaced by
  in-memory UTF-8 text streams that are not terminals (``isatty()`` is
  false, as in a pipe): no progress bars, side-effect tools are refused
  unless ``--yes``; ``stdin`` is what ``ask -`` reads (empty by default,
  like ``/dev/null``);
- log records of WARNING and above reach stderr, as Python's last-resort
  handler would print them in a process that configures no logging (pytest
  installs its own handlers on the root logger, which would swallow them);
- ``env`` is applied to ``os.environ`` for the call and restored after
  (``ASSISTANT_HOME`` otherwise comes from the autouse fixture).

``main`` runs its command with ``asyncio.run``; from inside a running event
loop (an async test) the call runs in a worker thread instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Result:
    """What a finished ``assistant`` process would report."""

    returncode: int
    stdout: str
    stderr: str


class _Pipe(io.TextIOWrapper):
    """A UTF-8 text stream over memory that, like a pipe, is not a terminal."""

    def __init__(self, text: str = "") -> None:
        super().__init__(io.BytesIO(text.encode("utf-8")), encoding="utf-8", write_through=True)

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        self.flush()
        buffer = self.buffer
        assert isinstance(buffer, io.BytesIO)
        return buffer.getvalue().decode("utf-8")


@contextlib.contextmanager
def _environ(env: Mapping[str, str] | None) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _exit_code(code: Any) -> int:
    """``sys.exit(code)`` as the interpreter turns it into a status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _main(args: list[str]) -> int:
    from assistant.cli import main

    try:
        return int(main(args))
    except SystemExit as exit_:
        return _exit_code(exit_.code)


def _in_thread(args: list[str]) -> int:
    box: list[int | BaseException] = []

    def target() -> None:
        try:
            box.append(_main(args))
        except BaseException as exc:  # re-raised in the caller's thread
            box.append(exc)

    worker = threading.Thread(target=target, name="run_cli")
    worker.start()
    worker.join()
    (outcome,) = box
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def run_cli(*args: str, stdin: str | None = None, env: Mapping[str, str] | None = None) -> Result:
    """``assistant *args`` in this process; see the module docstring."""
    fake_in, out, err = _Pipe(stdin or ""), _Pipe(), _Pipe()
    handler = logging.StreamHandler(err)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    with (
        _environ(env),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        saved_stdin, sys.stdin = sys.stdin, fake_in
        root.addHandler(handler)
        try:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                code = _main(list(args))
            else:  # an async test: asyncio.run needs a thread without a loop
                code = _in_thread(list(args))
        finally:
            root.removeHandler(handler)
            sys.stdin = saved_stdin
    return Result(code, out.text(), err.text())
