"""The pretraining task: masked-LM (+ next-sentence) loss for the Trainer, and
held-out MLM accuracy and perplexity computed batch by batch (the logits of a
whole dev set, `[examples, predictions, vocab]`, would not fit in memory)."""

import math

import numpy as np
import tensorflow as tf

from kerasbert.tasks.task import Task


class PretrainingTask(Task):
    """Loss over `BertPretrainingModel` outputs and the batches of
    `pretraining_dataset`.

    The Trainer divides the summed loss by the global count of masked tokens.
    The next-sentence loss is added per example weighted by
    `next_sentence_weight` (the expected masked tokens per sequence), so the
    total is about mean MLM loss + mean NSP loss, as in the reference, while
    staying a plain sum / count that does not depend on the replica split.
    """

    name = "pretraining"
    head = None
    main_metric = "mlm_loss"
    greater_is_better = False

    def __init__(self, next_sentence=True, next_sentence_weight=1.0):
        super().__init__(labels=None)
        self.next_sentence = bool(next_sentence)
        self.next_sentence_weight = float(next_sentence_weight)

    @property
    def num_outputs(self):
        return None

    def loss(self, labels, outputs):
        stats = batch_statistics(labels, outputs)
        total = stats["mlm_loss_sum"]
        if self.next_sentence:
            total += self.next_sentence_weight * stats["nsp_loss_sum"]
        return total, stats["masked_tokens"]

    def compute_metrics(self, logits, labels):
        """Metrics of numpy outputs and labels (dicts), e.g. of one batch."""
        stats = batch_statistics(labels, logits)
        return metrics_from_statistics({k: float(v) for k, v in stats.items()})

    def postprocess(self, logits):
        """The most likely token id at each masked position."""
        return np.asarray(logits["mlm_logits"]).argmax(-1).tolist()

    def config(self):
        return {"task": self.name, "next_sentence": self.next_sentence}


def batch_statistics(labels, outputs):
    """Sums over one batch (float32 scalars): `mlm_loss_sum`, `mlm_correct`,
    `masked_tokens` and, when the outputs have `nsp_logits`, `nsp_loss_sum`,
    `nsp_correct`, `sequences`."""
    weights = tf.cast(labels["masked_weights"], tf.float32)
    logits = tf.cast(outputs["mlm_logits"], tf.float32)
    ids = tf.cast(labels["masked_ids"], tf.int32)
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(ids, logits)
    correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), ids), tf.float32)
    stats = {"mlm_loss_sum": tf.reduce_sum(per_token * weights),
             "mlm_correct": tf.reduce_sum(correct * weights),
             "masked_tokens": tf.reduce_sum(weights)}
    if "nsp_logits" in outputs and "next_sentence_labels" in labels:
        nsp_logits = tf.cast(outputs["nsp_logits"], tf.float32)
        nsp_labels = tf.cast(labels["next_sentence_labels"], tf.int32)
        stats["nsp_loss_sum"] = tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(nsp_labels, nsp_logits))
        stats["nsp_correct"] = tf.reduce_sum(tf.cast(tf.equal(
            tf.argmax(nsp_logits, -1, output_type=tf.int32), nsp_labels), tf.float32))
        stats["sequences"] = tf.cast(tf.size(nsp_labels), tf.float32)
    return stats


def metrics_from_statistics(stats):
    """{mlm_loss, mlm_accuracy, perplexity, masked_tokens[, nsp_loss, nsp_accuracy]}
    from summed statistics (plain floats)."""
    tokens = max(stats["masked_tokens"], 1.0)
    mlm_loss = stats["mlm_loss_sum"] / tokens
    metrics = {"mlm_loss": mlm_loss, "mlm_accuracy": stats["mlm_correct"] / tokens,
               "perplexity": math.exp(min(mlm_loss, 700.0)),
               "masked_tokens": int(stats["masked_tokens"])}
    if "sequences" in stats:
        sequences = max(stats["sequences"], 1.0)
        metrics["nsp_loss"] = stats["nsp_loss_sum"] / sequences
        metrics["nsp_accuracy"] = stats["nsp_correct"] / sequences
    return metrics


def evaluate(model, dataset):
    """Held-out metrics of `model` (a `BertPretrainingModel`) over `dataset`
    (`(features, labels)` batches), accumulated batch by batch."""
    return Evaluator(dataset)(model)


class Evaluator:
    """`evaluate` on a fixed dataset, traced once per model (the Trainer calls
    it at every evaluation, with the same model)."""

    def __init__(self, dataset):
        self.dataset = dataset
        self._model, self._step = None, None

    def __call__(self, model):
        if model is not self._model:
            self._model = model
            self._step = tf.function(lambda f, l: batch_statistics(l, model(f, training=False)),
                                     reduce_retracing=True)
        totals = {}
        for features, labels in self.dataset:
            for name, value in self._step(features, labels).items():
                totals[name] = totals.get(name, 0.0) + float(value)
        if not totals:
            raise ValueError("the held-out set has no batch: give more held-out text")
        return metrics_from_statistics(totals)
