"""Pulling a model into a local Ollama server, with the same progress records.

Ollama downloads and verifies its own blobs; we only drive it through the
official client (``Client(host).pull(model, stream=True)``) and map its
progress stream (``status``, and per layer ``digest``/``total``/
``completed``) to ``PullProgress``, so the CLI and the TUI draw one kind of
progress. The ``file`` of a record is the layer's short digest, or the status
text for steps without bytes (``pulling manifest``, ``verifying sha256
digest``, ``writing manifest``, ``success``).

Cancel closes the stream; Ollama then stops and keeps what it fetched for
the next pull.
"""

from __future__ import annotations

import threading

import httpx
from ollama import Client, ResponseError

from backend.modelhub.errors import (
    HubUnreachableError,
    ModelHubError,
    ModelNotFoundError,
    PullCancelledError,
)
from backend.modelhub.progress import ProgressCallback, ProgressMeter

DEFAULT_HOST = "http://127.0.0.1:11434"
_NOT_FOUND = ("file does not exist", "not found", "manifest unknown")


def _unreachable(host: str) -> HubUnreachableError:
    return HubUnreachableError(
        f"No Ollama server answers at {host}. Start it (ollama serve) or set [ollama] host."
    )


def ollama_pull(
    model: str,
    host: str = DEFAULT_HOST,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout_s: float = 30.0,
) -> None:
    """Have the Ollama server at ``host`` pull ``model``.

    Args:
        model: an Ollama model name (``qwen2.5:1.5b``, ``hf.co/owner/repo:Q4_K_M``).
        host: the server's URL.
        on_progress: called with a ``PullProgress`` per stream line.
        cancel: set it to stop the pull (the server keeps partial layers).
        timeout_s: how long to wait for each stream line.

    Raises:
        HubUnreachableError: no server answers at ``host``.
        ModelNotFoundError: Ollama does not know the model.
        PullCancelledError: ``cancel`` was set.
        ModelHubError: any other refusal (Ollama's message included).
    """
    meter = ProgressMeter(on_progress, cancel)
    client = Client(host=host, timeout=timeout_s)
    current = None
    stream = None
    try:
        stream = client.pull(model, stream=True)
        for part in stream:
            status = part.status or ""
            if part.digest and part.total:
                name = part.digest.removeprefix("sha256:")[:12]
                if name != current:
                    meter.start_file(name, part.completed or 0, part.total)
                    current = name
                else:
                    meter.advance(max(0, (part.completed or 0) - meter.done))
                    continue
            else:
                meter.file, meter.done, meter.total = status, 0, None
                current = None
                meter.emit(status)
            meter.check_cancel()
    except PullCancelledError:
        raise PullCancelledError(
            f"The Ollama pull of {model} was cancelled; Ollama keeps what it fetched."
        ) from None
    except ResponseError as err:
        message = str(err.error)
        if err.status_code == 404 or any(s in message.lower() for s in _NOT_FOUND):
            raise ModelNotFoundError(f"Ollama cannot find {model!r}: {message}") from None
        raise ModelHubError(f"Ollama could not pull {model!r}: {message}") from None
    except (ConnectionError, httpx.ConnectError):
        raise _unreachable(host) from None
    except httpx.TransportError as err:
        raise HubUnreachableError(f"The Ollama server at {host} stopped answering: {err}") from None
    finally:
        close = getattr(stream, "close", None)  # a generator: closing ends the response
        if close is not None:
            close()
        client.close()
