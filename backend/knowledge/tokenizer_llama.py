"""A GGUF model's own tokenizer, shaped the way the ``Chunker`` uses one.

The chunker counts and splits with a ``tokenizers.Tokenizer``: it needs
``encode``/``encode_batch`` giving token ``ids`` and character ``offsets``,
``num_special_tokens_to_add`` and the no-op ``no_truncation``/``no_padding``.
``LlamaChunkTokenizer`` provides exactly that from llama.cpp, so chunks of a
``LlamaCppEmbedder`` index are counted in the tokens that model really sees
(the bundled MiniLM tokenizer would not do: it ignores whitespace, maps whole
odd words to one ``[UNK]``, and so can undercount a byte-level BPE model's
tokens many times over).

Decisions:

* It loads the GGUF with ``vocab_only=True`` through llama.cpp's C API (as
  bound by llama-cpp-python): a separate, weight-less model with no context
  (fast to load, a few MB), so chunking in the indexer's producer thread
  never touches the embedding context the main thread is decoding with. A
  lock serialises its own calls; the model is freed with the object.
  llama.cpp's load messages are silenced as ``Llama(verbose=False)`` does.
* Counting matches ``Llama.embed`` exactly: ``add_special_tokens=True``
  tokenizes with ``add_bos=True, special=False``, which is what ``embed``
  does.
* Offsets come from each token's piece (its bytes). Byte-level BPE pieces
  concatenate back to the text exactly; SentencePiece vocabularies add one
  leading space, which is accounted for; anything else (a vocabulary that
  normalises text) falls back to spreading the pieces proportionally over
  the text -- still monotone and covering, and the chunker re-counts every
  chunk with the real tokenizer anyway. Byte offsets become character
  offsets (a token that ends inside a multi-byte character takes the whole
  character), and, as Hugging Face's BERT tokenizers do, whitespace is
  trimmed off a token's span (a whitespace-only token gets an empty span at
  its start), so the chunker still sees paragraph/sentence/word gaps.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.knowledge.errors import EmbeddingError


@dataclass(frozen=True)
class LlamaEncoding:
    """The two fields of ``tokenizers.Encoding`` the chunker reads."""

    ids: list[int]
    offsets: list[tuple[int, int]]


def _byte_to_char(text: str, data: bytes) -> list[int]:
    """For every byte position 0..len(data), the index of the character it is in."""
    out: list[int] = []
    for ci, ch in enumerate(text):
        out.extend([ci] * len(ch.encode("utf-8")))
    out.append(len(text))
    assert len(out) == len(data) + 1
    return out


def _is_char_boundary(data: bytes, b: int) -> bool:
    return b >= len(data) or (data[b] & 0xC0) != 0x80


def char_offsets(text: str, pieces: list[bytes]) -> list[tuple[int, int]]:
    """Character spans of ``pieces`` (token bytes, in order) within ``text``."""
    data = text.encode("utf-8")
    joined = sum(len(p) for p in pieces)
    shift = 0
    exact = True
    if b"".join(pieces) != data:
        if joined == len(data) + 1 and b"".join(pieces) == b" " + data:
            shift = 1  # SentencePiece's added leading space
        else:
            exact = False
    b2c = _byte_to_char(text, data)
    spans: list[tuple[int, int]] = []
    cum = 0
    for piece in pieces:
        start, cum = cum, cum + len(piece)
        if exact:
            bs, be = max(0, start - shift), max(0, cum - shift)
        else:
            bs = round(start / max(joined, 1) * len(data))
            be = round(cum / max(joined, 1) * len(data))
        bs, be = min(bs, len(data)), min(be, len(data))
        cs = b2c[bs]
        ce = b2c[be] if _is_char_boundary(data, be) else b2c[be] + 1
        spans.append(_trim(text, cs, max(cs, ce)))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    s, e = start, end
    while s < e and text[s].isspace():
        s += 1
    if s == e:
        return (start, start)  # whitespace only: an empty span, so gaps show
    while e > s and text[e - 1].isspace():
        e -= 1
    return (s, e)


class LlamaChunkTokenizer:
    """The tokenizer of one GGUF file, loaded (vocabulary only) on first use."""

    def __init__(self, model_path: Path) -> None:
        self.model_path = Path(model_path)
        self._model: Any = None
        self._vocab: Any = None
        self._pieces: dict[int, bytes] = {}
        self._specials: int | None = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._vocab is None:
            from backend.modelfiles.gguf_header import validate_gguf

            try:
                validate_gguf(self.model_path)
            except Exception as err:  # ModelError names the file and the problem
                raise EmbeddingError(f"unusable embedding model: {err}") from None
            import llama_cpp
            from llama_cpp._logger import set_verbose

            set_verbose(False)
            llama_cpp.llama_backend_init()
            params = llama_cpp.llama_model_default_params()
            params.vocab_only = True
            model = llama_cpp.llama_model_load_from_file(str(self.model_path).encode(), params)
            if not model:
                raise EmbeddingError(f"llama.cpp cannot load the tokenizer of {self.model_path}")
            self._model = model
            self._vocab = llama_cpp.llama_model_get_vocab(model)
        return self._vocab

    def close(self) -> None:
        """Free the vocabulary (also done when the object is collected)."""
        with self._lock:
            if self._model is not None:
                import llama_cpp

                llama_cpp.llama_model_free(self._model)
                self._model = self._vocab = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown
            self.close()

    def _tokenize(self, data: bytes, add_special: bool) -> list[int]:
        import llama_cpp

        vocab = self._load()
        n_max = len(data) + 8
        for _ in range(2):
            buf = (llama_cpp.llama_token * n_max)()
            n = llama_cpp.llama_tokenize(vocab, data, len(data), buf, n_max, add_special, False)
            if n >= 0:
                return list(buf[:n])
            n_max = -n  # the buffer was too small: this many are needed
        raise EmbeddingError(f"llama.cpp could not tokenize a text for {self.model_path.name}")

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            import llama_cpp

            size = 64
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, False)
            if n < 0:
                size = -n
                buf = ctypes.create_string_buffer(size)
                n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, False)
            piece = buf.raw[: max(n, 0)]
            self._pieces[token] = piece
        return piece

    # -- the tokenizers.Tokenizer surface the Chunker uses ------------------
    def no_truncation(self) -> None:
        """Counts are never truncated here; kept for the Chunker's call."""

    def no_padding(self) -> None:
        """Nothing is ever padded here; kept for the Chunker's call."""

    def num_special_tokens_to_add(self, is_pair: bool = False) -> int:
        """Tokens ``embed`` adds around a text (BOS/EOS, per the vocabulary)."""
        with self._lock:
            if self._specials is None:
                added = len(self._tokenize(b"a", True)) - len(self._tokenize(b"a", False))
                self._specials = max(0, added)
            return self._specials

    def encode(self, text: str, add_special_tokens: bool = True) -> LlamaEncoding:
        with self._lock:
            ids = self._tokenize(text.encode("utf-8"), add_special_tokens)
            if add_special_tokens:
                # only the count is read on this path; spans are not computed
                return LlamaEncoding(ids, [(0, 0)] * len(ids))
            pieces = [self._piece(i) for i in ids]
        return LlamaEncoding(ids, char_offsets(text, pieces))

    def encode_batch(
        self, texts: list[str], add_special_tokens: bool = True
    ) -> list[LlamaEncoding]:
        return [self.encode(t, add_special_tokens) for t in texts]
