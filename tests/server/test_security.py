"""The front door: token, Origin, body size, malformed input; plus the
token's storage and the non-loopback warning."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import httpx
import pytest

from backend.common.locations import Locations
from backend.common.secrets import SecretStore
from backend.server.run import is_loopback, warn_if_exposed
from backend.server.security import TOKEN_NAME, load_or_create_token

from .conftest import Running

ENDPOINTS = [
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/embeddings"),
    ("GET", "/api/tags"),
    ("POST", "/api/chat"),
    ("POST", "/api/generate"),
    ("POST", "/api/embed"),
    ("GET", "/api/version"),
]
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def served(served_module: Running) -> Running:
    """One server for this module's tests: they only read it (see ``served_module``)."""
    return served_module


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_needs_the_token(served: Running, method: str, path: str) -> None:
    none = httpx.request(method, served.url + path, json=CHAT)
    wrong = httpx.request(
        method, served.url + path, json=CHAT, headers={"Authorization": "Bearer x"}
    )
    basic = httpx.request(method, served.url + path, headers={"Authorization": served.token})
    assert (none.status_code, wrong.status_code, basic.status_code) == (401, 401, 401)
    assert "token" in none.json()["error"]["message"]


def test_cross_origin_is_403_even_with_the_token(served: Running) -> None:
    r = httpx.get(served.url + "/v1/models", headers=served.headers(Origin="https://evil.example"))
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    pre = httpx.options(
        served.url + "/v1/chat/completions", headers={"Origin": "https://evil.example"}
    )
    assert pre.status_code == 403


def test_oversized_body_is_413(served: Running) -> None:
    big = {"model": "fake-model", "messages": [{"role": "user", "content": "x" * 70_000}]}
    r = httpx.post(served.url + "/v1/chat/completions", json=big, headers=served.headers())
    assert r.status_code == 413

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(20):
            yield b" " * 8192

    r = httpx.post(served.url + "/api/chat", content=chunks(), headers=served.headers())
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/chat/completions", b"{not json", 400),
        ("/v1/chat/completions", b"[1, 2]", 422),
        ("/v1/chat/completions", b'{"messages": "hi"}', 422),
        ("/v1/chat/completions", b'{"messages": []}', 422),
        ("/v1/chat/completions", b'{"messages": [{"role": "robot", "content": "x"}]}', 422),
        ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": 5}]}', 422),
        ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": " "}]}', 422),
        ("/v1/chat/completions", b'{"model": 3, "messages": [{"role": "user"}]}', 422),
        (
            "/v1/chat/completions",
            b'{"messages": [{"role":"user","content":"a"}], "temperature": "hot"}',
            422,
        ),
        (
            "/v1/chat/completions",
            b'{"messages": [{"role":"user","content":"a"}], "max_tokens": -1}',
            422,
        ),
        (
            "/v1/chat/completions",
            b'{"messages": [{"role":"user","content":"a"}], "stream": "yes"}',
            422,
        ),
        ("/v1/embeddings", b'{"input": []}', 422),
        ("/v1/embeddings", b'{"input": [1, 2]}', 422),
        ("/api/chat", b"\xff\xfe", 400),
        ("/api/chat", b'{"messages": [{"role": "user", "content": "a"}], "options": 3}', 422),
        ("/api/generate", b'{"model": "fake-model"}', 422),
        ("/api/embed", b"{}", 422),
    ],
)
def test_malformed_bodies_are_4xx_with_a_message(
    served: Running, path: str, body: bytes, status: int
) -> None:
    r = httpx.post(served.url + path, content=body, headers=served.headers())
    assert r.status_code == status
    error = r.json()["error"]
    assert (error if isinstance(error, str) else error["message"]).strip()


def test_unknown_path_and_method(served: Running) -> None:
    assert httpx.get(served.url + "/v1/nothing", headers=served.headers()).status_code == 404
    assert httpx.get(served.url + "/api/chat", headers=served.headers()).status_code == 405


def test_token_is_created_once_and_kept_in_a_0600_file_without_keyring(tmp_path: Path) -> None:
    loc = Locations(tmp_path / "h")
    store = SecretStore(loc, use_keyring=False)
    token, note = load_or_create_token(store=store)
    again, _ = load_or_create_token(store=SecretStore(loc, use_keyring=False))
    assert token == again and len(token) >= 40
    path = loc.home / "secrets" / TOKEN_NAME
    assert note is not None and str(path) in note
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    store.delete(TOKEN_NAME)
    assert store.get(TOKEN_NAME) is None


def test_secret_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid secret name"):
        SecretStore(Locations(tmp_path), use_keyring=False).set("../x", "v")


def test_loopback_detection_and_warning() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    err = io.StringIO()
    assert warn_if_exposed("0.0.0.0", err) and "WARNING" in err.getvalue()
    quiet = io.StringIO()
    assert not warn_if_exposed("127.0.0.1", quiet) and quiet.getvalue() == ""
