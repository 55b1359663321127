"""The ``assistant`` command on the real bundled model: run in this process
(``tests.cli_helpers.run_cli``: real argument parsing, backend, worker
process and streams, without paying Python and torch start-up per call),
except ``test_unknown_model_fails_cleanly``, which runs a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.cli import main
from tests.cli_helpers import Result, run_cli


def run(home: Path, *args: str, stdin: str | None = None) -> Result:
    return run_cli(*args, stdin=stdin, env={"ASSISTANT_HOME": str(home)})


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "clihome"
    h.mkdir()
    (h / "config.toml").write_text("[generation]\nmax_tokens = 24\ntemperature = 0\n")
    return h


@pytest.mark.real_model
def test_ask_json_then_continue_conversation(home: Path) -> None:
    r = run(home, "ask", "What is the capital of France?", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["answer"].strip()
    assert "paris" in out["answer"].lower()
    assert out["usage"]["prompt_tokens"] > 10
    assert 0 < out["usage"]["completion_tokens"] <= 24
    assert out["timings"]["ttft_ms"] > 0 and out["timings"]["total_ms"] >= out["timings"]["ttft_ms"]
    assert out["timings"]["decode_tok_s"] > 0
    cid = out["conversation_id"]

    r2 = run(home, "ask", "And of Germany?", "--conversation", str(cid), "--json")
    assert r2.returncode == 0, r2.stderr
    out2 = json.loads(r2.stdout)
    assert out2["conversation_id"] == cid
    # the second turn sends the first turn again (nothing is cached between
    # `ask`s: each opens its own backend and llama.cpp worker)
    assert out2["usage"]["prompt_tokens"] > out["usage"]["prompt_tokens"]

    stats = run(home, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    model = json.loads(stats.stdout)["models"][0]
    assert model["requests"] == 2 and model["errors"] == 0
    assert model["ttft_p50_ms"] > 0 and model["ttft_p95_ms"] >= model["ttft_p50_ms"]
    log = run(home, "log", "--json")
    # replies are "generate" rows; hidden tool decisions are rows of their own
    rows = [r for r in json.loads(log.stdout) if r["stage"] == "generate"]
    assert [r["conversation_id"] for r in rows] == [cid, cid]
    assert all(r["decode_tok_s"] for r in rows)


@pytest.mark.real_model
def test_ask_streams_plain_text_and_reads_stdin(home: Path) -> None:
    r = run(home, "ask", "-", stdin="Say hello.")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    assert not r.stdout.lstrip().startswith("{")


def test_unknown_model_fails_cleanly(home: Path) -> None:
    """A real process (the one subprocess here): its exit status, an error
    on stderr with nothing on stdout, no traceback, as a shell sees them."""
    r = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ask", "hi", "--model", "no-such-model"],
        capture_output=True,
        text=True,
        env={**os.environ, "ASSISTANT_HOME": str(home)},
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert r.returncode == 1
    assert "Model problem" in r.stderr and "no-such-model" in r.stderr
    assert r.stdout == ""
    assert "Traceback" not in r.stderr


def test_bad_config_names_the_field(home: Path) -> None:
    (home / "config.toml").write_text("[generation]\ntemperature = 'hot'\n")
    r = run(home, "models")
    assert r.returncode == 1
    assert "Invalid configuration" in r.stderr and "generation.temperature" in r.stderr


def test_unknown_conversation_fails_cleanly(home: Path) -> None:
    r = run(home, "ask", "hi", "--conversation", "999")
    assert r.returncode == 1
    assert "999" in r.stderr and "Traceback" not in r.stderr


def test_models_lists_the_bundled_model(home: Path) -> None:
    r = run(home, "models", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    names = [m["name"] for m in data["models"]]
    assert "smollm2-135m-instruct" in names
    bundled = next(m for m in data["models"] if m["name"] == "smollm2-135m-instruct")
    assert bundled["default"] and bundled["source"] == "bundled"
    assert Path(bundled["path"]).is_file()


def test_locate_prints_paths_under_assistant_home(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    assert main(["locate", "--json"]) == 0
    paths = json.loads(capsys.readouterr().out)
    assert paths["home"] == str(home.resolve())
    assert paths["database"].startswith(str(home.resolve()))


def test_stats_on_empty_log(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    assert main(["stats"]) == 0
    assert "no requests" in capsys.readouterr().out


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["ask"])
    assert exc.value.code == 2


def test_models_names_the_runtimes_that_are_down(home: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (home / "config.toml").write_text(
        f'[ollama]\nhost = "http://127.0.0.1:{port}"\n\n'
        f'[[openai_endpoints]]\nname = "lab"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
    )
    r = run(home, "models")
    assert r.returncode == 0, r.stderr
    table, _, down = r.stdout.partition("unavailable:")
    assert "smollm2-135m-instruct" in table
    down, _, hint = down.strip().partition("\n\n")  # then the better-model hint
    assert "assistant models pull" in hint
    lines = [line.strip() for line in down.splitlines()]
    assert len(lines) == 2
    ollama = next(line for line in lines if line.startswith("ollama: "))
    assert f"cannot reach the Ollama server at http://127.0.0.1:{port}" in ollama
    assert any(line.startswith("openai: cannot reach endpoint 'lab'") for line in lines)

    data = json.loads(run(home, "models", "--json").stdout)
    assert {u["runtime"] for u in data["unavailable"]} == {"ollama", "openai"}
    assert all(u["reason"] for u in data["unavailable"])
    assert next(m for m in data["models"] if m["runtime"] == "llamacpp")["origin"] == "local"

    (home / "config.toml").write_text("[ollama]\nenabled = false\n")  # switched off: not "down"
    assert "unavailable" not in run(home, "models").stdout
