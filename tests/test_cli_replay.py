"""A past reply reproduced from the log, on the real bundled model: ``ask``
greedily, ``log show`` the request, ``replay`` it (identical), ``prompts``
lists the versions it used, and a purge makes replay refuse clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import Result, run_cli


def run(home: Path, *args: str) -> Result:
    return run_cli(*args, env={"ASSISTANT_HOME": str(home)})


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "clihome"
    h.mkdir()
    (h / "config.toml").write_text(
        "[generation]\nmax_tokens = 32\ntemperature = 0\n[tools]\nenabled = false\n"
    )
    return h


@pytest.mark.real_model
def test_a_greedy_reply_replays_identically(home: Path) -> None:
    first = run(home, "ask", "Name three colours of the rainbow.", "--json")
    assert first.returncode == 0, first.stderr
    asked = json.loads(first.stdout)
    rid = asked["request_id"]
    cid = asked["conversation_id"]
    # a second turn: the replayed request carries history, not just one message
    second = run(home, "ask", "And two more?", "--conversation", str(cid), "--json")
    assert second.returncode == 0, second.stderr
    rid2 = json.loads(second.stdout)["request_id"]

    shown = run(home, "log", "show", str(rid2), "--json")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["greedy"] and detail["params"]["temperature"] == 0
    assert detail["model"]["name"] == "smollm2-135m-instruct"
    assert len(detail["model"]["sha256"]) == 64
    names = {p["name"] for p in detail["prompts"]}
    assert {"preset:Assistant", "template:smollm2-135m-instruct"} <= names
    roles = [m["role"] for m in detail["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert detail["messages"][2]["content"] == asked["answer"]
    assert detail["output"] == json.loads(second.stdout)["answer"]

    text = run(home, "log", "show", str(rid2))
    assert text.returncode == 0 and "=== output" in text.stdout and "sha256" in text.stdout

    replayed = run(home, "replay", str(rid2), "--json")
    assert replayed.returncode == 0, replayed.stderr
    r = json.loads(replayed.stdout)
    assert r["sampling"] == "greedy" and not r["model_changed"]
    assert r["identical"], r["diff"]
    assert r["replayed"] == r["original"] == detail["output"] and r["original"].strip()

    plain = run(home, "replay", str(rid))
    assert plain.returncode == 0, plain.stderr
    assert "identical" in plain.stdout and asked["answer"] in plain.stdout

    prompts = run(home, "prompts", "--json")
    assert prompts.returncode == 0, prompts.stderr
    versions = {v["name"]: v for v in json.loads(prompts.stdout)["versions"]}
    assert versions["preset:Assistant"]["requests"] == 2  # replays are not uses
    assert versions["template:smollm2-135m-instruct"]["ttft_avg_ms"] > 0
    table = run(home, "prompts")
    assert "preset:Assistant@" in table.stdout

    purged = run(home, "log", "purge", "--all")
    assert purged.returncode == 0 and "cleared the text of" in purged.stdout
    refused = run(home, "replay", str(rid))
    assert refused.returncode == 1
    assert "purged" in refused.stderr and "cannot be replayed" in refused.stderr
