"""Single-sentence and sentence-pair classification."""

import numpy as np
import tensorflow as tf

from kerasbert.metrics import classification_metrics
from kerasbert.tasks.task import Task, masked_sum


def softmax(logits):
    """Row-wise softmax of a numpy array, stable."""
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class ClassificationTask(Task):
    """Labels are class indices int32 `[batch]`; logits `[batch, num_classes]`."""

    name = "classification"
    main_metric = "accuracy"

    def loss(self, labels, logits):
        valid = labels >= 0
        safe = tf.where(valid, labels, 0)
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(safe, logits)
        return masked_sum(per_example, valid)

    def compute_metrics(self, logits, labels):
        keep = labels >= 0
        return classification_metrics(labels[keep], logits[keep].argmax(-1), self.labels)

    def postprocess(self, logits):
        probs = softmax(logits)
        return [{"label": self.labels[i], "score": float(p[i]),
                 "probabilities": {name: float(x) for name, x in zip(self.labels, p)}}
                for i, p in zip(probs.argmax(-1), probs)]
