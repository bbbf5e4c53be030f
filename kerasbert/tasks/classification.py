"""Single-sentence and sentence-pair classification: the task and its Keras
model, `BertClassifier` (which also does multi-label classification, the
`multilabel` task)."""

import keras
import numpy as np
import tensorflow as tf

from kerasbert.metrics import classification_metrics
from kerasbert.tasks.keras_task import BertPreprocessor, BertTask
from kerasbert.tasks.registry import register_task
from kerasbert.tasks.signature import TextSignature
from kerasbert.tasks.task import Task, masked_sum


def softmax(logits):
    """Row-wise softmax of a numpy array, stable."""
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@register_task("classification")
class ClassificationTask(Task):
    """Labels are class indices int32 `[batch]`; logits `[batch, num_classes]`."""

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

    def confusion(self, logits, labels):
        from kerasbert.metrics import confusion_matrix

        keep = labels >= 0
        matrix = confusion_matrix(labels[keep], logits[keep].argmax(-1), len(self.labels))
        return matrix, list(self.labels)


class ClassificationSignature(TextSignature):
    """Outputs `labels` string `[batch]`, `scores` `[batch]` (the label's
    probability) and `probabilities` `[batch, num_labels]` (in the order of
    the `metadata` signature's `label_names`)."""

    def serving_outputs(self, logits, extras):
        probabilities = tf.nn.softmax(logits, axis=-1)
        ids = tf.argmax(probabilities, axis=-1)
        return {"labels": tf.gather(tf.constant(self.task.labels), ids),
                "scores": tf.reduce_max(probabilities, axis=-1),
                "probabilities": probabilities}

    def decode_outputs(self, outputs):
        return [{"label": label.decode("utf-8"), "score": float(score),
                 "probabilities": dict(zip(self.task.labels, map(float, row)))}
                for label, score, row in zip(outputs["labels"], outputs["scores"],
                                             outputs["probabilities"])]


@keras.saving.register_keras_serializable(package="kerasbert")
class BertClassifier(BertTask):
    """Sentence (or sentence-pair) classification: `[batch, num_classes]` logits.

        model = kerasbert.BertClassifier.from_preset("bert_base_en_uncased", num_classes=2)
        model.compile()
        model.fit(x=["great film", "dull"], y=[1, 0], batch_size=16, epochs=3)
        model.fit(x=(premises, hypotheses), y=labels)          # sentence pairs

    Args:
        encoder: a `BertEncoder`.
        num_classes: the number of classes (labels, with `multi_label`).
        preprocessor: a `BertPreprocessor` (raw text in), or None (features in).
        multi_label: any subset of the labels per example (y multi-hot
            `[batch, num_classes]`, sigmoid cross-entropy), else one class
            per example (y class indices `[batch]`, softmax cross-entropy).
        labels: the class names (kept with the model, used by the
            command-line programs), optional.
        dropout: dropout before the head (the encoder's by default).
        pooling: "cls" (BERT's pooler) or "mean" (mean of the token vectors).
    """

    def __init__(self, encoder, num_classes, preprocessor=None, multi_label=False, labels=None,
                 dropout=None, pooling="cls", **kwargs):
        super().__init__(encoder, num_classes, "pooled", preprocessor, labels, dropout, pooling,
                         **kwargs)
        self.num_classes, self.multi_label = int(num_classes), bool(multi_label)

    @property
    def task_name(self):
        return "multilabel" if self.multi_label else "classification"

    @classmethod
    def from_parts(cls, encoder, tokenizer, num_outputs, labels=None, pooling="cls",
                   task_name="classification", **settings):
        """The model of a saved model directory's parts (multi-label when the
        task `task_name` reads label lists: its `label_type`)."""
        from kerasbert.tasks.registry import task_attribute

        return cls(encoder, num_outputs, BertPreprocessor(tokenizer),
                   multi_label=task_attribute(task_name, "label_type") == "multi_label",
                   labels=labels, pooling=pooling)

    def task_config(self):
        return {**super().task_config(), "num_classes": self.num_classes,
                "multi_label": self.multi_label}

    def default_loss(self):
        if self.multi_label:
            return keras.losses.BinaryCrossentropy(from_logits=True)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        if self.multi_label:  # a logit above 0 is a probability above 0.5
            return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
