"""``RemoteBackend``: the assistant's API (``backend.api.contract``) served by
a running ``assistant serve``, for ``assistant --connect URL``.

It is generated from the contract: each service is a ``ServiceProxy``
(``backend.remote.proxy``) and nothing is written per method, so it cannot
drift from the embedded ``Backend``. Like ``Backend`` it is constructed
unstarted and ``start()`` (or ``RemoteBackend.open``) connects: it reads
the session values the UI reads synchronously (``settings``,
``unavailable``) once. ``close()`` closes the connection, never the
server's backend.
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, TypeAdapter

from backend.api import spec
from backend.api.contract import (
    AssistantAPI,
    ChatAPI,
    ConversationsAPI,
    DocumentsAPI,
    EvaluationAPI,
    LibraryAPI,
    MemoryAPI,
    ModelsAPI,
    TelemetryAPI,
    ToolsAPI,
    TransferAPI,
    TuneupsAPI,
)
from backend.api.wire import for_contract
from backend.common.config import Settings
from backend.remote.proxy import ServiceProxy
from backend.remote.transport import NotAuthorized, ServerUnavailable, Transport
from backend.runtimes.registry import UnavailableRuntime

TOKEN_ENV = "ASSISTANT_TOKEN"


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(url: str, token: str | None = None) -> str:
    """``token``, else ``$ASSISTANT_TOKEN``, else (loopback URLs only: the
    server runs as this user on this machine) the local ``server-token``.

    Raises:
        NotAuthorized: none of them gives a token.
    """
    token = token or os.environ.get(TOKEN_ENV)
    if not token and is_loopback_url(url):
        from backend.common.secrets import get_secret

        token = get_secret("server-token")
    if not token:
        raise NotAuthorized(f"no token for {url}: pass --token or set {TOKEN_ENV}")
    return token


class RemoteClient:
    """Any contract served at ``url``: its services as proxies, its session
    values read on ``start``. ``RemoteBackend`` is this for ``AssistantAPI``."""

    def __init__(
        self, contract: type[Any], url: str, token: str, *, timeout_s: float = 300.0
    ) -> None:
        self.contract = contract
        self.url = url.rstrip("/")
        self.transport = Transport(self.url, token, for_contract(contract), timeout_s)
        self.session: dict[str, Any] = {}
        by_service: dict[str, list[spec.Endpoint]] = {}
        for endpoint in spec.endpoints(contract).values():
            by_service.setdefault(endpoint.service, []).append(endpoint)
        for service in spec.services(contract):
            proxy = ServiceProxy(self.transport, service, by_service.get(service, []))
            setattr(self, service, proxy)

    async def start(self) -> None:
        """Connect and read the session values.

        Raises:
            ServerUnavailable: nothing answers at the URL.
            NotAuthorized: the token was refused.
        """
        self.transport.open()
        try:
            response = await self.transport.request("GET", "/backend/session")
            values = response.json()["values"]
            for name, tp in spec.session_values(self.contract).items():
                raw = values[name]
                if isinstance(tp, type) and issubclass(tp, BaseModel):
                    self.session[name] = TypeAdapter(tp).validate_python(raw)
                else:
                    self.session[name] = self.transport.codec.decode(raw)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        await self.transport.close()


class RemoteBackend(RemoteClient):
    """``AssistantAPI`` served by ``assistant serve`` at ``url``."""

    conversations: ConversationsAPI
    telemetry: TelemetryAPI
    chat: ChatAPI
    models: ModelsAPI
    library: LibraryAPI
    documents: DocumentsAPI
    tools: ToolsAPI
    evaluation: EvaluationAPI
    memory: MemoryAPI
    tuneups: TuneupsAPI
    transfer: TransferAPI

    def __init__(self, url: str, token: str, *, timeout_s: float = 300.0) -> None:
        super().__init__(AssistantAPI, url, token, timeout_s=timeout_s)

    @classmethod
    async def open(cls, url: str, token: str, **kwargs: Any) -> RemoteBackend:
        backend = cls(url, token, **kwargs)
        await backend.start()
        return backend

    @property
    def settings(self) -> Settings:
        if "settings" not in self.session:
            raise RuntimeError("RemoteBackend.start() has not run")
        settings: Settings = self.session["settings"]
        return settings

    @property
    def unavailable(self) -> list[UnavailableRuntime]:
        unavailable: list[UnavailableRuntime] = self.session.get("unavailable", [])
        return unavailable


if TYPE_CHECKING:

    def _implements_the_contract(backend: RemoteBackend) -> AssistantAPI:
        return backend


__all__ = ["NotAuthorized", "RemoteBackend", "RemoteClient", "ServerUnavailable", "resolve_token"]
