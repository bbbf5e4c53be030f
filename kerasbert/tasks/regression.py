"""Regression on a sentence or pair (STS-B style): one float per example;
the task and its Keras model, `BertRegressor`."""

import keras
import numpy as np
import tensorflow as tf

from kerasbert.metrics import regression_metrics
from kerasbert.tasks.keras_task import BertPreprocessor, BertTask
from kerasbert.tasks.registry import register_task
from kerasbert.tasks.signature import TextSignature
from kerasbert.tasks.task import Task, masked_sum


@register_task("regression")
class RegressionTask(Task):
    """Labels float32 `[batch]` (NaN marks padding examples); logits `[batch, 1]`;
    mean squared error."""

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


class RegressionSignature(TextSignature):
    """Outputs `scores` float32 `[batch]`: the predicted values."""

    def serving_outputs(self, logits, extras):
        return {"scores": logits[:, 0]}

    def decode_outputs(self, outputs):
        return [{"score": float(x)} for x in outputs["scores"]]


@keras.saving.register_keras_serializable(package="kerasbert")
class BertRegressor(BertTask):
    """One score per sentence (or pair): logits `[batch, 1]`, mean squared error.

        model = kerasbert.BertRegressor.from_preset("bert_base_en_uncased")
        model.compile()
        model.fit(x=(sentences_a, sentences_b), y=similarity, epochs=3)

    Args: as `BertClassifier`'s, without the classes.
    """

    def __init__(self, encoder, preprocessor=None, labels=None, dropout=None, pooling="cls",
                 **kwargs):
        super().__init__(encoder, 1, "pooled", preprocessor, labels, dropout, pooling, **kwargs)

    task_name = "regression"

    @classmethod
    def from_parts(cls, encoder, tokenizer, num_outputs=1, labels=None, pooling="cls",
                   task_name="regression", **settings):
        return cls(encoder, BertPreprocessor(tokenizer), labels=labels, pooling=pooling)

    def task_spec(self):
        from kerasbert.tasks.registry import get_task

        return get_task(self.task_name, self.labels)

    def default_loss(self):
        return keras.losses.MeanSquaredError()

    def default_metrics(self):
        return [keras.metrics.MeanAbsoluteError(name="mean_absolute_error")]
