"""Extractive question answering (SQuAD v1.1 and v2.0).

The head gives every position a start and an end logit; the answer is the
best-scoring valid context span (`data.qa_features.best_answers`). For
SQuAD v2.0, [CLS] (position 0) stands for "no answer", as in
google-research/bert `run_squad.py`: an example's null score is the lowest
`start[0] + end[0]` over its windows, and it gets the empty answer when
`null score - best span score > null_score_diff_threshold`.
"""

import numpy as np
import tensorflow as tf

from kerasbert.data.qa_features import best_answers
from kerasbert.metrics.squad import squad_metrics
from kerasbert.tasks.task import Task, masked_sum


class QuestionAnsweringTask(Task):
    """Labels `{"start_positions", "end_positions"}` int32 `[batch]` (0 = [CLS]
    when the window holds no answer); logits `[batch, seq, 2]` (start, end).

    Args:
        labels: unused (QA has no label set); kept for `get_task`.
        version_2_with_negative: SQuAD v2.0 (questions may have no answer).
        null_score_diff_threshold: v2.0 predicts no answer above this margin.
        n_best_size: start / end candidates per window.
        max_answer_length: longest answer, in tokens.
        doc_stride, max_query_length: how contexts and questions become
            windows (`data.qa_features.squad_features`), kept with the model.
    """

    name = "qa"
    head = "sequence"
    main_metric = "f1"

    def __init__(self, labels=None, version_2_with_negative=False, null_score_diff_threshold=0.0,
                 n_best_size=20, max_answer_length=30, doc_stride=128, max_query_length=64):
        super().__init__(None)
        self.version_2_with_negative = bool(version_2_with_negative)
        self.null_score_diff_threshold = float(null_score_diff_threshold)
        self.n_best_size, self.max_answer_length = int(n_best_size), int(max_answer_length)
        self.doc_stride, self.max_query_length = int(doc_stride), int(max_query_length)

    @property
    def num_outputs(self):
        return 2

    def loss(self, labels, logits):
        """Per window, the mean of the start and end cross-entropies; summed,
        with the number of windows."""
        start = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels["start_positions"], logits[..., 0])
        end = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels["end_positions"], logits[..., 1])
        return masked_sum((start + end) / 2.0, tf.ones_like(start, tf.bool))

    def predictions(self, logits, features):
        """`{qas_id: (text, score)}`: the best span's text and its start + end
        logit; under v2.0 ("", null score) where no answer wins."""
        logits = np.asarray(logits, np.float32)
        spans = best_answers(features, logits[..., 0], logits[..., 1], self.n_best_size,
                             self.max_answer_length, with_scores=True)
        if not self.version_2_with_negative:
            return spans
        null = np.full(len(features.examples), np.inf, np.float32)
        np.minimum.at(null, features.example_index, logits[:, 0, 0] + logits[:, 0, 1])
        answers = {}
        for example, null_score in zip(features.examples, null):
            text, score = spans[example.qas_id]
            no_answer = score is None or null_score - score > self.null_score_diff_threshold
            answers[example.qas_id] = ("", float(null_score)) if no_answer else (text, score)
        return answers

    def compute_metrics(self, logits, features):
        """Official SQuAD exact match and F1 (percent) of the predicted answers.

        Args:
            logits: `[n, seq, 2]` over the n windows of `features`.
            features: the `QaFeatures` the logits were computed on; their
                examples hold the gold answers.
        """
        predictions = {qid: text for qid, (text, _) in self.predictions(logits, features).items()}
        gold = {e.qas_id: [a.text for a in e.answers] for e in features.examples}
        return squad_metrics(predictions, gold, self.version_2_with_negative)

    def postprocess(self, logits, features):
        """Per example, `{"id", "answer", "score"}` (answer "" for none)."""
        return [{"id": qid, "answer": text, "score": score}
                for qid, (text, score) in self.predictions(logits, features).items()]

    def config(self):
        return {**super().config(), "settings": {
            "version_2_with_negative": self.version_2_with_negative,
            "null_score_diff_threshold": self.null_score_diff_threshold,
            "n_best_size": self.n_best_size, "max_answer_length": self.max_answer_length,
            "doc_stride": self.doc_stride, "max_query_length": self.max_query_length}}
