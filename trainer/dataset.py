"""Tune-up data from the user's own chat history.

Signal, all of it explicit (nothing is learnt from replies the user did not
judge):

- SFT example: the conversation up to a user turn -> a reply the user gave a
  thumbs up, or the user's edited text of a reply (the edit wins over a thumb).
- DPO pair: same prompt, ``chosen`` = the edit and ``rejected`` = the original
  it replaced; or ``chosen`` = an upvoted (or edited) regeneration and
  ``rejected`` = a downvoted sibling of the same turn.

The prompt is the path from the root to the reply's parent, as the user sees
it (earlier replies in their edited form), after the conversation's system
prompt. Only complete replies count (a cancelled or failed one is not signal).

Identical (prompt, target) examples are kept once. Train and held-out are
split BY CONVERSATION (a held-out chat never leaks turns into training), by a
seeded hash of the id, so the same history always splits the same way.

The store is read with plain SELECTs (read-only; the facade's
``ConversationStore`` walks one branch at a time, a tune-up needs every branch).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from backend.common.locations import Locations
from backend.store.db import Database
from backend.store.migrations import migrate
from trainer.errors import NotEnoughDataError

MIN_TRAIN_EXAMPLES = 8
"""Fewer SFT examples than this cannot move a model in a useful direction."""


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


@dataclass(frozen=True)
class SFTExample:
    conversation_id: int
    message_id: int
    prompt: tuple[Turn, ...]
    target: str
    source: str
    """``"edit"`` or ``"thumbs_up"``."""


@dataclass(frozen=True)
class PreferencePair:
    conversation_id: int
    prompt: tuple[Turn, ...]
    chosen: str
    rejected: str
    source: str
    """``"edit"`` (edit vs its original) or ``"sibling"`` (up vs down vote)."""


@dataclass(frozen=True)
class DatasetSummary:
    conversations: int
    train_conversations: int
    heldout_conversations: int
    train_sft: int
    heldout_sft: int
    train_pairs: int
    heldout_pairs: int
    duplicates_dropped: int
    excluded_conversations: list[int] = field(default_factory=list)
    min_train_examples: int = MIN_TRAIN_EXAMPLES

    @property
    def problem(self) -> str | None:
        """Why this is too little to tune on, or None when it is enough."""
        if self.train_sft >= self.min_train_examples and self.heldout_sft >= 1:
            return None
        return (
            f"{self.train_sft} training and {self.heldout_sft} held-out examples from "
            f"{self.conversations} conversations; a tune-up needs at least "
            f"{self.min_train_examples} training examples and 1 held-out example. Give "
            "replies a thumbs up, or edit replies into the answer you wanted, in more chats."
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problem": self.problem}


@dataclass(frozen=True)
class TuneupDataset:
    train: list[SFTExample]
    heldout: list[SFTExample]
    train_pairs: list[PreferencePair]
    heldout_pairs: list[PreferencePair]
    summary: DatasetSummary

    def require_enough(self) -> TuneupDataset:
        """Raises:
        NotEnoughDataError: the summary's ``problem``."""
        if self.summary.problem is not None:
            raise NotEnoughDataError(self.summary.problem)
        return self


def _held_out_ids(ids: list[int], fraction: float, seed: str) -> set[int]:
    """The first ``ceil(n * fraction)`` ids in seeded-hash order (at least one
    when there are two or more conversations, none when there is one)."""
    if len(ids) < 2 or fraction <= 0:
        return set()
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    n = min(len(ids) - 1, max(1, math.ceil(len(ids) * fraction)))
    return set(ranked[:n])


def _prompt(by_id: dict[int, Any], parent_id: int | None, system: str) -> tuple[Turn, ...]:
    path: list[Turn] = []
    current = parent_id
    while current is not None:
        row = by_id[current]
        text = row["edited_content"] if row["edited_content"] is not None else row["content"]
        path.append(Turn(row["role"], text))
        current = row["parent_id"]
    path.reverse()
    return ((Turn("system", system),) if system.strip() else ()) + tuple(path)


def _preferred(row: Any) -> str | None:
    """The text the user endorsed for this reply, if any."""
    if row["edited_content"] is not None and row["edited_content"].strip():
        return str(row["edited_content"])
    if row["rating"] == 1:
        return str(row["content"])
    return None


