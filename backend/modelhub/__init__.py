"""The model manager: find, fit, download, verify and remove models.

One concern per module:

- ``catalog``: the curated list (``catalog.toml``), validated on load;
- ``search``: GGUF repos on the Hugging Face Hub and their quantizations;
- ``machine`` / ``fit``: this machine's RAM, GPU and disk, and whether a
  model ``fits``, runs ``slow`` or ``won't fit``; ``recommend``;
- ``download`` (GGUF models, and ``pull`` for any spec) and ``folder``
  (sentence-transformers folders): resumable, verified pulls from the Hub
  into the models folder (``plan`` picks the files, ``session`` holds what
  a pull shares, ``transfer`` fetches one file, ``verify`` checks its
  checksum, ``layout`` names the partial files and records, ``disk`` checks
  free space, ``hub`` the endpoint, token and error translation);
- ``worker``: the same pull in a separate process (``python -m backend.modelhub``);
- ``ollama_pull``: pulls into a local Ollama server;
- ``remove``: deleting downloaded models and partial downloads;
- ``errors``: the ``ModelHubError`` family (user-facing titles).

Only the light modules are imported here; importing ``download``,
``search`` or ``ollama_pull`` loads huggingface_hub or the ollama client.
This package never imports Textual or ``assistant``.
"""

from backend.modelhub.catalog import Catalog, CatalogEntry, Quant, load_catalog
from backend.modelhub.errors import ModelHubError
from backend.modelhub.progress import PullProgress

__all__ = [
    "Catalog",
    "CatalogEntry",
    "ModelHubError",
    "PullProgress",
    "Quant",
    "load_catalog",
]
