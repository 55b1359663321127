"""Reading and validating a GGUF file's header, without llama.cpp.

Validation: our own small GGUF header reader instead of ``gguf.GGUFReader``,
because the reader builds numpy views of every metadata array and tensor and
takes ~2 s on the bundled 98 MB model; we only need the header, a few
metadata values and the tensor table, and we need *precise* errors for broken
files, because a malformed or truncated GGUF handed to llama.cpp can abort or
segfault the whole process. It works on an ``mmap`` (only header pages are
touched; ~50 ms for the bundled model) and checks every read against the file
size.

GGUF layout (v2/v3, little-endian): magic ``GGUF``, u32 version, u64 tensor
count, u64 metadata count, metadata key/values, tensor infos (name, n_dims,
dims, ggml type, offset), padding to ``general.alignment``, tensor data.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.common.errors import ModelError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
GGML_MAX_DIMS = 4
# Generous sanity bounds: a corrupt count must fail fast, not loop for hours.
MAX_TENSORS = 1 << 20
MAX_KV = 1 << 20

# Metadata value types -> struct format of a scalar (8 = string, 9 = array).
_SCALAR_FMT = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i",
    6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING = 8
_ARRAY = 9


class _Truncated(Exception):
    """A read ran past the end of the file."""


@dataclass(frozen=True)
class GGUFInfo:
    """What ``read_gguf_header`` learned about a file.

    ``metadata`` holds every scalar and string value; arrays are recorded as
    their length only (``tokenizer.ggml.tokens`` alone can be megabytes).
    ``data_end`` is where the last tensor's bytes end: a file shorter than
    that is truncated.
    """

    path: Path
    version: int
    tensor_count: int
    file_size: int
    data_offset: int
    data_end: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str | None:
        value = self.metadata.get("general.name")
        return value if isinstance(value, str) else None

    @property
    def context_length(self) -> int | None:
        """The context length the model was trained for, if the file says."""
        if self.architecture is None:
            return None
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) and value > 0 else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    def token_id(self, which: str) -> int | None:
        """``token_id("bos")`` / ``token_id("eos")`` from the tokenizer metadata."""
        value = self.metadata.get(f"tokenizer.ggml.{which}_token_id")
        return int(value) if isinstance(value, int) else None


class _Cursor:
    """Bounds-checked little-endian reads from a buffer."""

    def __init__(self, buf: Any, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    def _need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise _Truncated

    def unpack(self, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        self._need(n)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return value

    def u32(self) -> int:
        return int(self.unpack("<I"))

    def u64(self) -> int:
        return int(self.unpack("<Q"))

    def string(self) -> str:
        n = self.u64()
        self._need(n)
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.u64()
        self._need(n)
        self.pos += n

    def value(self, vtype: int) -> Any:
        if vtype == _STRING:
            return self.string()
        fmt = _SCALAR_FMT.get(vtype)
        if fmt is None:
            raise ValueError(f"unknown metadata value type {vtype}")
        return self.unpack(fmt)

    def skip_array(self) -> int:
        """Skip an array value and return its length."""
        etype = self.u32()
        count = self.u64()
        if etype == _STRING:
            for _ in range(count):
                self.skip_string()
        elif etype == _ARRAY:
            for _ in range(count):
                self.skip_array()
        else:
            fmt = _SCALAR_FMT.get(etype)
            if fmt is None:
                raise ValueError(f"unknown array element type {etype}")
            n = struct.calcsize(fmt) * count
            self._need(n)
            self.pos += n
        return count


def _tensor_nbytes(name: str, dims: list[int], ggml_type: int) -> int:
    # Imported here: ``gguf`` pulls in numpy (~100 ms), and listing models
    # should not pay for it before a file is actually checked.
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError):
        raise ValueError(f"tensor {name!r} has unknown type {ggml_type}") from None
    count = 1
    for d in dims:
        count *= d
    if dims and dims[0] % block:
        raise ValueError(f"tensor {name!r}: row size {dims[0]} is not a multiple of {block}")
    return count // block * type_size


def _parse(cur: _Cursor, path: Path, file_size: int) -> GGUFInfo:
    if bytes(cur.buf[:4]) != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF model file (it does not start with 'GGUF').")
    cur.pos = 4
    version = cur.u32()
    if version not in SUPPORTED_VERSIONS:
        if version & 0xFFFF == 0 and (version >> 24) in SUPPORTED_VERSIONS:
            raise ModelError(f"{path} is a big-endian GGUF file, which is not supported.")
        raise ModelError(
            f"{path} uses GGUF version {version}; supported versions are "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}. Re-convert it with a recent llama.cpp."
        )
    tensor_count = cur.u64()
    kv_count = cur.u64()
    if tensor_count > MAX_TENSORS or kv_count > MAX_KV:
        raise ValueError(f"implausible header counts ({tensor_count} tensors, {kv_count} keys)")

    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = cur.string()
        vtype = cur.u32()
        metadata[key] = cur.skip_array() if vtype == _ARRAY else cur.value(vtype)

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise ValueError(f"general.alignment is {alignment!r}, not a power of two")

    data_size = 0
    for _ in range(tensor_count):
        name = cur.string()
        n_dims = cur.u32()
        if n_dims > GGML_MAX_DIMS:
            raise ValueError(f"tensor {name!r} has {n_dims} dimensions")
        dims = [cur.u64() for _ in range(n_dims)]
        ggml_type = cur.u32()
        offset = cur.u64()
        if offset % alignment:
            raise ValueError(f"tensor {name!r} offset {offset} is not aligned")
        data_size = max(data_size, offset + _tensor_nbytes(name, dims, ggml_type))

    data_offset = -(-cur.pos // alignment) * alignment
    return GGUFInfo(
        path=path,
        version=version,
        tensor_count=tensor_count,
        file_size=file_size,
        data_offset=data_offset,
        data_end=data_offset + data_size,
        metadata=metadata,
    )


def _read_header(path: Path) -> GGUFInfo:
    """Parse and check the GGUF header of ``path`` without reading tensor data.

    Raises:
        ModelError: missing file, a folder, unreadable, not GGUF, unsupported
            version, corrupt header, or a file shorter than its tensors need.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"Model file not found: {path}")
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not a GGUF model file.")
    try:
        with path.open("rb") as fh:
            file_size = path.stat().st_size
            if file_size < 4 + 4 + 8 + 8:
                raise ModelError(f"{path} is not a GGUF model file (only {file_size} bytes long).")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                try:
                    info = _parse(_Cursor(buf, file_size), path, file_size)
                except _Truncated:
                    raise ModelError(
                        f"{path} is truncated: the file ends inside its header "
                        f"({file_size} bytes). Download or copy it again."
                    ) from None
                except (ValueError, OverflowError, struct.error) as err:
                    raise ModelError(f"{path} has a corrupt GGUF header: {err}") from None
    except OSError as err:
        raise ModelError(f"Cannot read model file {path}: {err.strerror or err}") from None
    if file_size < info.data_end:
        raise ModelError(
            f"{path} is truncated: {file_size:,} bytes on disk but its tensors need "
            f"{info.data_end:,}. Download or copy it again."
        )
    return info


_HEADER_CACHE: dict[tuple[str, int, int], GGUFInfo] = {}


def validate_gguf(path: Path) -> GGUFInfo:
    """Check that ``path`` is a complete GGUF file llama.cpp can be given.

    Reads only the header and tensor table (the model list calls this for
    every file), and remembers the answer per (path, size, mtime) so a file
    is parsed once until it changes.

    Raises:
        ModelError: missing file, a folder, unreadable, not GGUF, unsupported
            version, corrupt header, or shorter than its tensors need
            (truncated download or copy). The message names the file.
    """
    path = Path(path).expanduser()
    try:
        st = path.stat()
    except OSError:
        st = None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns) if st else None
    if key and key in _HEADER_CACHE:
        return _HEADER_CACHE[key]
    info = _read_header(path)
    if key:
        _HEADER_CACHE[key] = info
    return info
