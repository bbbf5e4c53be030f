"""Multi-label classification: any subset of the labels per example."""

import numpy as np
import tensorflow as tf

from kerasbert.metrics import multilabel_metrics
from kerasbert.tasks.registry import register_task
from kerasbert.tasks.signature import TextSignature
from kerasbert.tasks.task import Task, masked_sum


def sigmoid(logits):
    return 1.0 / (1.0 + np.exp(-logits))


@register_task("multilabel")
class MultiLabelTask(Task):
    """Labels float32 multi-hot `[batch, num_labels]` (rows of -1 are padding);
    logits `[batch, num_labels]`; sigmoid cross-entropy averaged over labels."""

    main_metric = "f1_micro"
    threshold = 0.5

    def loss(self, labels, logits):
        valid = tf.reduce_all(labels >= 0, axis=-1)
        per_label = tf.nn.sigmoid_cross_entropy_with_logits(tf.maximum(labels, 0.0), logits)
        return masked_sum(tf.reduce_mean(per_label, axis=-1), valid)

    def compute_metrics(self, logits, labels):
        keep = (labels >= 0).all(-1)
        predicted = (sigmoid(logits[keep]) >= self.threshold).astype(int)
        return multilabel_metrics(labels[keep].astype(int), predicted, self.labels)

    def postprocess(self, logits):
        probs = sigmoid(logits)
        return [{"labels": [n for n, p in zip(self.labels, row) if p >= self.threshold],
                 "probabilities": {n: float(p) for n, p in zip(self.labels, row)}}
                for row in probs]


class MultiLabelSignature(TextSignature):
    """Outputs `labels` string `[batch, num_labels]` (the predicted labels
    first, in label order, then ""), `scores` `[batch, num_labels]` (their
    probabilities, 0 after them) and `probabilities` `[batch, num_labels]`."""

    def serving_outputs(self, logits, extras):
        probabilities = tf.sigmoid(logits)
        chosen = probabilities >= self.task.threshold
        order = tf.argsort(tf.cast(~chosen, tf.int32), axis=-1, stable=True)
        # Label ids ordered, then their names gathered: LiteRT selects and
        # gathers strings only from a constant, without batch dimensions.
        count = len(self.task.labels)
        ids = tf.gather(tf.where(chosen, tf.range(count), count), order, batch_dims=1)
        return {"labels": tf.gather(tf.constant(list(self.task.labels) + [""]), ids),
                "scores": tf.gather(tf.where(chosen, probabilities, 0.0), order, batch_dims=1),
                "probabilities": probabilities}

    def decode_outputs(self, outputs):
        return [{"labels": [n.decode("utf-8") for n in names if n],
                 "probabilities": dict(zip(self.task.labels, map(float, row)))}
                for names, row in zip(outputs["labels"], np.asarray(outputs["probabilities"]))]
