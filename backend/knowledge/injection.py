"""Retrieved text is untrusted: spotting text that tries to instruct the
assistant (prompt injection), neutralising it in the prompt, and the
``chunk_flags`` rows that let the UI warn.

Two defences, because neither is enough alone:

- ``scan`` flags a chunk at index time (``backend.knowledge.index_store``
  writes the flags in the same transaction as the chunk) so the UI can warn
  and ``build_context`` can mark the source as suspicious to the model;
- ``neutralise`` runs on *every* source (flagged or not) when the prompt is
  built, so nothing in a document can forge the ``<source>`` fence or a
  chat-template control token, whatever the scanner missed.

Patterns are deliberately specific: the Python docs legitimately say
"system", "instructions", "ignore", "prompt", "you are now" and show JSON,
so a loose pattern would flag half of any technical corpus and the warning
would mean nothing. Measured false-positive rate, every chunk of the Python
3.11 HTML docs (530 pages, HtmlParser + the MiniLM Chunker at 256 tokens,
24,020 chunks, of which 1,396 say "system", 642 "ignor...", 519 "send",
174 "you are", 158 "prompt", 128 "instruction"): 0 chunks flagged
(0.0 %, i.e. below 1 in 24,000); the run is
``python -m backend.knowledge.injection /usr/share/doc/python3.11/html``.
The true-positive side is the attack list in tests/rag/test_injection.py.

Reasons are short, fixed labels (they are stored and shown as they are).
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

INSTRUCTION_OVERRIDE = "instruction override"
ROLE_MARKUP = "role/system markup"
FENCE_MARKUP = "source fence markup"
TOOL_CALL = "tool-call markup"
HIDDEN_HTML = "hidden HTML text"
INVISIBLE_TEXT = "invisible Unicode text"
EXFILTRATION = "exfiltration request"
PROMPT_LEAK = "system prompt request"

HIDDEN_PLACEHOLDER = "[hidden HTML text removed]"
"""What the HTML parser leaves where it dropped hidden text that mattered;
``scan`` flags it, so the chunk that held it carries the warning."""

SCAN_VERSION = "1"
"""Bump when the patterns change: ``backfill_flags`` then rescans every chunk."""
_META_KEY = "injection_scan_version"

_I = re.IGNORECASE
_PREVIOUS = r"(?:previous|prior|above|preceding|earlier|foregoing|former|original|initial)"
_RULES = r"(?:instructions?|directions?|directives?|prompts?|rules|guidelines|commands)"
_OVERRIDE = [
    # "ignore all previous instructions", "disregard the above prompt"
    re.compile(
        r"\b(?:ignore|disregard|forget|override|overrule|bypass|skip)\s+"
        r"(?:(?:all|any|every|of|the|your|my|these|those)\s+){0,3}"
        rf"{_PREVIOUS}\s+(?:\w+\s+)?{_RULES}\b",
        _I,
    ),
    # "disregard the system prompt", "ignore your instructions"
    re.compile(
        r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:all|any|the|your)\s+){1,2}"
        r"(?:system\s+prompt|system\s+message|instructions|guidelines|safety\s+rules)\b",
        _I,
    ),
    re.compile(
        r"\bdo\s+not\s+follow\s+(?:the|your|any)\s+(?:system\s+|previous\s+)?"
        r"(?:prompt|instructions|rules)\b",
        _I,
    ),
    # "New instructions:" / "Updated system instructions:" as a heading
    re.compile(r"\b(?:new|updated|real|actual|revised)\s+(?:system\s+)?instructions?\s*:", _I),
    # role reassignment aimed at an AI, not "you are now ready to ..."
    re.compile(
        r"\byou\s+are\s+(?:now|no\s+longer)\s+(?:an?\s+|the\s+)?(?:\w+\s+){0,2}"
        r"(?:assistant|ai|bot|chatbot|model|llm|dan|jailbroken|unrestricted|unfiltered)\b",
        _I,
    ),
    re.compile(r"\bfrom\s+now\s+on,?\s+you\s+(?:will|must|are|shall|should)\b", _I),
    re.compile(
        r"\b(?:ai|llm|language\s+model|assistant|chatbot)s?(?:\s+(?:models?|systems?|agents?))?"
        r"\s+(?:reading|processing|summari[sz]ing|parsing)\s+this\b",
        _I,
    ),
    re.compile(
        r"\b(?:note|message|instructions?)\s+(?:to|for)\s+(?:the\s+|any\s+)?"
        r"(?:ai|llm|language\s+model|assistant|chatbot)s?\s*:",
        _I,
    ),
]
_ROLE = [
    re.compile(r"<\|\s*[a-z_]+\s*\|>", _I),  # <|im_start|> <|system|> <|eot_id|> ...
    re.compile(r"\[/?INST\]|<</?SYS>>|<(?:start|end)_of_turn>", _I),
    re.compile(r"^\s*#{2,}\s*(?:system|instruction|assistant)\s*:", _I | re.MULTILINE),
    re.compile(r"^\s*(?:SYSTEM|ASSISTANT)\s*:\s*\S", re.MULTILINE),  # upper case only
]
_FENCE = re.compile(r"<\s*/?\s*source\b[^>]*\bid\s*=|<\s*/\s*source\s*>", _I)
_TOOL = [
    re.compile(r"</?\s*(?:tool_call|tool_use|function_call|tool_result|function_results?)\s*>", _I),
    re.compile(r"<\|python_tag\|>|<\|tool_call\|>", _I),
    re.compile(
        r"\{\s*\"(?:name|tool|function)\"\s*:\s*\"[^\"]{1,64}\"\s*,\s*"
        r"\"(?:arguments|parameters|args|input)\"\s*:\s*[\{\"]",
        _I,
    ),
    re.compile(r"\"(?:tool_calls|function_call)\"\s*:\s*[\[\{]", _I),
]
_SEND = r"(?:send|post|upload|forward|transmit|exfiltrate|leak|email|e-mail|submit|report)"
_SECRET = (
    r"(?:conversation|chat(?:\s+history)?|(?:message|chat)\s+history|passwords?|credentials?|"
    r"api[\s_-]?keys?|secret|access\s+tokens?|system\s+prompt|personal\s+(?:data|information)|"
    r"private\s+(?:data|information|files?)|(?:the\s+)?user'?s\s+\w+)"
)
_DEST = r"(?:https?://|www\.|\bwebhook\b|[\w.+-]+@[\w-]+\.[\w.]+)"
_EXFIL = [
    re.compile(rf"\b{_SEND}\b[^.\n]{{0,80}}\b{_SECRET}\b[^.\n]{{0,80}}{_DEST}", _I),
    re.compile(rf"\b{_SEND}\b[^.\n]{{0,40}}{_DEST}\S*[^.\n]{{0,80}}\b{_SECRET}\b", _I),
    # markdown image whose URL is to be filled with data: ![x](https://e/?q={chat})
    re.compile(r"!\[[^\]]*\]\(\s*https?://[^)\s]*[?&][\w-]+=\s*[\[{<][^)]*\)", _I),
]
_LEAK = re.compile(
    r"\b(?:reveal|print|repeat|output|show|display|disclose|leak)\s+(?:me\s+)?(?:\w+\s+){0,2}"
    r"(?:system\s+prompt|initial\s+instructions|hidden\s+instructions|original\s+instructions)",
    _I,
)
_HIDDEN_STYLE = re.compile(
    r"<[a-z][^>]*(?:style\s*=\s*[\"'][^\"']*(?:display\s*:\s*none|visibility\s*:\s*hidden|"
    r"font-size\s*:\s*0(?![.\d]*[1-9]))|\shidden(?=[\s=>])|aria-hidden\s*=\s*[\"']?true)[^>]*>"
    r"\s*[^<\s][^<]{8,}",
    _I,
)
_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
_TAG_CHARS = re.compile("[\U000e0000-\U000e007f]+")


def _any(patterns: Iterable[re.Pattern[str]], text: str) -> bool:
    return any(p.search(text) for p in patterns)


def _invisible(text: str) -> bool:
    """Unicode "tag" characters spell ASCII invisibly (ASCII smuggling).
    A subdivision flag emoji uses a short run of them (e.g. England: five),
    so only a run that decodes to words counts."""
    for run in _TAG_CHARS.findall(text):
        decoded = "".join(chr(ord(c) - 0xE0000) for c in run)
        if len(decoded) > 8 and " " in decoded:
            return True
    return False


def _scan_plain(text: str) -> list[str]:
    reasons = []
    if _any(_OVERRIDE, text):
        reasons.append(INSTRUCTION_OVERRIDE)
    if _any(_ROLE, text):
        reasons.append(ROLE_MARKUP)
    if _FENCE.search(text):
        reasons.append(FENCE_MARKUP)
    if _any(_TOOL, text):
        reasons.append(TOOL_CALL)
    if _any(_EXFIL, text):
        reasons.append(EXFILTRATION)
    if _LEAK.search(text):
        reasons.append(PROMPT_LEAK)
    return reasons


def scan(text: str) -> list[str]:
    """Why ``text`` looks like it tries to instruct the assistant: short
    labels in a fixed order, empty when it looks like ordinary content.

    Text is NFKC-normalised first, so full-width look-alikes
    (``＜|im_start|＞``) match too. Hidden HTML (raw markup in Markdown or
    text files, or the HTML parser's placeholder) counts when it hides real
    words; an HTML comment only when what it says is itself suspicious,
    since comments are everyday markup (generator notes, licences).
    """
    if not isinstance(text, str):
        raise TypeError(f"scan() needs text, not {type(text).__name__}")
    norm = unicodedata.normalize("NFKC", text)
    reasons = _scan_plain(norm)
    hidden = HIDDEN_PLACEHOLDER in norm or bool(_HIDDEN_STYLE.search(norm))
    for body in _COMMENT.findall(norm):
        inner = _scan_plain(body)
        if inner:
            hidden = True
            reasons += [r for r in inner if r not in reasons]
    if hidden:
        reasons.append(HIDDEN_HTML)
    if _invisible(text):
        reasons.append(INVISIBLE_TEXT)
    return reasons


# ------------------------------------------------------------ neutralise --

_ZW = "\u200b"  # zero-width space: invisible to a reader, breaks the match
_FORMS = [*range(0xFE10, 0xFE20), *range(0xFE30, 0xFE70), *range(0xFF00, 0xFFF0)]
_LOOKALIKES = {
    cp: folded
    for cp in _FORMS
    if (folded := unicodedata.normalize("NFKC", chr(cp))).isascii()
    and (folded.isalnum() or folded in "<>|/[]_")
}
"""Full-width and small-form look-alikes of the characters control tokens
and the fence are made of (``＜／ｓｏｕｒｃｅ＞``), folded to ASCII so the
breaks below apply to them; other text is left alone (NFKC on everything
would turn ``x²`` into ``x2``)."""
_CONTROL = re.compile(r"<(\s*/?\s*)(source|tool_result|\|)", _I)
_PIPE_CLOSE = re.compile(r"\|>")
_BRACKETS = re.compile(r"\[(/?INST)\]|<<(/?SYS)>>|<((?:start|end)_of_turn)>", _I)
_ROLE_LINE = re.compile(r"^(\s*)(#{2,}\s*(?:system|instruction|assistant)\s*:)", _I | re.M)


def neutralise(text: str) -> str:
    """``text`` made safe to place inside a ``<source>`` fence (spotlighting
    by delimiting): it stays readable, but it can no longer

    - open or close the fence: ``<source`` / ``</source`` (and the tool
      loop's ``<tool_result`` / ``</tool_result``) get a zero-width space
      after ``<``;
    - become a chat-template control token when the prompt is tokenized
      with special tokens parsed (llama.cpp does): ``<|im_start|>`` becomes
      ``<\\u200b|im_start|\\u200b>``, ``[INST]``, ``<<SYS>>``,
      ``<start_of_turn>`` are broken the same way;
    - hide instructions in Unicode tag characters (invisible ASCII): they
      are removed;
    - slip through as look-alikes: full-width forms of the letters and
      ``<>|/[]_`` are folded to ASCII first, so ``＜/source＞`` is broken
      like ``</source>``.

    Idempotent, and applied to every source, flagged or not.
    """
    if not isinstance(text, str):
        raise TypeError(f"neutralise() needs text, not {type(text).__name__}")
    out = _TAG_CHARS.sub("", text).translate(_LOOKALIKES)
    out = _CONTROL.sub(lambda m: "<" + _ZW + m.group(1) + m.group(2), out)
    out = _PIPE_CLOSE.sub("|" + _ZW + ">", out)
    out = _BRACKETS.sub(_break_bracket, out)
    return _ROLE_LINE.sub(lambda m: m.group(1) + _ZW + m.group(2), out)


def _break_bracket(m: re.Match[str]) -> str:
    whole = m.group(0)
    return whole[:1] + _ZW + whole[1:]


# ---------------------------------------------------------- chunk_flags --


def write_flags(c: Any, chunks: Sequence[tuple[int, str]]) -> int:
    """Scan ``(chunk_id, text)`` pairs and insert their ``chunk_flags`` rows
    on the open connection ``c`` (the caller's transaction); returns how
    many chunks were flagged."""
    rows = []
    for chunk_id, text in chunks:
        reasons = scan(text)
        if reasons:
            rows.append((chunk_id, json.dumps(reasons)))
    c.executemany("INSERT OR REPLACE INTO chunk_flags(chunk_id, reasons) VALUES (?, ?)", rows)
    return len(rows)


def flags_for(db: Any, chunk_ids: Sequence[int]) -> dict[int, list[str]]:
    """The stored reasons of those ``chunk_ids`` that are flagged."""
    ids = list(dict.fromkeys(int(i) for i in chunk_ids))
    out: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):  # stay under SQLite's variable limit
        part = ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for row in db.query(
            f"SELECT chunk_id, reasons FROM chunk_flags WHERE chunk_id IN ({marks})", tuple(part)
        ):
            out[int(row[0])] = list(json.loads(row[1]))
    return out


def flagged_documents(db: Any) -> list[tuple[str, int, list[str]]]:
    """Documents with flagged chunks: (path, flagged chunks, reasons in
    first-seen order), most flagged first."""
    rows = db.query(
        "SELECT d.path, f.reasons FROM chunk_flags f JOIN chunks c ON c.id = f.chunk_id"
        " JOIN documents d ON d.id = c.document_id ORDER BY d.path, c.ord"
    )
    docs: dict[str, tuple[int, list[str]]] = {}
    for row in rows:
        count, reasons = docs.get(row[0], (0, []))
        reasons += [r for r in json.loads(row[1]) if r not in reasons]
        docs[row[0]] = (count + 1, reasons)
    ranked = sorted(docs.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [(path, count, reasons) for path, (count, reasons) in ranked]


def backfill_flags(db: Any) -> int | None:
    """Scan every stored chunk once per ``SCAN_VERSION`` (chunks indexed
    before flagging existed, or under older patterns); returns the number
    flagged, or None when ``kb_meta`` says this version already ran.

    One transaction: the flags are replaced and the version recorded
    together, so an interrupted backfill simply runs again.
    """
    done = db.query_one("SELECT value FROM kb_meta WHERE key = ?", (_META_KEY,))
    if done is not None and done[0] == SCAN_VERSION:
        return None
    with db.transaction() as c:
        c.execute("DELETE FROM chunk_flags")
        flagged = 0
        cur = c.execute(
            "SELECT id, CASE WHEN coalesce(heading, '') = '' THEN text"
            " ELSE heading || char(10) || text END FROM chunks ORDER BY id"
        )
        while batch := cur.fetchmany(1000):
            flagged += write_flags(c, [(int(r[0]), r[1]) for r in batch])
        c.execute(
            "INSERT OR REPLACE INTO kb_meta(key, value) VALUES (?, ?)", (_META_KEY, SCAN_VERSION)
        )
    return flagged


def _measure(root: str) -> None:  # pragma: no cover - the docstring's measurement
    """Print the false-positive count over every HTML page under ``root``."""
    from pathlib import Path

    from backend.knowledge.chunking import Chunker
    from backend.knowledge.parsers import parse_file

    chunker = Chunker(max_tokens=256)
    total = flagged = 0
    for page in sorted(Path(root).rglob("*.html")):
        for chunk in chunker.chunk(parse_file(page)):
            total += 1
            reasons = scan(chunk.text)
            if reasons:
                flagged += 1
                print(f"{page}: {reasons}: {chunk.text[:160]!r}")
    print(f"{flagged} of {total} chunks flagged ({100 * flagged / max(total, 1):.3f} %)")


if __name__ == "__main__":  # pragma: no cover
    _measure(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/doc/python3.11/html")
