"""The backend's API over HTTP: a client generated from the contract, for
``assistant --connect URL`` (``backend.remote.client.RemoteBackend``)."""

from backend.remote.client import RemoteBackend, RemoteClient, resolve_token
from backend.remote.transport import NotAuthorized, ServerUnavailable

__all__ = ["NotAuthorized", "RemoteBackend", "RemoteClient", "ServerUnavailable", "resolve_token"]
