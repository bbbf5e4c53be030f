"""Data of the text tasks (classification, regression, multi-label) for `fine_tune`.

The train and dev sources stream (`data.streaming.TextSource`): a first pass
checks every record, counts them and collects the training labels (unless
they are given), and the input pipelines read the files again on each epoch,
so memory stays flat in the data size.
"""

import numpy as np
import tensorflow as tf

from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.pipeline import classification_dataset, encode_labels
from kerasbert.tasks import get_task
from kerasbert.training.inputs import label_type_of, text_source
from kerasbert.training.predictions import predict_logits
from kerasbert.training.task_data import Evaluation, TaskData, TaskInputs


class TextData(TaskData):
    """A train and an optional dev `TextSource` with their first-pass
    summaries, and the label vocabulary: given, or inferred from train (none
    for regression)."""

    def __init__(self, task_name, train, dev, vocabulary, text_pair, train_summary=None,
                 dev_summary=None):
        self.task_name, self.train, self.dev = task_name, train, dev
        self.vocabulary, self.text_pair = vocabulary, text_pair
        self.train_summary = train_summary or train.scan(vocabulary)
        self.dev_summary = dev_summary or (dev.scan(vocabulary) if dev else None)
        self.task = get_task(task_name, vocabulary.labels if vocabulary else None)

    @classmethod
    def read_for_task(cls, task, train_data, eval_data=None, *, encoding="utf-8",
                      task_settings=None, **sources):
        if task_settings:
            raise ValueError(f"task {task!r} has no settings, got {sorted(task_settings)}")
        return cls.read(task, train_data, eval_data, encoding=encoding, **sources)

    @classmethod
    def read(cls, task, train_data, eval_data=None, *, text_column="text", text_pair_column=None,
             label_column="label", data_dir=None, encoding="utf-8", header="auto", labels=None):
        """Scan `train_data` (and `eval_data`): every record checked, in constant memory.

        Args:
            labels: the label vocabulary in id order (classification,
                multilabel); a label outside it is a DataError naming the
                file, line and field. Default: the labels of `train_data`,
                integer-like ones by value, the rest by text.
        """
        label_type = label_type_of(task)
        multi = label_type == "multi_label"
        if labels is not None:
            if label_type == "regression":
                from kerasbert.tasks.registry import listing, tasks_with

                raise ValueError(f"labels apply to the {listing(tasks_with('accepts_label_list'))}"
                                 f" tasks, not {task}")
            vocabulary = LabelVocabulary(labels, multi, unknown=LabelVocabulary.NOT_GIVEN)
        else:
            vocabulary = None

        def source(path, split):
            return text_source(path, task, text_column, label_column, text_pair_column,
                               split=split, data_dir=data_dir, encoding=encoding, header=header)

        train = source(train_data, "train")
        train_summary = train.scan(vocabulary)
        if vocabulary is None and label_type != "regression":
            vocabulary = LabelVocabulary.from_label_set(train_summary.labels, multi)
        dev = source(eval_data, "validation") if eval_data else None
        dev_summary = dev.scan(vocabulary) if dev else None
        return cls(task, train, dev, vocabulary, text_pair_column is not None, train_summary,
                   dev_summary)

    def inputs(self, tokenizer, *, batch_size, seed, batch_mode):
        label_type = self.task.label_type

        def train_dataset_fn(epoch, input_context):
            return classification_dataset(
                self.train, tokenizer, batch_size=batch_size, label_vocabulary=self.vocabulary,
                label_type=label_type, mode=batch_mode, shuffle=True, seed=seed + epoch,
                input_context=input_context, summary=self.train_summary)

        evaluate_fn = None
        if self.dev:
            eval_dataset = classification_dataset(
                self.dev, tokenizer, batch_size=batch_size, label_vocabulary=self.vocabulary,
                label_type=label_type, mode="bucket", summary=self.dev_summary)

            def evaluate_fn(model):
                return self.task.compute_metrics(*predict_logits(model, eval_dataset))

        return TaskInputs(train_dataset_fn, self.train_summary.num_examples, evaluate_fn)

    # -- a trained model on a file -------------------------------------------------------------

    @classmethod
    def evaluate_file(cls, signature, model, path, columns, batch_size=32, encoding="utf-8",
                      data_dir=None):
        """Metrics over a labelled CSV / TSV / JSONL file (or `tfds:NAME`); a
        label the model was not trained on is a DataError naming its line."""
        task = signature.task
        source, summary = labelled_source(signature, path, columns, encoding, data_dir)
        dataset = classification_dataset(
            source, signature.tokenizer, batch_size=batch_size,
            label_vocabulary=label_vocabulary(task), label_type=task.label_type, mode="bucket",
            summary=summary)
        logits, labels = predict_logits(model, dataset)
        return Evaluation(task.compute_metrics(logits, labels), summary.num_examples,
                          *task.confusion(logits, labels))

    # Texts longer than the model's sequence (`Task.stride_windows`): each is
    # cut into windows of the model's sequence length, `stride` wordpieces
    # apart, its class probabilities the mean over its windows.

    @classmethod
    def predict_windows(cls, signature, model, inputs, stride, batch_size=32):
        """Prediction records of long texts `{input name: [str]}`."""
        from kerasbert.tasks.signature import check_inputs

        check_inputs(inputs, signature.input_names)
        texts = inputs[signature.input_names[0]]
        return signature.postprocess(window_logits(signature, model, texts, stride, batch_size),
                                     {})

    @classmethod
    def evaluate_windows(cls, signature, model, path, columns, stride, batch_size=32,
                         encoding="utf-8", data_dir=None):
        """`evaluate_file` with each text's prediction taken over its windows."""
        task = signature.task
        source, _ = labelled_source(signature, path, columns, encoding, data_dir)
        examples = list(source.examples(label_vocabulary(task)))  # windows are made in memory
        logits = window_logits(signature, model, [e.text for e in examples], stride, batch_size)
        labels = encode_labels(examples, label_vocabulary(task))
        return Evaluation(task.compute_metrics(logits, labels), len(examples),
                          *task.confusion(logits, labels))


