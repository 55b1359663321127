"""``assistant serve`` from the command line: the token, and a real
server process answering with it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.cli import main

from .conftest import free_port

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def test_show_token_is_stable_and_says_where_it_lives(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NO_KEYRING["PYTHON_KEYRING_BACKEND"])
    assert main(["serve", "--show-token"]) == 0
    first = capsys.readouterr()
    assert main(["serve", "--show-token"]) == 0
    second = capsys.readouterr()
    token = first.out.strip()
    assert len(token) >= 40 and second.out.strip() == token
    assert "no OS keyring" in first.err and "secrets" in first.err


def test_serve_process_answers_with_the_token(tmp_path: Path) -> None:
    env = {**os.environ, **NO_KEYRING, "ASSISTANT_HOME": str(tmp_path / "home")}
    token = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "serve", "--show-token"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
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
