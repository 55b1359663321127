"""The before/after verdict: its rules on given figures, adherence with the
packaged MiniLM, and the whole evaluation on the end-to-end style scenario
(generated replies of the tuned model are closer to the user's replies)."""

from __future__ import annotations

import pytest

from trainer.evaluate import EvalFigures, adherence, compare, evaluate_tuneup, minilm_embed

from .conftest import StyleRun
from .history import PERSONA


def test_verdict_needs_lower_nll_and_no_worse_adherence() -> None:
    base = EvalFigures(heldout_nll=3.0, adherence=0.50)
    good = compare(base, EvalFigures(heldout_nll=2.0, adherence=0.70))
    assert good.helps and good.reasons == ()
    assert good.summary == "helps: held-out NLL 3.000 -> 2.000, adherence 0.500 -> 0.700"

    worse_text = compare(base, EvalFigures(heldout_nll=2.0, adherence=0.40))
    assert not worse_text.helps
    assert worse_text.reasons == ("generated replies moved away from the user's",)
    assert worse_text.summary.startswith("does not help: ")

    no_gain = compare(base, EvalFigures(heldout_nll=3.0, adherence=0.9))
    assert not no_gain.helps and no_gain.reasons == ("held-out NLL did not drop",)
    # within the tolerance is "not worse"
    assert compare(base, EvalFigures(heldout_nll=2.0, adherence=0.495)).helps
    # unmeasured adherence is no evidence it helps
    assert not compare(EvalFigures(3.0), EvalFigures(2.0)).helps


def test_verdict_checks_the_preference_margin_when_measured() -> None:
    base = EvalFigures(3.0, 0.5, preference_margin=-4.0)
    assert compare(base, EvalFigures(2.5, 0.6, preference_margin=3.0)).helps
    shrank = compare(base, EvalFigures(2.5, 0.6, preference_margin=-6.0))
    assert shrank.reasons == ("the preference margin shrank",)
    assert "preference margin -4.00 -> -6.00" in shrank.summary


@pytest.mark.real_model
def test_adherence_with_minilm() -> None:
    embed = minilm_embed()
    refs = [["Ahoy! Captain Pax here. Tea is a drink made from leaves."]]
    same = adherence(embed, [refs[0][0]], refs)
    close = adherence(embed, ["Ahoy, Captain Pax here! Tea is brewed from leaves."], refs)
    far = adherence(embed, ["The stock market fell sharply on Tuesday."], refs)
    assert same == pytest.approx(1.0, abs=1e-4)
    assert same > close > far
    # the best reference of a prompt counts
    two = [["The stock market fell.", refs[0][0]]]
    assert adherence(embed, [refs[0][0]], two) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError):
        adherence(embed, ["a"], [])


@pytest.mark.real_model
def test_the_style_tuneup_generates_closer_replies(style_run: StyleRun) -> None:
    """The whole evaluation on the shared style tune-up (``conftest.style_run``):
    the tuned model's greedy replies to held-out prompts are closer to the
    user's (MiniLM adherence), open in the persona where the base's never
    do, and the verdict says it helps. Four prompts, 12 new tokens: the
    persona is the first 8 tokens of a reply, and four held-out chats
    already tell a style learned (measured: 4/4 tuned, 0/4 base, adherence
    0.56 -> 0.92) from one not yet learned (8 steps: adherence 0.56 -> 0.35)."""
    ds, cfg, result = style_run.dataset, style_run.config, style_run.result
    base, tuned, verdict = evaluate_tuneup(
        result.model, result.tokenizer, ds, cfg.max_seq_len, minilm_embed(),
        max_prompts=4, max_new_tokens=12,
    )  # fmt: skip
    print(f"\nbase {base}\ntuned {tuned}\n{verdict.summary}")
    assert base.adherence is not None and tuned.adherence is not None
    assert tuned.adherence > base.adherence + 0.05
    assert tuned.heldout_nll < base.heldout_nll
    assert sum(PERSONA[:12] in s for s in tuned.samples) >= len(tuned.samples) // 2
    assert not any(PERSONA[:12] in s for s in base.samples)
    assert verdict.helps, verdict
    assert len(base.samples) == len(tuned.samples) == 4 < len({e.prompt for e in ds.heldout})