def label_vocabulary(task):
    """The LabelVocabulary of a trained task's labels (None for regression)."""
    if task.labels is None:
        return None
    return LabelVocabulary(task.labels, multi_label=task.label_type == "multi_label")


def labelled_source(signature, path, columns, encoding="utf-8", data_dir=None):
    """(`streaming.TextSource`, its scan) of a labelled file (or `tfds:NAME`),
    checked against the model in one streaming pass: pairs for a pair model,
    labels it was trained on (a DataError names the first line that is not),
    at least one example. Read as training reads its dev source."""
    pair = len(signature.input_names) > 1
    if pair != (columns.text_pair is not None):
        raise ValueError("this model reads text pairs: give --text_pair_column" if pair else
                         "this model reads single texts: drop --text_pair_column")
    task = signature.task
    source = text_source(path, task.name, columns.text, columns.label, columns.text_pair,
                         split="validation", data_dir=data_dir, encoding=encoding,
                         header=columns.header)
    return source, source.scan(label_vocabulary(task))


def window_logits(signature, model, texts, stride, batch_size=32):
    """`[len(texts), num_labels]` logits whose softmax is the mean of each
    text's window probabilities (see `TextData.predict_windows`)."""
    from kerasbert.data.long_text import aggregate_windows, window_features
    from kerasbert.tasks.classification import softmax

    if len(signature.input_names) > 1:
        raise ValueError("windows over long texts (--stride) need a single-text model")
    windows = window_features(texts, signature.tokenizer, stride=stride)
    features = {name: windows[name] for name in ("token_ids", "segment_ids", "padding_mask")}
    dataset = tf.data.Dataset.from_tensor_slices(
        (features, windows["document_index"])).batch(batch_size)
    logits, document_index = predict_logits(model, dataset)
    mean = aggregate_windows(softmax(logits), document_index, len(texts))
    return np.log(np.maximum(mean, np.finfo(np.float32).tiny))
