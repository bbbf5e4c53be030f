"""Regression on a sentence or pair (STS-B style): one float per example."""

import numpy as np
import tensorflow as tf

from kerasbert.metrics import regression_metrics
from kerasbert.tasks.task import Task, masked_sum


class RegressionTask(Task):
    """Labels float32 `[batch]` (NaN marks padding examples); logits `[batch, 1]`;
    mean squared error."""

    name = "regression"
    main_metric = "pearson"

    @property
    def num_outputs(self):
        return 1

    def loss(self, labels, logits):
        valid = tf.math.is_finite(labels)
        error = tf.square(tf.where(valid, labels, 0.0) - logits[:, 0])
        return masked_sum(error, valid)

    def compute_metrics(self, logits, labels):
        keep = np.isfinite(labels)
        return regression_metrics(labels[keep], logits[keep, 0])

    def postprocess(self, logits):
        return [{"score": float(x)} for x in logits[:, 0]]
