"""Which files a pull downloads, decided from the Hub's listing of the repo.

One ``model_info(files_metadata=True)`` call gives everything: the commit the
files are pinned to (every file of one pull comes from the same commit, so a
repo updated mid-download cannot mix versions, and a resumed download keeps
fetching the bytes it started with), whether the repo is gated, and each
file's size and checksum (the LFS SHA-256 for large files, the git blob id
for small ones).

GGUF repos: files are grouped into models (a single file, or the parts of a
split file) and matched by quantization tag (``filenames.quant_of``).
sentence-transformers repos (embedders, rerankers): the whole folder minus
alternative weight formats (ONNX, OpenVINO, TensorFlow, Flax, and
``pytorch_model.bin`` when safetensors exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from huggingface_hub.hf_api import RepoSibling

from backend.modelfiles import gguf_split
from backend.modelhub import filenames
from backend.modelhub.errors import ModelHubError, QuantNotFoundError
from backend.modelhub.hub import API_TIMEOUT_S, hub_api, hub_endpoint, translate


@dataclass(frozen=True)
class RemoteFile:
    """One file in a Hub repo, with what is needed to fetch and verify it."""

    path: str
    size: int
    sha256: str | None = None
    blob_id: str | None = None

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class PullPlan:
    """The files one pull downloads, pinned to one commit of ``repo``."""

    repo: str
    revision: str
    files: tuple[RemoteFile, ...]
    quant: str | None = None
    gated: bool = False

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class GGUFGroup:
    """One model in a GGUF repo: a single file or all parts of a split file."""

    stem: str
    quant: str | None
    files: tuple[RemoteFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class RepoListing:
    """A repo's files at one commit."""

    repo: str
    revision: str
    gated: bool
    files: tuple[RemoteFile, ...]


def _remote(sibling: RepoSibling) -> RemoteFile | None:
    size = sibling.lfs.size if sibling.lfs is not None else sibling.size
    if size is None:
        return None
    return RemoteFile(
        path=sibling.rfilename,
        size=int(size),
        sha256=sibling.lfs.sha256.lower() if sibling.lfs is not None else None,
        blob_id=sibling.blob_id,
    )


def list_repo(
    repo: str,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
) -> RepoListing:
    """A repository's files with sizes and checksums, at one commit.

    Args:
        repo: ``owner/name``.
        revision: a branch, tag or commit (default: the main branch).
        endpoint: the Hub URL (default: ``$HF_ENDPOINT`` or huggingface.co).
        token: a Hugging Face token for private or gated repos.

    Returns:
        The listing; ``revision`` is the resolved commit hash.

    Raises:
        ModelNotFoundError, GatedRepoError, HubUnreachableError: see ``hub.translate``.
    """
    url = hub_endpoint(endpoint)
    with translate(f"repository {repo}", url, bool(token)):
        info = hub_api(url, token).model_info(
            repo, revision=revision, files_metadata=True, timeout=API_TIMEOUT_S
        )
    files = tuple(f for f in (_remote(s) for s in info.siblings or ()) if f is not None)
    commit = info.sha or revision or "main"
    return RepoListing(repo=repo, revision=commit, gated=bool(info.gated), files=files)


def gguf_groups(files: tuple[RemoteFile, ...] | list[RemoteFile]) -> list[GGUFGroup]:
    """Group a repo's model GGUF files into models (split parts together).

    Vision projectors and imatrix files are left out, and so are split sets
    with a part missing.

    Returns:
        Groups sorted by total size.
    """
    groups: dict[str, list[tuple[int, int, RemoteFile]]] = {}
    for f in files:
        if not filenames.is_model_gguf(f.path):
            continue
        part = gguf_split.split_part(f.path)
        folder = str(PurePosixPath(f.path).parent)
        key = f"{folder}/{filenames.model_stem(f.path)}"
        number, count = (part.number, part.count) if part else (1, 1)
        groups.setdefault(key, []).append((number, count, f))
    out: list[GGUFGroup] = []
    for key, members in groups.items():
        members.sort(key=lambda m: m[0])
        count = members[0][1]
        if [m[0] for m in members] != list(range(1, count + 1)) or any(
            m[1] != count for m in members
        ):
            continue  # incomplete or inconsistent split set
        stem = key.split("/", 1)[1] if key.startswith("./") else key
        out.append(
            GGUFGroup(stem, filenames.quant_of(members[0][2].path), tuple(m[2] for m in members))
        )
    return sorted(out, key=lambda g: g.total_bytes)


