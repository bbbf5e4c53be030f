"""Text tasks (classification, regression, multi-label) on raw strings: one
text, or a text pair, per example."""

import numpy as np
import tensorflow as tf

from kerasbert.serving.task_io import Evaluation, TaskIO


class TextTaskIO(TaskIO):
    """Inputs `text` (and `text_pair` for pair models): 1-D string tensors."""

    def model_inputs(self, inputs):
        return self.tokenizer(inputs["text"], inputs.get("text_pair")), {}

    def label_vocabulary(self):
        """The LabelVocabulary of the model's labels (None for regression)."""
        from kerasbert.data.label_vocabulary import LabelVocabulary

        if self.task.labels is None:
            return None
        return LabelVocabulary(self.task.labels, multi_label=self.task.name == "multilabel")

    def evaluate(self, model, path, columns, batch_size=32, encoding="utf-8", data_dir=None):
        """Metrics over a labelled CSV / TSV / JSONL file (or `tfds:NAME`); a
        label the model was not trained on is a DataError naming its line."""
        from kerasbert.data.errors import DataError
        from kerasbert.data.pipeline import classification_dataset
        from kerasbert.training.inputs import LABEL_TYPES, read_text_examples
        from kerasbert.training.predictions import predict_logits

        pair = len(self.input_names) > 1
        if pair != (columns.text_pair is not None):
            raise ValueError("this model reads text pairs: give --text_pair_column" if pair else
                             "this model reads single texts: drop --text_pair_column")
        vocabulary = self.label_vocabulary()
        examples = read_text_examples(path, self.task.name, columns.text, columns.label,
                                      columns.text_pair, vocabulary, split="validation",
                                      data_dir=data_dir, encoding=encoding)
        if not examples:
            raise DataError(path, "no examples to evaluate")
        dataset = classification_dataset(
            examples, self.tokenizer, batch_size=batch_size, label_vocabulary=vocabulary,
            label_type=LABEL_TYPES[self.task.name], mode="bucket")
        logits, labels = predict_logits(model, dataset)
        return Evaluation(self.task.compute_metrics(logits, labels), len(examples),
                          *self.confusion(logits, labels))

    def confusion(self, logits, labels):
        """(confusion matrix, label names), or (None, None) where none applies."""
        return None, None


class ClassificationIO(TextTaskIO):
    """Outputs `labels` string `[batch]`, `scores` `[batch]` (the label's
    probability) and `probabilities` `[batch, num_labels]` (in the order of
    the `metadata` signature's `label_names`)."""

    def serving_outputs(self, logits, extras):
        probabilities = tf.nn.softmax(logits, axis=-1)
        ids = tf.argmax(probabilities, axis=-1)
        return {"labels": tf.gather(tf.constant(self.task.labels), ids),
                "scores": tf.reduce_max(probabilities, axis=-1),
                "probabilities": probabilities}

    def postprocess(self, logits, extras):
        return self.task.postprocess(logits)

    def decode_outputs(self, outputs):
        return [{"label": label.decode("utf-8"), "score": float(score),
                 "probabilities": dict(zip(self.task.labels, map(float, row)))}
                for label, score, row in zip(outputs["labels"], outputs["scores"],
                                             outputs["probabilities"])]

    def confusion(self, logits, labels):
        from kerasbert.metrics import confusion_matrix

        keep = labels >= 0
        matrix = confusion_matrix(labels[keep], logits[keep].argmax(-1), len(self.task.labels))
        return matrix, list(self.task.labels)


class RegressionIO(TextTaskIO):
    """Outputs `scores` float32 `[batch]`: the predicted values."""

    def serving_outputs(self, logits, extras):
        return {"scores": logits[:, 0]}

    def postprocess(self, logits, extras):
        return self.task.postprocess(logits)

    def decode_outputs(self, outputs):
        return [{"score": float(x)} for x in outputs["scores"]]


class MultiLabelIO(TextTaskIO):
    """Outputs `labels` string `[batch, num_labels]` (the predicted labels
    first, in label order, then ""), `scores` `[batch, num_labels]` (their
    probabilities, 0 after them) and `probabilities` `[batch, num_labels]`."""

    def serving_outputs(self, logits, extras):
        probabilities = tf.sigmoid(logits)
        chosen = probabilities >= self.task.threshold
        order = tf.argsort(tf.cast(~chosen, tf.int32), axis=-1, stable=True)
        names = tf.where(chosen, tf.constant(self.task.labels), "")
        return {"labels": tf.gather(names, order, batch_dims=1),
                "scores": tf.gather(tf.where(chosen, probabilities, 0.0), order, batch_dims=1),
                "probabilities": probabilities}

    def postprocess(self, logits, extras):
        return self.task.postprocess(logits)

    def decode_outputs(self, outputs):
        return [{"labels": [n.decode("utf-8") for n in names if n],
                 "probabilities": dict(zip(self.task.labels, map(float, row)))}
                for names, row in zip(outputs["labels"], np.asarray(outputs["probabilities"]))]
