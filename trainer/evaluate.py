"""Before/after evaluation of a tune-up on held-out conversations.

Three figures, each measured for the base (peft adapter disabled) and the
tuned model on chats the tune-up never saw:

- ``heldout_nll``: mean negative log-likelihood per target token of the
  user's preferred replies. Lower = the model moved toward what this user
  wants. Cheap (one forward pass per example) and sensitive.
- ``adherence``: what the user would actually see. The model GENERATES a
  reply (greedy, short) for each held-out prompt, and the packaged MiniLM
  embeds it and the user's preferred reply; the score is their cosine
  similarity, the best over that prompt's references, averaged over prompts.
  It catches a tune-up that lowers NLL yet generates worse text (degenerate
  repetition, a style that only shows in likelihood).
- ``preference_margin`` (when held-out preference pairs exist):
  mean of log p(chosen) - log p(rejected), summed over reply tokens. The
  tuned minus the base margin is DPO's implicit reward margin (``/ beta``).

``compare`` turns base and tuned figures into the verdict the UI shows and
activation obeys: the tune-up helps when held-out NLL is lower AND adherence
is not worse (within ``ADHERENCE_TOLERANCE``, the resolution of a mean over
a handful of greedy replies) AND, where measured, the preference margin did
not shrink. The verdict carries the numbers and a one-line summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from trainer.dataset import PreferencePair, SFTExample, TuneupDataset, Turn
from trainer.encode import IGNORE, collate, encode, render_prompt

ADHERENCE_TOLERANCE = 0.01
"""Adherence may drop this much (cosine) and still count as "not worse"."""
NLL_MIN_GAIN = 0.0
"""Held-out NLL must drop by more than this (nats per token) to count as lower."""


def _parts(model: Any) -> tuple[Any, Any]:
    """The decoder stack and the vocabulary projection of a (peft-wrapped or
    plain) causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


def _device(model: Any) -> Any:
    """Where the model's weights are (inputs must be put there: CUDA runs)."""
    return next(model.parameters()).device


def target_token_nll(model: Any, batch: dict[str, Any]) -> tuple[Any, Any]:
    """``(NLL of each target token, mask of the target positions)`` for a
    collated batch already on the model's device; training takes the mean,
    evaluation sums per example.

    The vocabulary projection (49k x 576 for SmolLM2, the largest matrix of a
    small model) is applied only at positions that predict a target token,
    not at every prompt and padding position as ``model(...).logits`` would:
    on a 2-core CPU that is most of a pass's time and memory.
    """
    import torch

    decoder, head = _parts(model)
    hidden = decoder(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    labels = batch["labels"][:, 1:]  # token t is predicted from position t-1
    keep = labels != IGNORE
    logits = head(hidden[:, :-1][keep]).float()
    return torch.nn.functional.cross_entropy(logits, labels[keep], reduction="none"), keep


def _per_example_nll(
    model: Any, tokenizer: Any, examples: list[SFTExample], max_len: int, batch_size: int
) -> list[tuple[float, int]]:
    """``(summed NLL, target tokens)`` per example, in order."""
    import torch

    out: list[tuple[float, int]] = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            batch = collate(
                [encode(tokenizer, ex, max_len) for ex in examples[start : start + batch_size]],
                tokenizer.pad_token_id,
            )
            batch = {name: t.to(_device(model)) for name, t in batch.items()}
            token_nll, keep = target_token_nll(model, batch)
            sums = torch.zeros(keep.shape[0], dtype=torch.float64, device=token_nll.device)
            sums.index_add_(0, keep.nonzero()[:, 0], token_nll.double())
            sums, counts = sums.cpu(), keep.sum(dim=1).cpu()
            out.extend((float(s), int(n)) for s, n in zip(sums, counts, strict=True))
    return out


def heldout_nll(
    model: Any, tokenizer: Any, examples: list[SFTExample], max_len: int, batch_size: int = 8
) -> float:
    """Mean NLL per target token (nats) of ``examples`` under ``model``.

    Token-weighted over the whole set, so long replies count for their length.
    """
    if not examples:
        raise ValueError("no examples to evaluate")
    rows = _per_example_nll(model, tokenizer, examples, max_len, batch_size)
    return sum(t for t, _ in rows) / max(1, sum(n for _, n in rows))


def pair_margins(
    model: Any, tokenizer: Any, pairs: list[PreferencePair], max_len: int, batch_size: int = 8
) -> list[float]:
    """log p(chosen) - log p(rejected) per pair (reply tokens summed, nats)."""
    chosen = [SFTExample(p.conversation_id, 0, p.prompt, p.chosen, p.source) for p in pairs]
    rejected = [SFTExample(p.conversation_id, 0, p.prompt, p.rejected, p.source) for p in pairs]
    c = _per_example_nll(model, tokenizer, chosen, max_len, batch_size)
    r = _per_example_nll(model, tokenizer, rejected, max_len, batch_size)
    return [rn - cn for (cn, _), (rn, _) in zip(c, r, strict=True)]


def generate_replies(
    model: Any,
    tokenizer: Any,
    prompts: list[tuple[Turn, ...]],
    max_len: int,
    max_new_tokens: int = 32,
) -> list[str]:
    """Greedy replies, one prompt at a time (no padding to get wrong), the
    prompt cut to its newest ``max_len`` tokens."""
    import torch

    out: list[str] = []
    model.eval()
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False)
            input_ids = torch.tensor([ids["input_ids"][-max_len:]], device=_device(model))
            generated = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            out.append(
                str(tokenizer.decode(generated[0, input_ids.shape[1] :], skip_special_tokens=True))
            )
    return out


