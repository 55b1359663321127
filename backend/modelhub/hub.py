"""Talking to the Hugging Face Hub: endpoint, token, and error translation.

Endpoint: huggingface_hub reads ``HF_ENDPOINT`` once, at import, into
``constants.ENDPOINT``; a value set later (a test pointing at its loopback
server, a user's mirror set in a running app) would be ignored. So every
call here passes ``endpoint=`` explicitly, read from the environment at call
time (``hub_endpoint``).

Token: ``HF_TOKEN`` if set, else the secret named ``hf-token`` in the OS
keyring (``backend.common.secrets``), else None (huggingface_hub then uses a token
saved by ``hf auth login``, if any). Only gated repositories need one.

Offline mode: huggingface_hub also freezes ``HF_HUB_OFFLINE`` at import and
then refuses every request. The knowledge base sets ``HF_HUB_OFFLINE=1`` for
its own model loads (``backend.knowledge.embedder``), so in a process where
it loaded first, a pull here fails with ``HubUnreachableError`` saying so;
``backend.modelhub.worker`` runs a pull in a fresh process instead.

Errors: ``translate`` maps huggingface_hub's and httpx2's exceptions to the
``ModelHubError`` family so callers never see library types.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import HfApi, constants
from huggingface_hub import errors as hf_errors

from backend.common.locations import Locations
from backend.modelhub.errors import (
    GatedRepoError,
    HubUnreachableError,
    ModelHubError,
    ModelNotFoundError,
)

TOKEN_SECRET = "hf-token"
OFFLINE_MESSAGE = (
    "Downloads from Hugging Face are switched off in this process (HF_HUB_OFFLINE=1 was set "
    "when huggingface_hub was imported). Run the pull in a fresh process "
    "(python -m backend.modelhub pull ..., or worker.pull_in_subprocess) or unset HF_HUB_OFFLINE."
)
API_TIMEOUT_S = 30.0

NETWORK_ERRORS: tuple[type[Exception], ...] = (
    httpx2.TransportError,  # connect, read, write, timeouts, protocol errors
    hf_errors.OfflineModeIsEnabled,
    ConnectionError,
)


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub's base URL: ``endpoint``, else ``$HF_ENDPOINT`` now, else the default.

    Args:
        endpoint: an explicit base URL (wins over the environment).

    Returns:
        The URL without a trailing slash.
    """
    value = endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    return value.rstrip("/")


def hub_token(locations: Locations | None = None) -> str | None:
    """The Hugging Face token to send: ``$HF_TOKEN``, else the ``hf-token`` secret.

    Args:
        locations: where the secrets fallback file lives (default: the data folder).

    Returns:
        The token, or None when neither is set (or the keyring cannot be read).
    """
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    try:
        from backend.common.secrets import SecretStore

        return SecretStore(locations).get(TOKEN_SECRET)
    except Exception:  # a locked or broken keyring must not stop public downloads
        return None


def hub_api(endpoint: str | None = None, token: str | None = None) -> HfApi:
    """An ``HfApi`` client bound to ``hub_endpoint(endpoint)`` and ``token``."""
    return HfApi(endpoint=hub_endpoint(endpoint), token=token)


def ensure_online() -> None:
    """Fail early, and clearly, when huggingface_hub is in offline mode.

    Raises:
        HubUnreachableError: ``HF_HUB_OFFLINE`` was set when huggingface_hub
            was imported in this process.
    """
    if constants.is_offline_mode():
        raise HubUnreachableError(OFFLINE_MESSAGE)


def probe(endpoint: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing answers at ``endpoint``.

    huggingface_hub's paginated listings (``list_models``, ``list_repo_tree``)
    retry connection errors five times with back-off, about 23 s, before
    giving up: a search box must not hang that long when the network is
    down. One HEAD request with a short timeout tells; any HTTP answer at all
    counts as reachable.

    Raises:
        HubUnreachableError: connection refused, DNS failure, timeout, or
            offline mode.
    """
    from huggingface_hub.utils import get_session

    with translate("the Hub", endpoint):
        get_session().head(f"{endpoint}/api/models", timeout=timeout_s)


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs share scheme, host and port (auth may follow a redirect)."""
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def gated_message(what: str, has_token: bool) -> str:
    """The message for a refused gated repo: what to do, with or without a token."""
    if has_token:
        return (
            f"{what} is gated and the Hub refused the token: it is invalid, or its account "
            "has not accepted the model's licence on the model's Hugging Face page."
        )
    return (
        f"{what} is gated: accept its licence on its Hugging Face page, then give the "
        "assistant a token from that account (set HF_TOKEN, or store it as the secret "
        f"'{TOKEN_SECRET}': keyring set local-assistant {TOKEN_SECRET})."
    )


@contextmanager
def translate(what: str, endpoint: str, has_token: bool = False) -> Iterator[None]:
    """Re-raise huggingface_hub/httpx2 errors as ``ModelHubError`` subclasses.

    Args:
        what: the object of the call, for messages ("repository Qwen/X").
        endpoint: the Hub URL, for messages.
        has_token: whether a token was sent (a refusal then blames the token).

    Raises:
        GatedRepoError, ModelNotFoundError, HubUnreachableError, ModelHubError.
    """
    try:
        yield
    except ModelHubError:
        raise
    except hf_errors.GatedRepoError:
        raise GatedRepoError(gated_message(what, has_token)) from None
    except hf_errors.RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"{what} was not found on {endpoint} (check the name; a private repository "
            "needs a token)."
        ) from None
    except hf_errors.RevisionNotFoundError:
        raise ModelNotFoundError(f"{what}: that revision does not exist on {endpoint}.") from None
    except hf_errors.RemoteEntryNotFoundError:
        raise ModelNotFoundError(f"{what} has no such file on {endpoint}.") from None
    except hf_errors.OfflineModeIsEnabled:
        raise HubUnreachableError(OFFLINE_MESSAGE) from None
    except hf_errors.HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status in (401, 403):
            raise GatedRepoError(f"HTTP {status}: " + gated_message(what, has_token)) from None
        if (status is not None and status >= 500) or status in (408, 429):
            raise HubUnreachableError(
                f"{endpoint} answered HTTP {status} for {what}; try again later."
            ) from None
        raise ModelHubError(f"{endpoint} refused the request for {what}: {err}") from None
    except NETWORK_ERRORS as err:
        raise HubUnreachableError(
            f"Cannot reach {endpoint} ({type(err).__name__}: {err}). Check the network "
            "connection (or HF_ENDPOINT) and try again; a partial download is kept and resumed."
        ) from None
