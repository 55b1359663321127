"""How sensible are a model's memory proposals? (It decides the default of
``[memory] model_writes`` per model size.)

A few short conversations, each with the facts the user stated in it; the
model (default: the bundled SmolLM2-135M) is asked for proposals
(``backend.chat.memory_proposals.propose``, the same prompt the app uses).
A proposal counts as sensible when it names a stated fact (one of its key
words) and as wrong otherwise (invented, about the assistant, or a
question); every proposal is printed so the judgement can be checked.
Writes JSON (``--out``, default ``benchmarks/results/memory_proposals.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from backend import Backend
from backend.chat.memory_proposals import propose
from backend.common.config import Settings
from backend.common.locations import Locations

CONVERSATIONS: list[tuple[list[str], list[list[str]]]] = [
    (
        ["I'm planning a trip to Norway next month.", "I prefer metric units, by the way."],
        [["metric"], ["norway"]],
    ),
    (
        ["My manager Dana asked me to fix the billing service.", "How do I retry failed jobs?"],
        [["dana"], ["billing"]],
    ),
    (["I'm vegetarian. Can you suggest a dinner?", "Something quick, please."], [["vegetarian"]]),
    (["What is the capital of Peru?", "And its population?"], []),
    (["My dog Rex is afraid of thunder.", "I live in Lyon."], [["rex", "dog"], ["lyon"]]),
    (["Please answer in French from now on.", "Quelle heure est-il ?"], [["french"]]),
]


def judge(proposal: str, facts: list[list[str]]) -> bool:
    text = proposal.lower()
    return any(any(word in text for word in fact) for fact in facts)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", default="benchmarks/results/memory_proposals.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        b = await Backend.open(locations=Locations(Path(home)), settings=Settings())
        try:
            runtime, model = b.models.resolve(args.model)
            store = b.core.stores.conversations
            rows: list[dict[str, Any]] = []
            for said, facts in CONVERSATIONS:
                conv = store.create("bench", model.name, None, "")
                parent = None
                for text in said:
                    parent = store.add_message(conv.id, parent, "user", text)
                    parent = store.add_message(conv.id, parent, "assistant", "OK.")
                proposals = propose(runtime, model, store.thread(conv.id), [])
                ok = [p for p in proposals if judge(p, facts)]
                found = sum(any(judge(p, [f]) for p in proposals) for f in facts)
                rows.append(
                    {
                        "said": said,
                        "proposals": proposals,
                        "sensible": len(ok),
                        "wrong": len(proposals) - len(ok),
                        "facts": len(facts),
                        "facts_found": found,
                    }
                )
                print(f"{said}\n  -> {proposals}  ({len(ok)} sensible, {found}/{len(facts)} facts)")
        finally:
            await b.close()
    total = sum(len(r["proposals"]) for r in rows)
    sensible = sum(r["sensible"] for r in rows)
    facts = sum(r["facts"] for r in rows)
    found = sum(r["facts_found"] for r in rows)
    summary = {
        "model": model.name,
        "proposals": total,
        "sensible": sensible,
        "precision": round(sensible / total, 2) if total else None,
        "facts": facts,
        "recall": round(found / facts, 2) if facts else None,
        "conversations": rows,
    }
    print(
        f"{model.name}: {sensible}/{total} proposals sensible; {found}/{facts} stated facts found"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
