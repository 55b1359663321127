"""Cross-validation over levers and the loss analysis, for
``retrieval_compare.py``. Pure functions over per-question scores.

CV: the questions of every set are pooled and dealt into ``FOLDS`` folds
(shuffled with a fixed seed within each set, then dealt round-robin, so
each fold holds the same mix of sets). A variant's figure is the mean of
its five test-fold means, with their standard error. The selection rule is
cross-validated too: on each fold's training questions the best variant by
passage MRR@10 is found, and among the variants whose paired difference
from it is within one standard error (noise), the simplest wins
(``Variant.simplicity``); the chosen variant is scored on the held-out fold.

Loss analysis: for each question where the naive pipeline ranks the answer
passage higher than ours, the first cause that explains it, tried in order
by putting the naive pipeline's choice back for one stage at a time.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

FOLDS = 5
SEED = 20261204
METRIC = "pmrr"


def folds(set_names: Sequence[str], n: int = FOLDS, seed: int = SEED) -> list[int]:
    """Fold number per question (questions given by their set's name)."""
    rng = random.Random(seed)
    out = [0] * len(set_names)
    at = 0
    for name in dict.fromkeys(set_names):
        idx = [i for i, s in enumerate(set_names) if s == name]
        rng.shuffle(idx)
        for i in idx:
            out[i] = at % n
            at += 1
    return out


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    m = sum(values) / n
    if n == 1:
        return m, 0.0
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, math.sqrt(var / n)


def fold_means(scores: Sequence[float], fold_of: Sequence[int], n: int = FOLDS) -> list[float]:
    return [
        sum(s for s, f in zip(scores, fold_of, strict=True) if f == k)
        / max(1, sum(f == k for f in fold_of))
        for k in range(n)
    ]


def choose(
    scores: dict[str, list[float]], simplicity: dict[str, int], rows: Sequence[int]
) -> tuple[str, list[str]]:
    """Best variant on ``rows`` (question indexes) and those within noise;
    returns (the simplest of those, all of them)."""
    means = {v: sum(s[i] for i in rows) / len(rows) for v, s in scores.items()}
    best = max(means, key=lambda v: means[v])
    tied = []
    for v in scores:
        diff = [scores[best][i] - scores[v][i] for i in rows]
        _, se = mean_se(diff)
        if means[best] - means[v] <= se:
            tied.append(v)
    pick = min(tied, key=lambda v: (simplicity[v], -means[v], v))
    return pick, tied


def cross_validate(
    scores: dict[str, list[float]], simplicity: dict[str, int], fold_of: Sequence[int]
) -> dict[str, Any]:
    """Per-variant CV mean +- SE, and the selection rule cross-validated."""
    per_variant = {}
    for v, s in scores.items():
        m, se = mean_se(fold_means(s, fold_of))
        per_variant[v] = {"mean": m, "se": se}
    chosen, held_out = [], []
    for k in range(FOLDS):
        train = [i for i, f in enumerate(fold_of) if f != k]
        test = [i for i, f in enumerate(fold_of) if f == k]
        pick, _ = choose(scores, simplicity, train)
        chosen.append(pick)
        held_out.append(sum(scores[pick][i] for i in test) / len(test))
    m, se = mean_se(held_out)
    final, tied = choose(scores, simplicity, list(range(len(fold_of))))
    return {
        "per_variant": per_variant,
        "selection": {"per_fold": chosen, "held_out_mean": m, "held_out_se": se},
        "chosen_on_all": final,
        "within_noise_on_all": tied,
    }


CAUSES = (
    "answer split across our chunks",
    "answer in no chunk of ours (parser)",
    "diversity step",
    "fusion (scaled bm25 vs RRF)",
    "keyword list (bm25 weights / stop words)",
    "chunks and embedded text (index)",
    "combination",
)


def classify(
    naive_rank: int | None,
    ours_rank: int | None,
    rank_with: Callable[[str], int | None],
    answer_state: str,
) -> str | None:
    """The cause of a loss (None when ours is not behind naive).

    ``rank_with(lever)`` is our rank with that one lever set the naive way
    ("nodiv"; "rrf"; "plainbm25"; "index": our query side over the naive
    index); the rewrite is left out (it only runs on weak questions and is
    measured as default against hybrid); ``answer_state`` is "ok", "split" or "absent".
    """
    inf = 99
    n, o = naive_rank or inf, ours_rank or inf
    if n >= o:
        return None
    if answer_state == "split":
        return CAUSES[0]
    if answer_state == "absent":
        return CAUSES[1]
    for lever, cause in (
        ("nodiv", CAUSES[2]),
        ("rrf", CAUSES[3]),
        ("plainbm25", CAUSES[4]),
        ("index", CAUSES[5]),
    ):
        if (rank_with(lever) or inf) <= n:
            return cause
    return CAUSES[6]


def count_causes(causes: Sequence[str | None]) -> dict[str, int]:
    c = Counter(x for x in causes if x is not None)
    return {cause: c.get(cause, 0) for cause in CAUSES}
