"""Before/after evaluation of a tune-up on held-out conversations.

The headline figure is the average negative log-likelihood per target token
of the user's preferred replies in held-out chats: lower under the tuned
model means it moved toward what this user wants, on chats it never saw.
(Generated-reply adherence needs the served model and is measured by the
end-to-end test and the benchmark through llama.cpp.)
"""

from __future__ import annotations

from typing import Any

from trainer.dataset import SFTExample
from trainer.encode import IGNORE, collate, encode


def heldout_nll(
    model: Any, tokenizer: Any, examples: list[SFTExample], max_len: int, batch_size: int = 8
) -> float:
    """Mean NLL per target token (nats) of ``examples`` under ``model``.

    Token-weighted over the whole set, so long replies count for their length.
    """
    import torch

    if not examples:
        raise ValueError("no examples to evaluate")
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            batch = collate(
                [encode(tokenizer, ex, max_len) for ex in examples[start : start + batch_size]],
                tokenizer.pad_token_id,
            )
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
            # token t is predicted from position t-1
            shifted = logits[:, :-1].float()
            labels = batch["labels"][:, 1:]
            loss = torch.nn.functional.cross_entropy(
                shifted.reshape(-1, shifted.size(-1)),
                labels.reshape(-1),
                ignore_index=IGNORE,
                reduction="sum",
            )
            total += float(loss)
            count += int((labels != IGNORE).sum())
    return total / max(1, count)
