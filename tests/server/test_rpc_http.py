"""The RPC API's front door: auth, origin, allow-list, argument decoding;
``RemoteBackend``'s connection errors and token; ``assistant --connect``'s
errors. A real uvicorn server on loopback with the fake runtime."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from backend.remote import NotAuthorized, RemoteBackend, ServerUnavailable

from .conftest import TOKEN, Running, free_port


@pytest.fixture
def served(served_module: Running) -> Running:
    """One server for this module's tests: they only read it (see ``served_module``)."""
    return served_module


# -- the HTTP surface ----------------------------------------------------------------


def test_no_token_is_401_and_private_or_unlisted_methods_are_404(served: Running) -> None:
    url = f"{served.url}/backend/call/conversations/list_conversations"
    assert httpx.post(url, json={}).status_code == 401
    assert httpx.post(url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{served.url}/backend/session").status_code == 401
    ok = httpx.post(url, json={}, headers=served.headers())
    assert ok.status_code == 200 and ok.json() == {"result": []}
    for path in (
        "conversations/_run",
        "core/close",
        "chat/_send_now",
        "conversations/__init__",
        "completions/embed_texts",  # the OpenAI/Ollama APIs' own service
        "conversations/missing",
        "chat/send",  # a stream: not on the call route
    ):
        r = httpx.post(f"{served.url}/backend/call/{path}", json={}, headers=served.headers())
        assert r.status_code == 404, path
        assert r.json()["error"]["type"] == "NotFoundError"
    for path in ("chat/_stream", "conversations/thread"):
        r = httpx.post(f"{served.url}/backend/stream/{path}", json={}, headers=served.headers())
        assert r.status_code == 404, path
    evil = {"title": {"__type__": "os.system", "command": "true"}}
    create = f"{served.url}/backend/call/conversations/create_conversation"
    r = httpx.post(create, json=evil, headers=served.headers())
    assert r.status_code == 400 and "unknown record type" in r.json()["error"]["message"]
    r = httpx.post(
        f"{served.url}/backend/call/documents/watch_folders",
        json={"on_swept": None},
        headers=served.headers(),
    )
    assert r.status_code == 400  # callbacks cannot be sent
    cross = served.headers(Origin="http://evil.example")
    assert httpx.post(url, json={}, headers=cross).status_code == 403


async def test_remote_backend_reports_a_bad_token_and_a_dead_server(served: Running) -> None:
    with pytest.raises(NotAuthorized):
        await RemoteBackend.open(served.url, "wrong-token")
    with pytest.raises(ServerUnavailable):
        await RemoteBackend.open(f"http://127.0.0.1:{free_port()}", TOKEN)


def test_cli_connect_errors_are_one_line_exit_1(
    served: Running, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.cli import main

    monkeypatch.delenv("ASSISTANT_TOKEN", raising=False)
    assert main(["--connect", served.url, "--token", "wrong"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Not authorized:") and "Traceback" not in err
    assert main(["--connect", f"http://127.0.0.1:{free_port()}", "--token", TOKEN]) == 1
    assert capsys.readouterr().err.startswith("Server unreachable:")
    assert main(["--connect", "ftp://x"]) == 1
    assert "http://" in capsys.readouterr().err


def test_token_comes_from_flag_env_or_local_store_for_loopback_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.common.secrets import set_secret
    from backend.remote import resolve_token

    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ASSISTANT_TOKEN", raising=False)
    import backend.common.secrets as secrets_module

    monkeypatch.setattr(secrets_module, "_keyring_usable", lambda: False)
    with pytest.raises(NotAuthorized, match="--token"):
        resolve_token("http://127.0.0.1:8765")
    set_secret("server-token", "stored-token")
    assert resolve_token("http://127.0.0.1:8765") == "stored-token"
    assert resolve_token("http://localhost:1") == "stored-token"
    with pytest.raises(NotAuthorized):
        resolve_token("http://192.168.1.5:8765")  # never hand the local token elsewhere
    monkeypatch.setenv("ASSISTANT_TOKEN", "env-token")
    assert resolve_token("http://192.168.1.5:8765") == "env-token"
    assert resolve_token("http://127.0.0.1:8765", "flag-token") == "flag-token"
