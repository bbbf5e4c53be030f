"""Entity-level NER metrics against the `seqeval` package, and SQuAD exact
match / F1 against hand-checked cases of the official evaluation scripts."""

import random
import string
import warnings

import pytest
from seqeval.metrics import accuracy_score
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support
from seqeval.metrics.sequence_labeling import get_entities

from kerasbert.data.squad import read_squad
from kerasbert.metrics.sequence_labeling import entity_spans, sequence_labeling_metrics
from kerasbert.metrics.squad import (exact_match_score, f1_score, normalize_answer,
                                     question_scores, squad_metrics)

# -- entity F1 vs seqeval -------------------------------------------------------------------

FIXED = [
    # (gold, predicted): IOB2, IOB1, IOBES, and malformed sequences.
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "O", "O", "B-ORG"]),
    (["I-PER", "I-PER", "B-PER", "O"], ["I-PER", "I-PER", "I-PER", "O"]),      # IOB1
    (["O", "I-ORG", "I-ORG", "O"], ["B-ORG", "I-ORG", "I-ORG", "O"]),          # I- after O
    (["B-PER", "I-LOC", "I-LOC"], ["B-PER", "I-PER", "I-LOC"]),                # type change
    (["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"], ["S-PER", "B-LOC", "E-LOC", "S-LOC", "O"]),
    (["E-PER", "I-PER", "S-MISC"], ["B-PER", "E-PER", "S-MISC"]),              # IOBES, malformed
    (["B-MISC"], ["O"]),
    (["O", "O"], ["B-LOC", "B-LOC"]),
    ([], []),
]
TAGS = ["O"] + [f"{p}-{t}" for p in "BIES" for t in ("PER", "LOC", "ORG", "MISC")]


