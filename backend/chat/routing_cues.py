"""What the source router knows before it embeds anything: lexical cues and
labelled example questions per source (``backend.chat.routing``).

Cues are high-precision phrases ("we discussed", "what time is it", "save
a note that"); each names a source and, for tools, the built-in tools it
points to. A side-effect tool is reachable *only* through an imperative
cue: nothing else (no similarity, no model call) routes to it.

The examples are the embedding stage's evidence. None of them is a
question of ``benchmarks/questions/routing.jsonl`` (the evaluation set):
they are written to be typical, not to fit it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SOURCES = ("documents", "chats", "memory", "tool", "none")
"""Every source a question can be routed to."""


@dataclass(frozen=True)
class Cue:
    source: str
    pattern: re.Pattern[str]
    tools: tuple[str, ...] = ()
    """For ``tool`` cues: the tools it points to (others are not offered)."""
    why: str = ""


def _c(source: str, pattern: str, tools: tuple[str, ...] = (), why: str = "") -> Cue:
    return Cue(source, re.compile(pattern, re.I), tools, why)


SIDE_EFFECT_CUES = (
    _c(
        "tool",
        r"^\W*(?:please\s+|can you\s+|could you\s+)?(?:save|make|take|write|jot|add|create)"
        r"\s+(?:me\s+)?(?:a|an|this|the|my)?\s*(?:quick\s+|new\s+|short\s+)?(?:note|memo|reminder)\b",
        ("save_note",),
        "asks to save a note",
    ),
    _c(
        "tool",
        r"^\W*(?:please\s+)?(?:note down|write down|jot down|remind me to)\b",
        ("save_note",),
        "asks to save a note",
    ),
    _c(
        "tool",
        r"\b(?:keep|note|save|store) (?:that|this)(?: in mind| for later)?\W*$"
        r"|\bdon't forget (?:this|it)\b|\bremember (?:this|it)\W*$",
        ("remember",),
        "asks to remember something",
    ),
)
"""Imperative requests for a side effect (checked first)."""

CUES = (
    *SIDE_EFFECT_CUES,
    _c(
        "chats",
        r"\bwe (?:discuss(?:ed)?|talk(?:ed)? about|spoke about|chat(?:ted)? about|went over|"
        r"agreed|decided)\b"
        r"|\b(?:previous|earlier|last|other|past|old) (?:chat|conversation|session)s?\b"
        r"|\byou (?:told me|said|suggested|recommended|mentioned|gave me)\b"
        r"|\bI (?:asked you|told you|mentioned to you)\b|\bour (?:last|earlier) (?:chat|talk)\b",
        why="refers to an earlier conversation",
    ),
    _c(
        "memory",
        r"\bremember (?:that|me|my|this)\b"
        r"|\bdo you (?:remember|recall|know) (?:my|what I|where I)\b"
        r"|\bwhat do you know about me\b|\bforget (?:that|my)\b"
        r"|\bwhat(?:'s| is| are) my (?:name|favou?rite|birthday|preferences?|allerg\w+|"
        r"partner|wife|husband|dog|cat|kids?|children|job|address|preferred \w+)\b"
        r"|\bwhere do I (?:live|work)\b|\bwhat did I say my\b",
        why="about what the assistant remembers of you",
    ),
    _c(
        "tool",
        r"\bwhat time is it\b|\bwhat(?:'s| is) the (?:time|date) (?:now|today|right now)\b"
        r"|\bwhat(?:'s| is) the time\b|\bcurrent (?:time|date)\b|\btime (?:is it )?in [A-Z]\w+"
        r"|\bwhat(?:'s| is) today(?:'s date)?\b|\bwhat day (?:is it|of the week is it)\b"
        r"|\btoday's date\b",
        ("current_time",),
        "asks for the current time or date",
    ),
    _c(
        "tool",
        r"\b(?:list|show) (?:me )?(?:all |the |my )?files\b|\bwhich files\b"
        r"|\bwhat files\b|\bfiles (?:are )?in (?:my|the) \w+ folder\b",
        ("list_files",),
        "asks for a file listing",
    ),
    _c(
        "tool",
        r"\b(?:read|open|show me|print) (?:the )?(?:file |document )?[\w./-]+\.(?:md|txt|pdf|py|"
        r"rst|csv|json|toml|html|docx?)\b",
        ("read_document",),
        "asks to read a named file",
    ),
    _c(
        "documents",
        r"\b(?:my|our|the) (?:documents?|docs|notes|files|folders?|handbook|wiki|manual|"
        r"policy|policies|documentation|readme)\b|\baccording to\b|\bin (?:the|my|our) docs\b",
        why="refers to your documents",
    ),
    _c(
        "none",
        r"^\W*(?:hi|hello|hey|good (?:morning|afternoon|evening|night)|thanks|thank you|"
        r"how are you)\b[\s\w,!.?']{0,30}$"
        r"|^\W*(?:please\s+)?(?:write|compose|draft) (?:me )?(?:a|an) (?:poem|haiku|limerick|"
        r"story|song|joke|email|letter|tweet)\b|\btell me a joke\b|^\W*translate\b",
        why="chat or writing",
    ),
)
"""Checked in this order; the first match decides (when its source is
available)."""

EXAMPLES: dict[str, tuple[str, ...]] = {
    "documents": (
        "What does the travel policy say about hotel costs?",
        "When is the deadline for the quarterly review?",
        "Who owns the billing service?",
        "How many vacation days do new employees get?",
        "How do I configure logging in this library?",
        "What is the refund period for customers?",
        "Which version of the API introduced pagination?",
        "How do I reset the staging database?",
        "What are the steps to onboard a new contractor?",
        "When does the office close for the holidays?",
        "How do I use a context manager to open files in Python?",
        "What's the procedure for reporting a security incident?",
        "What does the contract say about termination?",
        "Where is the design document for the search feature?",
    ),
    "chats": (
        "What did we talk about yesterday?",
        "Last week you gave me a recipe, what was it?",
        "Continue where we left off on my essay.",
        "What was the name of the book you recommended before?",
        "Remind me what we decided in our earlier chat.",
        "Find the conversation where I asked about tax forms.",
    ),
    "memory": (
        "What's my daughter's name?",
        "Do you remember which city I live in?",
        "Remember that I'm vegetarian.",
        "What are my dietary restrictions?",
        "What do you know about my preferences?",
        "Which programming language do I prefer?",
    ),
    "none": (
        "Write a limerick about a cat.",
        "Why is the sky blue?",
        "Good evening!",
        "Describe how photosynthesis works.",
        "Suggest a name for my new puppy.",
        "What are the pros and cons of electric cars?",
        "Who painted the Mona Lisa?",
        "How do you say cheese in Italian?",
        "Tell me something interesting about octopuses.",
        "Give me advice for a job interview.",
        "Rewrite this sentence to sound more polite.",
        "Explain recursion to a beginner.",
        "What is the capital of Australia?",
        "Thanks, that was helpful!",
        "In what year did the Second World War end?",
        "How many legs does a spider have?",
        "How long should I rest between workouts?",
        "Recommend a film for a rainy evening.",
        "What's a good way to stay focused while studying?",
    ),
}
"""Labelled questions per source (tools bring their own: their description
and examples)."""

FOLLOW_UP = re.compile(r"^\W*(?:and|or|also|then|what about|how about|same for)\b", re.I)
FOLLOW_UP_WORDS = 6
"""An elliptic follow-up ("And in Tokyo?") goes where the question before
it went."""
