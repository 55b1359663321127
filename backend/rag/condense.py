"""Condensing follow-ups: "and what about its timeout?" becomes a standalone
query before retrieval (``backend.rag.query`` has the overview).

``needs_condense`` decides from the words alone (no model); only then
``condense`` makes one hidden model call, and ``fallback_query`` (the earlier
question plus this one) stands in when the model's answer is unusable.
"""

from __future__ import annotations

import re

from backend.rag.types import Completion, Generate
from backend.runtimes.base import ChatMessage

_WORD = re.compile(r"[A-Za-z_][\w.]*\w|[A-Za-z_]")


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_REFERRING = _wordset(
    "it its itself they them their theirs those these this he him his she her former latter above"
)
"""Words that point back at something said earlier (not 'one', 'there' or
'same': 'flatten one level', 'is there a way' stand alone)."""
_LEADING = re.compile(
    r"^\s*(and|but|also|so|then|or|what about|how about|what if|same for|"
    r"and what|and how|why not|else|instead)\b",
    re.IGNORECASE,
)
_EXPLETIVE_IT = re.compile(
    r"\b(is|was|isn't)\s+it\s+(possible|necessary|safe|better|best|ok|okay|"
    r"true|recommended|worth|a good idea)\b|\bit\s+(is|'s)\s+(possible|"
    r"necessary|safe|better|best|ok|okay|recommended)\b",
    re.IGNORECASE,
)
"""'Is it possible to ...' is not a reference to anything."""
_THAT_NEXT = _wordset(
    "is was does do did mean means work works one function method module class "
    "option argument parameter way error value"
)
_THAT_PREV = _wordset(
    "about of with for in on to from like use using call do does try pass change set configure"
)
_STOP = _wordset(
    """a an the and or but if then so also what which who whom whose when where
    why how is are was were be been being do does did done doing can could
    should would will shall may might must i me my we our you your please
    to of in on at by for with about from into as than that this these those
    it its they them there here not no yes any some all more most other else
    instead same again just only very really much many tell show explain give
    example examples detail details mean means work works use using used get
    make happen happens thing things way ok okay thanks thank"""
)
"""Function words and generic chat verbs: a question with nothing left after
removing these has no subject of its own."""
SHORT_QUESTION_WORDS = 3
"""'Why?', 'Any example?', 'In Python 2?': three words or fewer with no code
name cannot say what they are about."""


