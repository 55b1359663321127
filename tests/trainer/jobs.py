"""``python -m trainer.job`` as a real child process, as the backend starts
it, and its JSON-line report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest

from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, bundled_model_path

BASE = bundled_model_path()
assert BASE is not None


def job(
    home: Path,
    *extra: str,
    stdin: Any = subprocess.DEVNULL,
    base_hf: Path | None = None,
    stderr: int | IO[str] = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """The job on the bundled GGUF, or on ``base_hf`` (a Hugging Face folder)."""
    assert BASE is not None
    cmd = [sys.executable, "-m", "trainer.job", "--home", str(home), "--model", BUNDLED_MODEL_NAME]
    cmd += ["--base-hf", str(base_hf)] if base_hf is not None else ["--base-gguf", str(BASE)]
    cmd += extra
    return subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr, text=True)


def events(
    proc: subprocess.Popen[str], timeout: float = 600, log: Path | None = None
) -> list[dict[str, Any]]:
    """Every report line until the job exits (its stderr is piped, or in ``log``)."""
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(line) for line in out.splitlines()]  # every stdout line is JSON
    if log is not None:
        err = log.read_text(errors="replace")
    assert lines, (err or "")[-3000:]
    return lines


def read_until_progress(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] in ("progress", "done", "error"):
            break
    return seen


def start_ahead(request: pytest.FixtureRequest, fixture: str) -> None:
    """Set ``fixture`` up now (from an autouse fixture of a wider scope) if a
    selected test uses it: a job it starts then runs on the second core
    while the tests before that one use the first (the tests here run torch
    on one thread)."""
    if any(fixture in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue(fixture)
