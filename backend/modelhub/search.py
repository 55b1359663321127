"""Finding GGUF models beyond the catalog, and what quantizations a repo offers.

``search_hub`` asks the Hub for repos tagged ``gguf`` whose id contains the
query (``HfApi.list_models(search=..., filter="gguf")``, most downloaded
first). ``repo_quants`` lists one repo's GGUF files (``list_repo_tree``,
recursive: some repos keep each quantization in a sub-folder) and groups them
into models by quantization tag, split parts summed, so a picker can show
"Q4_K_M 4.7 GB (2 parts)" and fit each against the machine.
"""

from __future__ import annotations

from itertools import islice

from huggingface_hub.hf_api import RepoFile

from backend.modelhub.hub import hub_api, hub_endpoint, probe, translate
from backend.modelhub.plan import RemoteFile, gguf_groups
from backend.modelhub.records import HubModel, QuantOption


def search_hub(
    query: str,
    *,
    limit: int = 20,
    endpoint: str | None = None,
    token: str | None = None,
) -> list[HubModel]:
    """Search the Hub for GGUF model repos.

    Args:
        query: text contained in the repo id (``qwen2.5 7b`` style words are
            passed as one string; the Hub matches it as a substring).
        limit: at most this many hits.
        endpoint: the Hub URL (default: ``$HF_ENDPOINT`` read now).
        token: optional Hugging Face token.

    Returns:
        Hits, most downloaded first.

    Raises:
        HubUnreachableError: no answer from the Hub.
    """
    url = hub_endpoint(endpoint)
    probe(url)
    with translate(f"the search for {query!r}", url):
        found = hub_api(url, token).list_models(
            search=query, filter="gguf", sort="downloads", limit=limit
        )
        hits = list(islice(found, limit))
    return [
        HubModel(
            repo=m.id,
            downloads=m.downloads,
            likes=m.likes,
            gated=bool(m.gated),
            tags=tuple(m.tags or ()),
        )
        for m in hits
    ]


def repo_quants(
    repo: str,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
) -> list[QuantOption]:
    """The GGUF models a repo offers, one per quantization (split parts together).

    Args:
        repo: ``owner/name``.
        revision: branch, tag or commit (default: main).
        endpoint: the Hub URL (default: ``$HF_ENDPOINT`` read now).
        token: a token for private or gated repos.

    Returns:
        Options sorted by size; ``quant`` is None for a file whose name
        carries no recognisable tag.

    Raises:
        ModelNotFoundError, GatedRepoError, HubUnreachableError.
    """
    url = hub_endpoint(endpoint)
    probe(url)
    with translate(f"repository {repo}", url, bool(token)):
        tree = list(hub_api(url, token).list_repo_tree(repo, recursive=True, revision=revision))
    files = [
        RemoteFile(
            path=f.path,
            size=f.lfs.size if f.lfs is not None else f.size,
            sha256=f.lfs.sha256 if f.lfs is not None else None,
            blob_id=f.blob_id,
        )
        for f in tree
        if isinstance(f, RepoFile)
    ]
    return [
        QuantOption(g.quant, tuple(f.path for f in g.files), g.total_bytes)
        for g in gguf_groups(files)
    ]