def adherence(
    embed: Callable[[list[str]], Any], generated: list[str], refs: list[list[str]]
) -> float:
    """Mean over prompts of the best cosine similarity between the generated
    reply and that prompt's reference replies (``embed`` returns unit rows)."""
    if not generated or len(generated) != len(refs):
        raise ValueError("need one list of references per generated reply")
    flat = [r for group in refs for r in group]
    vecs = embed(list(generated) + flat)
    gen, ref = vecs[: len(generated)], vecs[len(generated) :]
    scores, at = [], 0
    for i, group in enumerate(refs):
        sims = ref[at : at + len(group)] @ gen[i]
        scores.append(min(1.0, float(sims.max())))  # unit vectors: float32 can overshoot 1
        at += len(group)
    return sum(scores) / len(scores)


@dataclass(frozen=True)
class EvalFigures:
    heldout_nll: float
    adherence: float | None = None
    preference_margin: float | None = None
    samples: tuple[str, ...] = ()
    """The generated replies adherence was measured on (for run.json and the UI)."""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "samples": list(self.samples)}


@dataclass(frozen=True)
class Verdict:
    helps: bool
    summary: str
    reasons: tuple[str, ...]
    """Why it does not help (empty when it helps)."""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons)}


def compare(base: EvalFigures, tuned: EvalFigures) -> Verdict:
    """Does the tune-up help? NLL lower AND adherence not worse (AND the
    preference margin not smaller, when both were measured)."""
    parts = [f"held-out NLL {base.heldout_nll:.3f} -> {tuned.heldout_nll:.3f}"]
    reasons = []
    if not tuned.heldout_nll < base.heldout_nll - NLL_MIN_GAIN:
        reasons.append("held-out NLL did not drop")
    if base.adherence is not None and tuned.adherence is not None:
        parts.append(f"adherence {base.adherence:.3f} -> {tuned.adherence:.3f}")
        if tuned.adherence < base.adherence - ADHERENCE_TOLERANCE:
            reasons.append("generated replies moved away from the user's")
    else:
        reasons.append("adherence was not measured")
    if base.preference_margin is not None and tuned.preference_margin is not None:
        parts.append(
            f"preference margin {base.preference_margin:.2f} -> {tuned.preference_margin:.2f}"
        )
        if tuned.preference_margin < base.preference_margin:
            reasons.append("the preference margin shrank")
    helps = not reasons
    summary = ("helps: " if helps else "does not help: ") + ", ".join(parts)
    return Verdict(helps, summary, tuple(reasons))


def _prompts_and_refs(
    examples: list[SFTExample], limit: int
) -> tuple[list[tuple[Turn, ...]], list[list[str]]]:
    by_prompt: dict[tuple[Turn, ...], list[str]] = {}
    for ex in examples:
        by_prompt.setdefault(ex.prompt, []).append(ex.target)
    prompts = list(by_prompt)[:limit]
    return prompts, [by_prompt[p] for p in prompts]


def measure(
    model: Any,
    tokenizer: Any,
    dataset: TuneupDataset,
    max_len: int,
    embed: Callable[[list[str]], Any] | None,
    *,
    max_prompts: int = 8,
    max_new_tokens: int = 32,
) -> EvalFigures:
    """All figures for ``model`` as it is now (call it inside
    ``disable_adapter()`` for the base)."""
    nll = heldout_nll(model, tokenizer, dataset.heldout, max_len)
    margin = None
    if dataset.heldout_pairs:
        margins = pair_margins(model, tokenizer, dataset.heldout_pairs, max_len)
        margin = sum(margins) / len(margins)
    score: float | None = None
    samples: tuple[str, ...] = ()
    if embed is not None:
        prompts, refs = _prompts_and_refs(dataset.heldout, max_prompts)
        gen = generate_replies(model, tokenizer, prompts, max_len, max_new_tokens)
        score, samples = adherence(embed, gen, refs), tuple(gen)
    return EvalFigures(nll, score, margin, samples)


def evaluate_tuneup(
    model: Any,
    tokenizer: Any,
    dataset: TuneupDataset,
    max_len: int,
    embed: Callable[[list[str]], Any] | None,
    **kwargs: Any,
) -> tuple[EvalFigures, EvalFigures, Verdict]:
    """``(base, tuned, verdict)`` for a peft ``model`` on ``dataset``'s held-out part.

    Raises:
        ValueError: the dataset has no held-out examples.
    """
    if not dataset.heldout:
        raise ValueError("no held-out examples to evaluate on")
    with model.disable_adapter():
        base = measure(model, tokenizer, dataset, max_len, embed, **kwargs)
    tuned = measure(model, tokenizer, dataset, max_len, embed, **kwargs)
    return base, tuned, compare(base, tuned)


def minilm_embed() -> Callable[[list[str]], Any]:
    """The packaged MiniLM as an ``embed`` function (loaded on first call)."""
    from backend.knowledge.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder().embed
