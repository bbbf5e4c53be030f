"""SQuAD v1.1 dev answers (the articles in tests/data) -> token spans -> answer
text, through the real BertTokenizer's character offsets, and doc-stride windows
as run_squad.py."""

import collections
import json

import numpy as np
import pytest

from kerasbert.data.qa_features import qa_dataset
from kerasbert.data.qa_features import span_text
from kerasbert.data.qa_features import squad_features
from kerasbert.data.squad import read_squad
from kerasbert.tasks import get_task
from kerasbert.tokenizers.bert_tokenizer import BertTokenizer
from reference import run_squad_answers, run_squad_windows, tokenized


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.from_preset("all_minilm_l6_v2", sequence_length=384)


@pytest.fixture(scope="module")
def dev(test_data):
    return read_squad(test_data / "squad/dev-v1.1.json")


@pytest.fixture(scope="module")
def counts(test_data):
    """(questions, answers) in the SQuAD file, counted from its JSON."""
    data = json.loads((test_data / "squad/dev-v1.1.json").read_text(encoding="utf-8"))
    questions = [qa for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]]
    return len(questions), sum(len(qa["answers"]) for qa in questions)


@pytest.fixture(scope="module")
def features(dev, tokenizer):
    return squad_features(dev, tokenizer, sequence_length=384, doc_stride=128)


def _mismatch_reason(context, answer, start, end):
    if start > answer.start:
        return "answer starts inside a character the tokenizer drops"
    if start < answer.start:
        return "answer starts inside a wordpiece"
    if end > answer.end:
        return "answer ends inside a wordpiece"
    return "answer ends inside a character the tokenizer drops"


def test_every_dev_answer_maps_to_tokens_that_read_back(dev, tokenizer, counts, capsys):
    offsets = tokenized(tokenizer, [example.context for example in dev])
    reasons = collections.Counter()
    examples_of = collections.defaultdict(list)
    answers = 0
    for example in dev:
        _, starts, ends = offsets[example.context]
        for answer in example.answers:
            answers += 1
            covered = [i for i, (s, e) in enumerate(zip(starts, ends))
                       if e > answer.start and s < answer.end]
            first, last = covered[0], covered[-1]
            read_back = example.context[starts[first]:ends[last]]
            if read_back != answer.text:
                reason = _mismatch_reason(example.context, answer, starts[first], ends[last])
                reasons[reason] += 1
                examples_of[reason].append((answer.text, read_back))
                # Not on wordpiece boundaries: the tokens still cover the answer.
                assert answer.text in read_back or read_back in answer.text
    assert answers == counts[1] > 5000
    with capsys.disabled():
        print(f"\nSQuAD dev answers: {answers}; read back exactly: {answers - sum(reasons.values())}")
        for reason, n in reasons.most_common():
            print(f"  {n} x {reason}, e.g. {examples_of[reason][:3]}")
    assert sum(reasons.values()) < 0.01 * answers


def test_windows_hold_the_answer_as_run_squad(dev, features, counts):
    assert features.token_ids.shape[1] == 384
    assert len(dev) == counts[0]
    assert sorted(set(features.example_index)) == list(range(len(dev)))
    assert len(features) > len(dev)  # long contexts have several windows
    found = collections.Counter()
    for f in range(len(features)):
        example = dev[features.example_index[f]]
        start, end = features.start_positions[f], features.end_positions[f]
        mask = features.padding_mask[f]
        assert features.token_ids[f][mask == 1][-1] == 102 and features.token_ids[f][0] == 101
        if start == 0:
            assert end == 0
            continue
        found[features.example_index[f]] += 1
        text = span_text(features, f, start, end)
        assert example.answers[0].text in text
        assert (features.segment_ids[f][start:end + 1] == 1).all()
    # Every answer lies inside at least one window.
    assert len(found) == len(dev)


def test_oracle_logits_give_back_the_answers(dev, features):
    start_logits = np.full(features.token_ids.shape, -10.0)
    end_logits = np.full(features.token_ids.shape, -10.0)
    rows = np.arange(len(features))
    start_logits[rows, features.start_positions] = 10.0
    end_logits[rows, features.end_positions] = 10.0
    predicted = get_task("qa").predictions(np.stack([start_logits, end_logits], -1), features)
    exact = sum(predicted[e.qas_id][0] == e.answers[0].text for e in dev)
    assert exact >= 0.99 * len(dev)


def test_windows_and_answers_are_run_squads(dev, tokenizer, features):
    """The in-graph windows, targets and answer search, called eagerly, equal
    run_squad.py's written out in plain Python (tests/reference.py), on every
    dev question: windows and max-context flags exactly; answers on random
    logits, with their scores."""
    reference = run_squad_windows(dev, tokenizer, 384, 128, 64)
    for name, want in reference.items():
        np.testing.assert_array_equal(getattr(features, name), want, name)
    logits = np.random.default_rng(0).normal(size=features.token_ids.shape + (2,))
    logits = logits.astype(np.float32)
    predicted = get_task("qa").predictions(logits, features)
    want = run_squad_answers(dev, reference, logits[..., 0], logits[..., 1])
    assert [predicted[q][0] for q in want] == [want[q][0] for q in want]
    def scores(answers):
        return [np.nan if answers[q][1] is None else answers[q][1] for q in want]

    np.testing.assert_allclose(scores(predicted), scores(want), rtol=1e-6)
    assert sum(bool(text) for text, _ in want.values()) > 0.9 * len(dev)


def test_qa_dataset_shapes(features):
    training = qa_dataset(features, batch_size=16, training=True, shuffle=True, seed=1)
    inputs, targets = training.element_spec
    assert all(s.shape.as_list() == [16, 384] for s in inputs.values())
    assert all(s.shape.as_list() == [16] for s in targets.values())
    evaluation = qa_dataset(features, batch_size=16)
    assert sum(len(t["start_positions"]) for _, t in evaluation.as_numpy_iterator()) == len(
        features)