def _conversation_signal(
    rows: list[Any], system: str
) -> tuple[list[SFTExample], list[PreferencePair]]:
    by_id = {r["id"]: r for r in rows}
    sft: list[SFTExample] = []
    pairs: list[PreferencePair] = []
    siblings: dict[int | None, list[Any]] = {}
    for r in rows:
        if r["role"] == "assistant" and r["status"] == "complete" and r["parent_id"] is not None:
            siblings.setdefault(r["parent_id"], []).append(r)
    for parent_id, replies in siblings.items():
        if by_id[parent_id]["role"] != "user":
            continue
        prompt = _prompt(by_id, parent_id, system)
        for r in replies:
            target = _preferred(r)
            if target is not None:
                source = "thumbs_up" if target == r["content"] else "edit"
                sft.append(SFTExample(r["conversation_id"], r["id"], prompt, target, source))
                if source == "edit" and r["content"].strip():
                    pairs.append(
                        PreferencePair(r["conversation_id"], prompt, target, r["content"], "edit")
                    )
        good = [t for t in (_preferred(r) for r in replies) if t is not None]
        for bad in (r for r in replies if r["rating"] == -1 and r["edited_content"] is None):
            for chosen in good:
                cid = bad["conversation_id"]
                pairs.append(PreferencePair(cid, prompt, chosen, bad["content"], "sibling"))
    return sft, pairs


def build_dataset(
    db: Database,
    *,
    exclude_conversations: Iterable[int] = (),
    heldout_fraction: float = 0.2,
    seed: str = "tuneup",
    min_train_examples: int = MIN_TRAIN_EXAMPLES,
) -> TuneupDataset:
    """Every SFT example and preference pair in the store, split by conversation.

    Returns the dataset whatever its size; call ``require_enough()`` (or read
    ``summary.problem``) before training.
    """
    excluded = sorted(set(exclude_conversations))
    convs = {
        r["id"]: r["system_prompt"] or ""
        for r in db.query("SELECT id, system_prompt FROM conversations ORDER BY id")
        if r["id"] not in excluded
    }
    rows = db.query(
        "SELECT m.id, m.conversation_id, m.parent_id, m.role, m.content, m.status,"
        " f.rating AS rating, f.edited_content AS edited_content"
        " FROM messages m LEFT JOIN feedback f ON f.message_id = m.id ORDER BY m.id"
    )
    per_conv: dict[int, list[Any]] = {}
    for r in rows:
        if r["conversation_id"] in convs:
            per_conv.setdefault(r["conversation_id"], []).append(r)
    heldout_ids = _held_out_ids(sorted(per_conv), heldout_fraction, seed)

    seen: set[tuple[Any, ...]] = set()
    dropped = 0
    out: dict[str, list[Any]] = {"train": [], "heldout": [], "train_p": [], "heldout_p": []}
    for cid in sorted(per_conv):
        split = "heldout" if cid in heldout_ids else "train"
        sft, pairs = _conversation_signal(per_conv[cid], convs[cid])
        for ex in sft:
            key: tuple[Any, ...] = ("sft", ex.prompt, ex.target)
            if key in seen:
                dropped += 1
                continue
            seen.add(key)
            out[split].append(ex)
        for p in pairs:
            key = ("pair", p.prompt, p.chosen, p.rejected)
            if key in seen or p.chosen == p.rejected:
                dropped += key in seen
                continue
            seen.add(key)
            out[split + "_p"].append(p)

    summary = DatasetSummary(
        conversations=len(per_conv),
        train_conversations=len(per_conv) - len(heldout_ids),
        heldout_conversations=len(heldout_ids),
        train_sft=len(out["train"]),
        heldout_sft=len(out["heldout"]),
        train_pairs=len(out["train_p"]),
        heldout_pairs=len(out["heldout_p"]),
        duplicates_dropped=dropped,
        excluded_conversations=excluded,
        min_train_examples=min_train_examples,
    )
    return TuneupDataset(out["train"], out["heldout"], out["train_p"], out["heldout_p"], summary)


def load_dataset(locations: Locations, **kwargs: Any) -> TuneupDataset:
    """``build_dataset`` on the profile's database (migrated first, as the app does)."""
    db = Database(locations.database)
    try:
        migrate(db)
        return build_dataset(db, **kwargs)
    finally:
        db.close()