def choose_gguf(listing: RepoListing, quant: str | None, filename: str | None = None) -> PullPlan:
    """Pick the files of one GGUF model in ``listing``.

    Args:
        listing: the repo's files.
        quant: the quantization tag (``Q4_K_M``; case-insensitive). With
            neither ``quant`` nor ``filename``, the repo must hold one model.
        filename: an exact file path in the repo (a split model's first part
            selects all its parts); wins over ``quant``.

    Returns:
        The plan, parts in order.

    Raises:
        QuantNotFoundError: nothing matches (the message lists what exists).
        ModelHubError: several models match (the message lists them).
    """
    groups = gguf_groups(listing.files)
    if not groups:
        raise QuantNotFoundError(f"{listing.repo} has no GGUF model files.")
    if filename is not None:
        chosen = [g for g in groups if any(f.path == filename for f in g.files)]
    elif quant is not None:
        chosen = [g for g in groups if g.quant is not None and g.quant == quant.upper()]
        if len(chosen) > 1:  # prefer files at the repo's root over sub-folders
            at_root = [g for g in chosen if "/" not in g.files[0].path]
            chosen = at_root or chosen
    else:
        chosen = groups
    available = tuple(sorted({g.quant or g.stem for g in groups}))
    if not chosen:
        asked = filename or quant
        raise QuantNotFoundError(
            f"{listing.repo} has no GGUF file for {asked!r}; it offers: {', '.join(available)}.",
            available=available,
        )
    if len(chosen) > 1:
        names = ", ".join(g.files[0].path for g in chosen)
        raise ModelHubError(
            f"{listing.repo} has several matching models ({names}); name one with a quantization "
            "or a file name."
        )
    group = chosen[0]
    return PullPlan(
        repo=listing.repo,
        revision=listing.revision,
        files=group.files,
        quant=group.quant,
        gated=listing.gated,
    )


# Files a sentence-transformers folder does not need.
_SKIP_DIRS = ("onnx/", "openvino/", "coreml/")
_SKIP_SUFFIXES = (".onnx", ".h5", ".msgpack", ".ot", ".gguf", ".tflite", ".mlmodel")
_SKIP_NAMES = (".gitattributes",)


def choose_folder(listing: RepoListing) -> PullPlan:
    """Pick the files of a sentence-transformers model folder.

    Returns:
        Everything except alternative weight formats; ``pytorch_model.bin``
        only when the repo has no safetensors weights.

    Raises:
        ModelHubError: the repo has no weights at all.
    """
    keep: list[RemoteFile] = []
    for f in listing.files:
        lower = f.path.lower()
        if lower.startswith(_SKIP_DIRS) or lower.endswith(_SKIP_SUFFIXES):
            continue
        if PurePosixPath(lower).name in _SKIP_NAMES:
            continue
        keep.append(f)
    has_safetensors = any(f.path.endswith(".safetensors") for f in keep)
    if has_safetensors:
        keep = [f for f in keep if not f.path.endswith((".bin", ".pt", ".pth"))]
    if not any(f.path.endswith((".safetensors", ".bin")) for f in keep):
        raise ModelHubError(f"{listing.repo} has no model weights (safetensors or .bin).")
    return PullPlan(
        repo=listing.repo,
        revision=listing.revision,
        files=tuple(sorted(keep, key=lambda f: f.path)),
        gated=listing.gated,
    )
