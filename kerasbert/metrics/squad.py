"""SQuAD exact match and F1, as the official evaluation scripts compute them.

v1.1 (`evaluate-v1.1.py`): answers are normalised (lower case, punctuation
and the articles a/an/the removed, whitespace collapsed); a prediction's
exact match and token F1 are the best over the question's gold answers.

v2.0 (`evaluate-v2.0.py`): the same, except that a question with no gold
answer (or only answers that normalise to nothing) is scored against the
empty answer: an empty prediction scores 1 and anything else 0, for both
exact match and F1.

Scores are percentages (0-100), as the official scripts print them.
"""

import collections
import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text):
    """Lower case, drop punctuation, drop articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(prediction, ground_truth):
    """1.0 when both normalise to the same string, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction, ground_truth, version_2=False):
    """Token-overlap F1 of the normalised answers, in [0, 1].

    With `version_2`, an empty side scores 1.0 when the other is empty too and
    0.0 otherwise (v1.1 scores 0.0 whenever no token is shared).
    """
    predicted = normalize_answer(prediction).split()
    gold = normalize_answer(ground_truth).split()
    if version_2 and (not predicted or not gold):
        return float(predicted == gold)
    shared = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(gold)
    return 2 * precision * recall / (precision + recall)


def question_scores(prediction, gold_answers, version_2=False):
    """(exact match, F1) of one prediction, each the max over `gold_answers`.

    Args:
        prediction: the predicted answer text ("" for no answer).
        gold_answers: the gold answer texts; empty for an unanswerable question.
        version_2: score as evaluate-v2.0 (see module doc).
    """
    gold = list(gold_answers)
    if version_2:
        gold = [a for a in gold if normalize_answer(a)] or [""]
    elif not gold:
        raise ValueError("a SQuAD v1.1 question needs at least one gold answer; "
                         "score unanswerable questions with version_2=True")
    return (max(exact_match_score(prediction, a) for a in gold),
            max(f1_score(prediction, a, version_2) for a in gold))


def squad_metrics(predictions, gold_answers, version_2=False):
    """Exact match and F1 over a set of questions, in percent.

    Args:
        predictions: `{question id: predicted text}`; a missing question scores 0.
        gold_answers: `{question id: [gold answer texts]}`, every question to score.
        version_2: score as evaluate-v2.0, and add the split by whether the
            question has an answer.

    Returns:
        `{"exact_match", "f1"}`; with `version_2` also `has_answer_exact_match`,
        `has_answer_f1`, `has_answer_total`, `no_answer_exact_match`,
        `no_answer_f1`, `no_answer_total` (the scores 0 when a group is empty).
    """
    if not gold_answers:
        raise ValueError("no questions to score")
    scores, answerable = {}, {}
    for qid, gold in gold_answers.items():
        answerable[qid] = bool(gold)
        scores[qid] = (question_scores(predictions[qid], gold, version_2)
                       if qid in predictions else (0.0, 0.0))
    metrics = _averages(scores.values())
    if version_2:
        for prefix, keep in (("has_answer", True), ("no_answer", False)):
            group = [s for qid, s in scores.items() if answerable[qid] == keep]
            part = _averages(group)
            metrics.update({f"{prefix}_exact_match": part["exact_match"],
                            f"{prefix}_f1": part["f1"], f"{prefix}_total": len(group)})
    return metrics


def _averages(scores):
    scores = list(scores)
    if not scores:
        return {"exact_match": 0.0, "f1": 0.0}
    return {"exact_match": 100.0 * sum(s[0] for s in scores) / len(scores),
            "f1": 100.0 * sum(s[1] for s in scores) / len(scores)}
