"""``assistant serve`` from the command line: the token, and a real
server process answering with it (the one subprocess here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import backend.common.secrets as secrets_module
from assistant.cli import main
from tests.cli_helpers import run_cli

from .conftest import free_port

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def test_show_token_is_stable_and_says_where_it_lives(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # keyring picks its backend once per process, so the variable alone may
    # come too late: the file fallback is forced the way the app decides it
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NO_KEYRING["PYTHON_KEYRING_BACKEND"])
    monkeypatch.setattr("backend.common.secrets._keyring_usable", lambda: False)
    assert main(["serve", "--show-token"]) == 0
    first = capsys.readouterr()
    assert main(["serve", "--show-token"]) == 0
    second = capsys.readouterr()
    token = first.out.strip()
    assert len(token) >= 40 and second.out.strip() == token
    assert "no OS keyring" in first.err and "secrets" in first.err


def test_serve_process_answers_with_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real ``assistant serve`` process (a subprocess on purpose: its
    start-up, its stderr and the port it serves are the point) accepts the
    token ``assistant serve --show-token`` prints. That one runs in this
    process, kept off any OS keyring like the process (``NO_KEYRING``)."""
    home = tmp_path / "home"
    env = {**os.environ, **NO_KEYRING, "ASSISTANT_HOME": str(home)}
    monkeypatch.setattr(secrets_module, "_keyring_usable", lambda: False)
    shown = run_cli("serve", "--show-token", env={"ASSISTANT_HOME": str(home)})
    assert shown.returncode == 0, shown.stderr
    token = shown.stdout.strip()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/version"
        for _ in range(300):
            try:
                r = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert r.status_code == 200
        assert httpx.get(url).status_code == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "serving on http://127.0.0.1:" in err and "WARNING" not in err
