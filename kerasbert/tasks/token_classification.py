"""Token classification (named-entity recognition): one tag per word.

The model scores every WordPiece position; only a word's first sub-token
carries its tag (the others, [CLS], [SEP] and padding have label -100), as in
the BERT paper's CoNLL-2003 set-up. Metrics and predictions go back to words
through `word_ids` (`data.ner_alignment.word_tags`).
"""

import numpy as np
import tensorflow as tf

from kerasbert.data.ner_alignment import word_tags
from kerasbert.metrics.sequence_labeling import entity_spans, sequence_labeling_metrics
from kerasbert.tasks.classification import softmax
from kerasbert.tasks.task import Task, masked_sum


def word_ids_from_labels(labels):
    """`[n, seq]` word index of every labelled position (-1 elsewhere): with
    labels on first sub-tokens only, the k-th labelled position is word k."""
    labels = np.asarray(labels)
    labelled = labels >= 0
    return np.where(labelled, np.cumsum(labelled, axis=1) - 1, -1)


class TokenClassificationTask(Task):
    """Labels int32 `[batch, seq]` tag ids (-100: not scored); logits
    `[batch, seq, num_tags]`. `labels` are the tag strings, e.g. `B-PER`.
    With `case_markers`, capitalised and all-caps words get a marker piece
    (`data.ner_alignment.align_tags`) in training, evaluation and serving."""

    name = "ner"
    head = "sequence"
    main_metric = "entity_f1"

    def __init__(self, labels=None, case_markers=False):
        super().__init__(labels)
        self.case_markers = bool(case_markers)

    def config(self):
        return {**super().config(), "settings": {"case_markers": self.case_markers}}

    def loss(self, labels, logits):
        """Cross-entropy summed over scored positions, and their count."""
        valid = labels >= 0
        safe = tf.where(valid, labels, 0)
        per_position = tf.nn.sparse_softmax_cross_entropy_with_logits(safe, logits)
        return masked_sum(per_position, valid)

    def sentence_tags(self, predictions, labels, word_ids=None):
        """(gold, predicted) tag-string lists per sentence, one tag per word.

        Args:
            predictions: `[n, seq]` predicted tag ids.
            labels: `[n, seq]` gold tag ids, -100 where not scored.
            word_ids: `[n, seq]` word index per position (-1: none); by default
                the labelled positions, in order.

        Words past `max_seq_length` have no position and are not scored (as in
        Hugging Face's run_ner).
        """
        labels = np.asarray(labels)
        word_ids = word_ids_from_labels(labels) if word_ids is None else np.asarray(word_ids)
        gold, predicted = [], []
        for row_predictions, row_labels, row_words in zip(predictions, labels, word_ids):
            num_words = int(row_words.max()) + 1 if row_words.size else 0
            gold.append([self.labels[i] for i in word_tags(row_labels, row_words, num_words)])
            predicted.append([self.labels[i]
                              for i in word_tags(row_predictions, row_words, num_words)])
        return gold, predicted

    def compute_metrics(self, logits, labels, word_ids=None):
        """Entity precision / recall / F1 (conlleval rules) and word accuracy.

        Args:
            logits: `[n, seq, num_tags]`.
            labels: `[n, seq]` tag ids, -100 where not scored.
            word_ids: optional `[n, seq]` word index per position.
        """
        gold, predicted = self.sentence_tags(np.asarray(logits).argmax(-1), labels, word_ids)
        return sequence_labeling_metrics(gold, predicted)

    def postprocess(self, logits, word_ids, words):
        """Entities of each sentence.

        Args:
            logits: `[n, seq, num_tags]`.
            word_ids: `[n, seq]` word index per position (-1: none).
            words: n lists of the sentences' words.

        Returns:
            Per sentence, a list of `{"type", "start", "end", "text", "score"}`:
            words `start..end-1`, their text joined by spaces, and the mean
            probability of the predicted tags on the entity's first sub-tokens.
            Words past `max_seq_length` are tagged `O`.
        """
        probabilities = softmax(np.asarray(logits, np.float64))
        outlined = []
        for row_probs, row_words, sentence in zip(probabilities, word_ids, words):
            ids = word_tags(row_probs.argmax(-1), row_words, len(sentence), fill=None)
            confidence = word_tags(row_probs.max(-1), row_words, len(sentence), fill=0.0)
            tags = ["O" if i is None else self.labels[i] for i in ids]
            outlined.append([
                {"type": type_, "start": first, "end": last + 1,
                 "text": " ".join(sentence[first:last + 1]),
                 "score": float(np.mean(confidence[first:last + 1]))}
                for type_, first, last in entity_spans(tags)])
        return outlined
