"""What a task is: its head, its loss, its metrics and its predictions."""

import tensorflow as tf


class Task:
    """Base of the task definitions.

    A task says how many logits its head has (`num_outputs`) and where
    (`head`: "pooled" or "sequence"), how to turn logits and labels into a loss
    (`loss`), how to score whole-dev-set predictions (`compute_metrics`) and
    how to present them (`postprocess`). Labels with value `ignore_label`
    (padding examples or positions) carry no loss and no metric.

    What the programs ask of a task before importing it (its label type,
    data reader, serving signature, search space, inputs) is its `TaskSpec`
    (`kerasbert.tasks.specs`), whose fields `registry.register_task` sets as
    class attributes.
    """

    name = None
    head = "pooled"
    main_metric = None
    greater_is_better = True
    ignore_label = -100

    def __init__(self, labels=None):
        self.labels = list(labels) if labels is not None else None

    @property
    def num_outputs(self):
        return len(self.labels)

    def loss(self, labels, logits):
        """(sum of per-example losses, number of counted examples) for one
        replica's batch; the trainer divides by the global count."""
        raise NotImplementedError

    def compute_metrics(self, logits, labels):
        """{metric: value} over the whole dev set (numpy arrays)."""
        raise NotImplementedError

    def postprocess(self, logits):
        """Predictions as plain Python values, one per example."""
        raise NotImplementedError

    def confusion(self, logits, labels):
        """(confusion matrix `[k, k]`, its label names) over a dev set, or
        (None, None) where none applies."""
        return None, None

    def config(self):
        return {"task": self.name, "labels": self.labels}

    def bind(self, model):
        """Read what the task needs of its model's weights (a CRF head's
        transitions); the trainer and the model loaders call it once the model
        is built. Nothing by default."""
        return self


def masked_sum(per_item_loss, mask):
    """(sum of `per_item_loss` where mask, count of mask) as float32 scalars."""
    mask = tf.cast(mask, tf.float32)
    return tf.reduce_sum(tf.cast(per_item_loss, tf.float32) * mask), tf.reduce_sum(mask)
