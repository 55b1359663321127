"""Which reranker answers use: ``[rag] reranker = "auto"`` (the default)
resolved against the config and the rerankers the model library pulled.

``auto`` takes, in order:

1. the configured ``cross_encoder_dir`` (a folder that is not a cross-encoder
   is an error then, as with ``reranker = "cross-encoder"``: the user asked
   for it);
2. a cross-encoder pulled with ``assistant models pull`` (kind ``reranker``
   in its pull record, ``backend.modelhub.installed``): the only one, or,
   with several, the first in the catalog's order (the catalog lists the
   fast English MiniLM first), then by name. A pulled folder that fails
   ``check_cross_encoder_dir`` is skipped and named in the note, never an
   error: a download must not break chat;
3. none.

The choice is recomputed on every question (a listing of the pull records
and a few small files read), so a reranker pulled or removed while the app
runs is used, or dropped, from the next question on; the model itself is
loaded only when the choice changes (``RagPipeline.reranker``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

from backend.common.config import RagSettings
from backend.common.errors import ConfigError
from backend.modelhub.catalog import load_catalog
from backend.modelhub.installed import installed_folders
from backend.modelhub.records import InstalledFolder
from backend.rag.rerank_base import RerankerError
from backend.rag.rerank_cross import check_cross_encoder_dir
from backend.rag.types import RerankerInUse

PULL_HINT = "assistant models pull ms-marco-minilm-l6"


@cache
def _catalog_order() -> dict[str, int]:
    return {e.name: i for i, e in enumerate(load_catalog().of_kind("reranker"))}


def downloaded_rerankers(models_dirs: Iterable[Path]) -> list[InstalledFolder]:
    """Pulled rerankers in ``models_dirs``, preferred first: catalog order,
    then the others by name."""
    order = _catalog_order()
    found = installed_folders(models_dirs, "reranker")
    return sorted(found, key=lambda f: (order.get(f.name, len(order)), f.name))


def choose_reranker(
    settings: RagSettings, downloaded: Sequence[InstalledFolder] = ()
) -> RerankerInUse:
    """The reranker ``settings`` asks for; ``downloaded`` (preferred first,
    as ``downloaded_rerankers`` orders them) is what ``auto`` may pick from.

    Nothing is loaded; a pulled folder is only checked for its layout.

    Raises:
        ConfigError: ``cross-encoder`` without ``cross_encoder_dir``, or an
            unknown kind.
    """
    kind = settings.reranker
    folder = settings.cross_encoder_dir
    if kind == "none":
        return RerankerInUse("none", kind, note="[rag] reranker = none")
    if kind == "llm":
        model = settings.llm_reranker_model
        return RerankerInUse("llm", kind, "configured", model, note="[rag] reranker = llm")
    if kind == "cross-encoder" and folder is None:
        raise ConfigError("rag.reranker = 'cross-encoder' needs rag.cross_encoder_dir")
    if kind not in ("auto", "cross-encoder"):
        raise ConfigError(
            f"rag.reranker: unknown reranker {kind!r} (auto, none, cross-encoder, llm)"
        )
    if folder is not None:
        path = Path(folder).expanduser()
        return RerankerInUse(
            "cross-encoder", kind, "configured", path.name, path, note="[rag] cross_encoder_dir"
        )
    usable: list[InstalledFolder] = []
    skipped: list[str] = []
    for pulled in downloaded:
        try:
            check_cross_encoder_dir(pulled.path)
        except RerankerError as err:
            skipped.append(f"{pulled.name} skipped: {err}")
            continue
        usable.append(pulled)
    if not usable:
        note = "; ".join([*skipped, f"no reranker downloaded ({PULL_HINT})"])
        return RerankerInUse("none", kind, note=note)
    chosen = usable[0]
    note = "the only reranker downloaded"
    if len(usable) > 1:
        others = ", ".join(f.name for f in usable[1:])
        note = (
            f"preferred of {len(usable)} downloaded (also {others}; "
            "set cross_encoder_dir to choose)"
        )
    note = "; ".join([note, *skipped])
    return RerankerInUse("cross-encoder", kind, "downloaded", chosen.name, chosen.path, note=note)
