"""Text tasks (classification, regression, multi-label) on raw strings: one
text, or a text pair, per example."""

import numpy as np
import tensorflow as tf

from kerasbert.serving.task_io import Evaluation, TaskIO, check_inputs


class TextTaskIO(TaskIO):
    """Inputs `text` (and `text_pair` for pair models): 1-D string tensors."""

    def model_inputs(self, inputs):
        return self.tokenizer(inputs["text"], inputs.get("text_pair")), {}

    def label_vocabulary(self):
        """The LabelVocabulary of the model's labels (None for regression)."""
        from kerasbert.data.label_vocabulary import LabelVocabulary

        if self.task.labels is None:
            return None
        return LabelVocabulary(self.task.labels, multi_label=self.task.label_type == "multi_label")

    def evaluate(self, model, path, columns, batch_size=32, encoding="utf-8", data_dir=None):
        """Metrics over a labelled CSV / TSV / JSONL file (or `tfds:NAME`); a
        label the model was not trained on is a DataError naming its line."""
        from kerasbert.data.pipeline import classification_dataset
        from kerasbert.training.predictions import predict_logits

        examples = self.labelled_examples(path, columns, encoding, data_dir)
        dataset = classification_dataset(
            examples, self.tokenizer, batch_size=batch_size,
            label_vocabulary=self.label_vocabulary(), label_type=self.task.label_type,
            mode="bucket")
        logits, labels = predict_logits(model, dataset)
        return Evaluation(self.task.compute_metrics(logits, labels), len(examples),
                          *self.confusion(logits, labels))

    def labelled_examples(self, path, columns, encoding="utf-8", data_dir=None):
        """The TextExamples of a labelled file (or `tfds:NAME`), checked against
        the model: pairs for a pair model, labels it was trained on."""
        from kerasbert.data.errors import DataError
        from kerasbert.training.inputs import read_text_examples

        pair = len(self.input_names) > 1
        if pair != (columns.text_pair is not None):
            raise ValueError("this model reads text pairs: give --text_pair_column" if pair else
                             "this model reads single texts: drop --text_pair_column")
        examples = read_text_examples(path, self.task.name, columns.text, columns.label,
                                      columns.text_pair, self.label_vocabulary(),
                                      split="validation", data_dir=data_dir, encoding=encoding,
                                      header=columns.header)
        if not examples:
            raise DataError(path, "no examples to evaluate")
        return examples

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

    # -- texts longer than the model's sequence ----------------------------------------------

    supports_windows = True

    def window_logits(self, model, texts, stride, batch_size=32):
        """Each text cut into windows of the model's sequence length, `stride`
        wordpieces apart, its class probabilities the mean over its windows.

        Returns:
            `[len(texts), num_labels]` logits whose softmax is that mean.
        """
        from kerasbert.data.long_text import aggregate_windows, window_features
        from kerasbert.tasks.classification import softmax
        from kerasbert.training.predictions import predict_logits

        if len(self.input_names) > 1:
            raise ValueError("windows over long texts (--stride) need a single-text model")
        windows = window_features(texts, self.tokenizer, stride=stride)
        features = {name: windows[name] for name in ("token_ids", "segment_ids", "padding_mask")}
        dataset = tf.data.Dataset.from_tensor_slices(
            (features, windows["document_index"])).batch(batch_size)
        logits, document_index = predict_logits(model, dataset)
        mean = aggregate_windows(softmax(logits), document_index, len(texts))
        return np.log(np.maximum(mean, np.finfo(np.float32).tiny))

    def predict_windows(self, model, inputs, stride, batch_size=32):
        """Prediction records of long texts (see `window_logits`)."""
        check_inputs(inputs, self.input_names)
        texts = inputs[self.input_names[0]]
        return self.postprocess(self.window_logits(model, texts, stride, batch_size), {})

    def evaluate_windows(self, model, path, columns, stride, batch_size=32, encoding="utf-8",
                         data_dir=None):
        """`evaluate` with each text's prediction taken over its windows."""
        from kerasbert.data.pipeline import encode_labels

        examples = self.labelled_examples(path, columns, encoding, data_dir)
        logits = self.window_logits(model, [e.text for e in examples], stride, batch_size)
        labels = encode_labels(examples, self.label_vocabulary())
        return Evaluation(self.task.compute_metrics(logits, labels), len(examples),
                          *self.confusion(logits, labels))

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
