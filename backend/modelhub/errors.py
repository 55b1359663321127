"""The model manager's errors, each with a title a user can act on.

They subclass ``AssistantError`` so the CLI prints ``title: message`` and the
TUI shows them like every other backend error, with no special casing. The
huggingface_hub and ollama exceptions never leave this package: ``hub.py``
and ``ollama_pull.py`` translate them into these.
"""

from __future__ import annotations

from backend.common.errors import AssistantError


class ModelHubError(AssistantError):
    """Base class: finding, downloading, verifying or removing a model failed."""

    title = "Model download problem"


class CatalogError(ModelHubError):
    """The curated catalog file is malformed (the message names the entry and field)."""

    title = "Invalid model catalog"


class ChecksumMismatchError(ModelHubError):
    """A downloaded file's SHA-256 differs from the one the Hub publishes.

    The file has already been deleted when this is raised; pulling again
    downloads it from scratch.
    """

    title = "Download corrupted"


class NotEnoughDiskError(ModelHubError):
    """The models folder's disk has less free space than the download needs."""

    title = "Not enough disk space"

    def __init__(self, message: str, *, needed: int, free: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.free = free


class HubUnreachableError(ModelHubError):
    """No answer from the Hub (server down, no network, offline mode) or from Ollama."""

    title = "Cannot reach the model hub"


class ModelNotFoundError(ModelHubError):
    """The repository, revision, file or Ollama model does not exist (or is private)."""

    title = "Model not found"


class QuantNotFoundError(ModelNotFoundError):
    """The repository exists but offers no file for the asked quantization."""

    title = "Quantization not found"

    def __init__(self, message: str, *, available: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.available = available


class GatedRepoError(ModelHubError):
    """The repository is gated: it needs a token whose account accepted its licence."""

    title = "Access token needed"


class PullCancelledError(ModelHubError):
    """The user cancelled a download; nothing was registered."""

    title = "Download cancelled"


class UnusableModelError(ModelHubError):
    """The file arrived intact (checksum verified) but is not a usable model file."""

    title = "Unusable model file"


class RemoveRefusedError(ModelHubError):
    """A removal was refused: the bundled model, or a file outside the models folders."""

    title = "Cannot remove model"


class PullInProgressError(ModelHubError):
    """Another pull (in this or another process) is downloading the same model."""

    title = "Download in progress"


class FileConflictError(ModelHubError):
    """A different file with the download's name is already in the models folder."""

    title = "File already exists"
