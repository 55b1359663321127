"""The server's front door: bearer token, Origin allow-list, body limit.

- Every request needs ``Authorization: Bearer <token>`` (compared in
  constant time); without it 401. There is no unauthenticated endpoint, not
  even ``/api/version``: anything on the machine (a web page through the
  browser, another user) can reach a loopback port.
- A request with an ``Origin`` header not in the allow-list (empty by
  default) gets 403, so a web page cannot drive the API through the user's
  browser; there is no wildcard CORS and no pre-flight answer.
- Bodies over ``max_body`` bytes get 413, by ``Content-Length`` or while
  reading a chunked body.

The token is created (``secrets.token_urlsafe``) on first start and kept
with ``backend.common.secrets`` (OS keyring, else a 0600 file) as ``server-token``.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from backend.common.locations import Locations
from backend.common.secrets import SecretStore
from backend.server.errors import ApiError

TOKEN_NAME = "server-token"
DEFAULT_MAX_BODY = 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def load_or_create_token(
    locations: Locations | None = None, store: SecretStore | None = None
) -> tuple[str, str | None]:
    """The server token, created on first use; and a note to print when it
    is kept in a file because there is no keyring."""
    store = store or SecretStore(locations)
    token = store.get(TOKEN_NAME)
    if not token:
        token = secrets.token_urlsafe(32)
        store.set(TOKEN_NAME, token)
    return token, store.fallback_note


class _TooLarge(ApiError):
    """Raised while reading a body past the limit; the app renders it."""


class Guard:
    """ASGI middleware enforcing the three rules above before any route."""

    def __init__(
        self,
        app: ASGIApp,
        token: str,
        allowed_origins: tuple[str, ...] = (),
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.app = app
        self.token = token.encode()
        self.allowed_origins = set(allowed_origins)
        self.max_body = max_body

    async def _reject(self, send: Send, status: int, message: str) -> None:
        body = json.dumps({"error": {"message": message, "type": "auth_error", "code": status}})
        headers = [(b"content-type", b"application/json")]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        origin = headers.get(b"origin")
        if origin is not None and origin.decode("latin-1") not in self.allowed_origins:
            await self._reject(send, 403, "cross-origin requests are not allowed")
            return
        auth = headers.get(b"authorization", b"")
        given = auth[7:].strip() if auth[:7].lower() == b"bearer " else b""
        if not given or not hmac.compare_digest(given, self.token):
            await self._reject(send, 401, "missing or wrong bearer token")
            return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body
            except ValueError:
                too_big = True
            if too_big:
                await self._reject(send, 413, f"request body over {self.max_body} bytes")
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _TooLarge(413, f"request body over {self.max_body} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send, 413, f"request body over {self.max_body} bytes")