def _seqeval(gold, predicted):
    """seqeval's micro and per-type scores and accuracy, in our metric names."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        micro = precision_recall_fscore_support(gold, predicted, average="micro")
        per_type = precision_recall_fscore_support(gold, predicted, average=None)
    types = sorted({t for s in gold + predicted for t, _, _ in get_entities(s)})
    expected = {"entity_precision": micro[0], "entity_recall": micro[1], "entity_f1": micro[2]}
    for i, t in enumerate(types):
        expected.update({f"entity_precision/{t}": per_type[0][i],
                         f"entity_recall/{t}": per_type[1][i],
                         f"entity_f1/{t}": per_type[2][i], f"support/{t}": per_type[3][i]})
    flat = [t for s in gold for t in s]
    expected["accuracy"] = accuracy_score(gold, predicted) if flat else 0.0
    return expected


def _assert_same(ours, theirs):
    assert set(ours) == set(theirs)
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(float(value), abs=1e-12), name


@pytest.mark.parametrize("gold,predicted", FIXED)
def test_spans_of_fixed_sequences_match_seqeval(gold, predicted):
    for tags in (gold, predicted):
        assert entity_spans(tags) == get_entities(tags)


def test_fixed_corpus_matches_seqeval():
    gold, predicted = [g for g, _ in FIXED], [p for _, p in FIXED]
    ours = sequence_labeling_metrics(gold, predicted)
    _assert_same(ours, _seqeval(gold, predicted))
    assert 0 < ours["entity_f1"] < 1  # the corpus has hits and misses


@pytest.mark.parametrize("seed", range(5))
def test_random_sequences_match_seqeval(seed):
    rng = random.Random(seed)

    def sentence(length):
        # Mostly well-formed IOB2 with noise, so that long entities occur too.
        tags = []
        for _ in range(length):
            if tags and tags[-1] != "O" and rng.random() < 0.5:
                tags.append("I-" + tags[-1][2:])
            else:
                tags.append(rng.choice(TAGS) if rng.random() < 0.5 else "O")
        return tags

    gold, predicted = [], []
    for _ in range(200):
        g = sentence(rng.randint(0, 15))
        p = [rng.choice(TAGS) if rng.random() < 0.2 else t for t in g]
        gold.append(g)
        predicted.append(p)
        assert entity_spans(g) == get_entities(g)
    _assert_same(sequence_labeling_metrics(gold, predicted), _seqeval(gold, predicted))


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        sequence_labeling_metrics([["O"], ["O", "O"]], [["O"], ["O"]])


# -- SQuAD ----------------------------------------------------------------------------------

def test_normalization_as_the_official_script():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("An apple a day, the doctor...") == "apple day doctor"
    assert normalize_answer("Levi's Stadium") == "levis stadium"
    assert normalize_answer("theater") == "theater"  # articles only as whole words
    assert normalize_answer("e-mail") == "email"


@pytest.mark.parametrize("prediction,gold,em,f1", [
    ("Denver Broncos", "the Denver Broncos", 1.0, 1.0),
    ("Denver", "Denver Broncos", 0.0, 2 / 3),                 # p = 1, r = 1/2
    ("Broncos Denver Broncos", "Denver Broncos", 0.0, 0.8),   # p = 2/3, r = 1
    ("Carolina Panthers", "Denver Broncos", 0.0, 0.0),
    ("the", "a", 1.0, 0.0),                                   # v1.1: no shared token
])
def test_exact_match_and_f1_of_one_answer(prediction, gold, em, f1):
    assert exact_match_score(prediction, gold) == em
    assert f1_score(prediction, gold) == pytest.approx(f1)


def test_best_over_gold_answers_and_version_2_no_answer():
    golds = ["Levi's Stadium", "Santa Clara, California"]
    em, f1 = question_scores("Santa Clara", golds)
    assert (em, f1) == (0.0, pytest.approx(0.8))              # p = 1, r = 2/3 on the 2nd
    assert question_scores("levis stadium.", golds) == (1.0, 1.0)
    # v2.0: no gold answer means the empty answer is right and anything else wrong.
    assert question_scores("", [], version_2=True) == (1.0, 1.0)
    assert question_scores("Santa Clara", [], version_2=True) == (0.0, 0.0)
    assert question_scores("", golds, version_2=True) == (0.0, 0.0)
    assert f1_score("the", "a", version_2=True) == 1.0
    with pytest.raises(ValueError, match="version_2=True"):
        question_scores("", [])


def test_squad_metrics_in_percent_with_missing_predictions_and_v2_groups():
    gold = {"q1": ["Denver Broncos"], "q2": ["Denver Broncos"], "q3": ["Paris"], "q4": []}
    predictions = {"q1": "the Denver Broncos", "q2": "Denver", "q4": ""}
    v2 = squad_metrics(predictions, gold, version_2=True)
    assert v2["exact_match"] == pytest.approx(100 * (1 + 0 + 0 + 1) / 4)
    assert v2["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0 + 1) / 4)
    assert v2["has_answer_total"] == 3 and v2["no_answer_total"] == 1
    assert v2["has_answer_f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert v2["no_answer_exact_match"] == 100.0
    v1 = squad_metrics(predictions, {k: v for k, v in gold.items() if v})
    assert set(v1) == {"exact_match", "f1"}
    assert v1["exact_match"] == pytest.approx(100 / 3)


def _random_answer(rng):
    words = ["the", "a", "Denver", "broncos", "Super", "bowl", "50", "an", "Levi's", "(1996)"]
    text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 6)))
    return "".join(c.upper() if rng.random() < 0.2 else c for c in text) + rng.choice(
        ["", ".", "!", " ", ","])


def test_properties_on_random_answers():
    rng = random.Random(0)
    for _ in range(500):
        a, b = _random_answer(rng), _random_answer(rng)
        em, f1 = question_scores(a, [b], version_2=True)
        assert em <= f1 and 0.0 <= f1 <= 1.0
        assert f1_score(a, b, version_2=True) == pytest.approx(f1_score(b, a, version_2=True))
        assert question_scores(a, [a], version_2=True) == (1.0, 1.0)
        noisy = a.upper() + rng.choice(string.punctuation)
        assert squad_metrics({"q": noisy}, {"q": [a]}, version_2=True)["f1"] == 100.0
        if normalize_answer(a) and normalize_answer(b):
            assert question_scores(a, [b]) == (em, pytest.approx(f1))


def test_gold_answers_of_real_dev_questions_score_100(test_data):
    examples = read_squad(test_data / "squad" / "dev-v1.1.json")[:500]
    gold = {e.qas_id: [a.text for a in e.answers] for e in examples}
    perfect = {e.qas_id: e.answers[-1].text for e in examples}
    assert squad_metrics(perfect, gold) == {"exact_match": 100.0, "f1": 100.0}
    # The context's first five words are rarely an answer.
    first_words = {e.qas_id: " ".join(e.context.split()[:5]) for e in examples}
    scores = squad_metrics(first_words, gold)
    assert scores["exact_match"] < 5 and scores["exact_match"] <= scores["f1"] < 20
