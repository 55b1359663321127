"""Turning examples into token ids with a loss mask.

The prompt is rendered by the model's own chat template (the same one the
chat runtime uses), and the target is what that template adds for the
assistant turn: the reply plus the end-of-turn marker, so the model also
learns where to stop. Only target tokens carry loss (labels -100 elsewhere):
we teach the reply, not the user's questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.dataset import SFTExample, Turn

IGNORE = -100


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]


def _messages(turns: tuple[Turn, ...]) -> list[dict[str, str]]:
    return [{"role": t.role, "content": t.content} for t in turns]


def render_prompt(tokenizer: Any, prompt: tuple[Turn, ...]) -> str:
    return str(
        tokenizer.apply_chat_template(_messages(prompt), tokenize=False, add_generation_prompt=True)
    )


def render_target(tokenizer: Any, prompt: tuple[Turn, ...], target: str) -> str:
    """The text the template puts after the prompt for this reply."""
    head = render_prompt(tokenizer, prompt)
    full = str(
        tokenizer.apply_chat_template(
            [*_messages(prompt), {"role": "assistant", "content": target}], tokenize=False
        )
    )
    if full.startswith(head):
        return full[len(head) :]
    return target + (tokenizer.eos_token or "")


def encode(tokenizer: Any, ex: SFTExample, max_len: int) -> Encoded:
    """Prompt + target ids, cut to ``max_len`` by dropping the OLDEST prompt
    tokens first (the reply and the turn it answers matter most)."""
    head = render_prompt(tokenizer, ex.prompt)
    tail = render_target(tokenizer, ex.prompt, ex.target)
    prompt_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
    target_ids = target_ids[: max(1, max_len // 2)] if len(target_ids) > max_len else target_ids
    room = max_len - len(target_ids)
    prompt_ids = prompt_ids[-room:] if room > 0 else []
    return Encoded(
        input_ids=[*prompt_ids, *target_ids],
        labels=[IGNORE] * len(prompt_ids) + list(target_ids),
    )


def collate(batch: list[Encoded], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors; padding is masked out of attention and loss."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}
