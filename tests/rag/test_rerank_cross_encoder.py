"""The cross-encoder reranker on a real model.

No cross-encoder ships offline, so the bundled all-MiniLM-L6-v2 gets a
fresh one-score head (``CrossEncoder(dir, num_labels=1)``) and the head
(pooler + classifier) is trained on generated (question, answering passage)
= 1 / (question, passage of another topic) = 0 pairs. The encoder stays
frozen, so its [CLS] states are computed once and the head trains in a few
seconds (full fine-tuning took ~16 s a step on two shared cores). The model
is saved and the reranker loads it by path, like a user's folder. Held-out
questions and passages (never trained on) must come out right.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from backend.common.config import RagSettings
from backend.common.errors import ConfigError
from backend.knowledge.chunking import default_model_dir
from backend.rag.rerank import CrossEncoderReranker, NoReranker, RerankerError, make_reranker
from tests.rag.rerank_cases import HELD_OUT, TOPICS, TRAIN, held_out_case


def _pairs(rng: random.Random) -> list[tuple[str, str, float]]:
    names = list(TOPICS)
    pairs = []
    for topic, (questions, passages) in TOPICS.items():
        for i in TRAIN:
            for j in TRAIN:
                pairs.append((questions[i], passages[j], 1.0))
                other = rng.choice([n for n in names if n != topic])
                pairs.append((questions[i], TOPICS[other][1][rng.choice(TRAIN)], 0.0))
    return pairs


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    from sentence_transformers import CrossEncoder

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two shared cores: one thread avoids spin-wait thrash
    try:
        torch.manual_seed(0)
        pairs = _pairs(random.Random(0))
        model = CrossEncoder(str(default_model_dir()), num_labels=1, device="cpu")
        bert = model.model
        with torch.no_grad():
            features = model.preprocess([(q, p) for q, p, _ in pairs])
            cls = bert.bert(
                input_ids=features["input_ids"],
                attention_mask=features["attention_mask"],
                token_type_ids=features.get("token_type_ids"),
            ).last_hidden_state[:, :1]
        labels = torch.tensor([label for *_, label in pairs])
        head = [*bert.bert.pooler.parameters(), *bert.classifier.parameters()]
        optimizer = torch.optim.AdamW(head, lr=1e-3)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        bert.train()
        for _ in range(200):
            logits = bert.classifier(bert.dropout(bert.bert.pooler(cls))).squeeze(-1)
            loss = loss_fn(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        assert loss.item() < 0.05, f"the head did not fit its training pairs (loss {loss.item()})"
        bert.eval()
        out = tmp_path_factory.mktemp("cross-encoder")
        model.save(str(out))
        return out
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cross_encoder(cross_encoder_dir: Path) -> CrossEncoderReranker:
    return CrossEncoderReranker(cross_encoder_dir, max_length=128)


def test_cross_encoder_puts_held_out_answers_first(cross_encoder: CrossEncoderReranker) -> None:
    for topic in TOPICS:
        question, hits = held_out_case(topic)
        out = cross_encoder.rerank(question, hits)
        assert out[0].text == TOPICS[topic][1][HELD_OUT], (topic, [h.text for h in out])
        assert sorted(h.chunk_id for h in out) == [h.chunk_id for h in hits]  # none lost
        assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)
        assert {h.score for h in out}.isdisjoint({h.score for h in hits})  # re-scored


def test_cross_encoder_scores_do_not_depend_on_input_order(
    cross_encoder: CrossEncoderReranker,
) -> None:
    question, hits = held_out_case("chess")
    forward = {h.chunk_id: h.score for h in cross_encoder.rerank(question, hits)}
    backward = {h.chunk_id: h.score for h in cross_encoder.rerank(question, hits[::-1])}
    assert forward == pytest.approx(backward, abs=1e-4)
    assert cross_encoder.rerank(question, []) == []


def test_cross_encoder_respects_max_length(cross_encoder: CrossEncoderReranker) -> None:
    assert cross_encoder.max_length == 128
    question, hits = held_out_case("space")
    answer = hits[-1]
    # 400 words of padding after the answer: beyond 128 tokens it is cut off,
    # so the score equals the one of any other padding.
    long_a = replace(answer, chunk_id=10, text=answer.text + " filler" * 400)
    long_b = replace(answer, chunk_id=11, text=answer.text + " filler" * 500)
    scores = {h.chunk_id: h.score for h in cross_encoder.rerank(question, [long_a, long_b])}
    assert scores[10] == pytest.approx(scores[11], abs=1e-4)


def test_cross_encoder_is_thread_safe(cross_encoder: CrossEncoderReranker) -> None:
    question, hits = held_out_case("guitar")
    expected = [h.chunk_id for h in cross_encoder.rerank(question, hits)]
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append([h.chunk_id for h in cross_encoder.rerank(question, hits)])
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [expected] * 4


def test_cross_encoder_refuses_a_bi_encoder_folder() -> None:
    with pytest.raises(RerankerError, match="bi-encoder"):
        CrossEncoderReranker(default_model_dir())


def test_cross_encoder_refuses_bad_folders(tmp_path: Path, cross_encoder_dir: Path) -> None:
    with pytest.raises(RerankerError, match="does not exist"):
        CrossEncoderReranker(tmp_path / "missing")
    with pytest.raises(RerankerError, match=r"no config\.json"):
        CrossEncoderReranker(tmp_path)
    # A plain encoder checkpoint (no classification head).
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    with pytest.raises(RerankerError, match="no sequence-classification head"):
        CrossEncoderReranker(plain)
    # A real cross-encoder's files without its weights.
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    for f in cross_encoder_dir.iterdir():
        if f.is_file() and f.suffix != ".safetensors":
            (weightless / f.name).write_bytes(f.read_bytes())
    with pytest.raises(RerankerError, match="no model weights"):
        CrossEncoderReranker(weightless)
    # Three labels (an NLI model) is not one relevance score.
    nli = tmp_path / "nli"
    nli.mkdir()
    config = {
        "architectures": ["BertForSequenceClassification"],
        "id2label": {"0": "a", "1": "b", "2": "c"},
    }
    (nli / "config.json").write_text(json.dumps(config))
    with pytest.raises(RerankerError, match="3 output labels"):
        CrossEncoderReranker(nli)


def test_make_reranker_builds_the_cross_encoder(cross_encoder_dir: Path) -> None:
    settings = RagSettings(reranker="cross-encoder", cross_encoder_dir=cross_encoder_dir)
    reranker = make_reranker(settings)
    assert isinstance(reranker, CrossEncoderReranker) and reranker.name == "cross-encoder"
    with pytest.raises(ConfigError, match="cross_encoder_dir"):
        make_reranker(RagSettings(reranker="cross-encoder"))
    assert isinstance(make_reranker(RagSettings()), NoReranker)