def word_list(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _content(text: str) -> set[str]:
    return {w for w in word_list(text) if w not in _STOP and w not in _REFERRING and len(w) > 1}


def _is_code_name(word: str) -> bool:
    return "." in word or "_" in word or word.endswith("()")


def _refers_back(text: str) -> bool:
    """A referring word pointing outside the question.

    'that' the conjunction ('check that a file exists') and the expletive
    'is it possible' do not count, nor a pronoun after the question has named
    its own subject ('sort strings by their length': three content words
    before 'their'). A pronoun counts when it comes before any content word
    ('does it follow symlinks?') or the question has at most two content
    words ('how do I add a flag to it?').
    """
    words = word_list(_EXPLETIVE_IT.sub(" ", text))
    few = len(_content(text)) <= 2
    seen = 0
    for i, word in enumerate(words):
        refers = word in _REFERRING
        if word == "that":
            prev = words[i - 1] if i else ""
            nxt = words[i + 1] if i + 1 < len(words) else ""
            refers = not nxt or nxt in _THAT_NEXT or prev in _THAT_PREV
        if refers and (seen == 0 or few):
            return True
        if word not in _STOP and word not in _REFERRING and len(word) > 1:
            seen += 1
    return False


def needs_condense(question: str, history: list[ChatMessage]) -> bool:
    """Does ``question`` depend on earlier turns? Words only, no model.

    True when there is an earlier user turn and the question opens like a
    continuation ('and ...', 'what about ...'), refers back (it, its, they,
    that, those, this ...), is very short without a code name, or has no
    content word of its own. A false positive costs one hidden call whose
    output is checked (``condense`` falls back to concatenation); a false
    negative searches the follow-up as is, which for 'and its timeout?'
    retrieves noise -- so the rules lean towards condensing.
    """
    if not any(m.role == "user" and m.content.strip() for m in history):
        return False
    q = question.strip()
    if not q:
        return False
    words = word_list(q)
    if _LEADING.match(q) or _refers_back(q):
        return True
    if len(words) <= SHORT_QUESTION_WORDS and not any(_is_code_name(w) for w in words):
        return True
    return not _content(q)


HISTORY_MESSAGES = 4
"""The last two exchanges: a follow-up nearly always points at the previous
turn, and every extra token is prefill time on a CPU."""
HISTORY_CHARS = 300
"""Each earlier message is cut to this many characters (answers can be
pages; the subject is in their first lines)."""
CONDENSE_TOKENS = 48
MAX_QUERY_WORDS = 40
"""Longer 'questions' are the model rambling, not a query."""

_CONDENSE_SYSTEM = (
    "Rewrite the follow-up question so it names what it is about. Reply with one question."
)
_CONDENSE_SHOTS = (
    (
        "How do I open a file in Python?",
        "what about binary mode?",
        "How do I open a file in binary mode in Python?",
    ),
    ("What does list.sort do?", "and does it return anything?", "Does list.sort return anything?"),
    (
        "How do I start a thread?",
        "how do I wait for it to finish?",
        "How do I wait for a thread to finish?",
    ),
)
"""Few-shot pairs as chat turns: with a 135M model, worked examples carry
the task far better than instructions. Probed on 6 follow-ups (json.dumps ->
indent, zipfile -> write, gather -> timeouts, os.walk -> symlinks, argparse
-> flag, urlopen -> timeout): chat turns with 'Earlier question / Follow-up'
gave one line each, while the same shots as one plain-text block made the
model continue the transcript with invented turns in 5 of 5."""
_PREFIX = re.compile(
    r"^\s*(standalone question|rewritten question|rewritten|question|"
    r"follow-up|query|answer|assistant|user|keywords|search terms)\s*[:\-]\s*",
    re.IGNORECASE,
)


def _recent(history: list[ChatMessage]) -> list[ChatMessage]:
    turns = [m for m in history if m.role in ("user", "assistant") and m.content.strip()]
    return [
        ChatMessage(m.role, " ".join(m.content.split())[:HISTORY_CHARS])
        for m in turns[-HISTORY_MESSAGES:]
    ]


def condense_prompt(question: str, history: list[ChatMessage]) -> list[ChatMessage]:
    """The few-shot messages ``condense`` sends (exposed for the benchmark).

    Only earlier *user* questions go in: the probes above showed the model
    copying the assistant's answer into the 'question' when answers were in
    the prompt, and the subject of a follow-up is almost always named in the
    user's own previous question.
    """
    earlier = " ".join(m.content for m in _recent(history) if m.role == "user")
    messages = [ChatMessage("system", _CONDENSE_SYSTEM)]
    for first, follow, out in _CONDENSE_SHOTS:
        messages.append(ChatMessage("user", f"Earlier question: {first}\nFollow-up: {follow}"))
        messages.append(ChatMessage("assistant", out))
    messages.append(ChatMessage("user", f"Earlier question: {earlier}\nFollow-up: {question}"))
    return messages


def clean_line(text: str) -> str:
    """First non-empty line of a model reply without quotes, code ticks and
    'Standalone question:'-style prefixes."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    for _ in range(2):
        line = _PREFIX.sub("", line).strip().strip("\"'`“”‘’").strip()
    return " ".join(line.split())


def fallback_query(question: str, history: list[ChatMessage]) -> str:
    """The previous user question followed by this one.

    Used when the model's rewrite is unusable. For retrieval it is nearly as
    good as a real rewrite: the keyword side ORs every word (so the subject
    named earlier and the new aspect both count) and the embedding of the two
    sentences sits between both topics. Deterministic and free.
    """
    earlier = [m.content for m in _recent(history) if m.role == "user"]
    if not earlier:
        return question.strip()
    return f"{earlier[-1]} {question.strip()}"


def usable_condensed(text: str, question: str, history: list[ChatMessage]) -> bool:
    """Is the model's standalone question worth searching?

    No when empty, too long, a copy of an earlier question (the commonest
    SmolLM2-135M failure: 4 of 6 probes returned the earlier question
    verbatim, dropping the follow-up's new aspect), or when it dropped every
    content word of the follow-up while the follow-up had some.
    """
    words = word_list(text)
    if len(words) < 2 or len(words) > MAX_QUERY_WORDS:
        return False
    norm = " ".join(words)
    earlier = [" ".join(word_list(m.content)) for m in history if m.role == "user"]
    if norm in earlier or norm == " ".join(word_list(question)):
        return False
    new = _content(question)
    return not new or bool(new & _content(text))


def condense(question: str, history: list[ChatMessage], generate: Generate) -> Completion:
    """A standalone version of a follow-up ``question``: one hidden call.

    Returns the model's cleaned question when ``usable_condensed``, else
    ``fallback_query`` (with the model's usage either way, so the request log
    counts the call). Never empty for a non-empty question.
    """
    reply = generate(condense_prompt(question, history), CONDENSE_TOKENS)
    text = clean_line(reply.text)
    if not usable_condensed(text, question, history):
        text = fallback_query(question, history)
    return Completion(text, reply.usage, reply.inputs)
