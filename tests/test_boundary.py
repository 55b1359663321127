"""The core must run without the TUI: importing backend (and trainer) in a
fresh interpreter must not load textual or the assistant package."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "backend",
        "backend.local.backend",
        "backend.remote",
        "backend.server.app",
        "backend.runtimes.llamacpp",
        "backend.runtimes.fake",
        "backend.modelfiles.catalog",
        "trainer",
    ],
)
def test_core_does_not_import_textual(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'assistant')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
