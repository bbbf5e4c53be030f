"""A task's data for `fine_tune`: read once before any model is loaded (so bad
data fails fast), then turned into the trainer's inputs with the tokenizer.

    data = read_task_data("ner", "train.txt", "valid.txt")
    inputs = data.inputs(tokenizer, batch_size=32, seed=42, batch_mode="bucket")
    trainer.fit(inputs.train_dataset_fn, inputs.num_train // 32, inputs.evaluate_fn)

Each kind of task data has its own module: `text_data` (classification,
regression, multi-label), `tagging_data` (NER) and `squad_data` (QA); a task
names its reader (`Task.data_reader`). A reader also scores a trained model
on a labelled file in its format (`TaskData.evaluate_file`, for
`kerasbert.evaluate`), through the same code as training's dev evaluation.
"""

import dataclasses
from typing import Callable, Optional

import numpy as np


@dataclasses.dataclass
class TaskInputs:
    """What the trainer needs of a task's data.

    Attributes:
        train_dataset_fn: `(epoch, input_context) -> tf.data.Dataset` of
            `(features, labels)` per-replica batches, shuffled by `seed + epoch`.
        num_train: training items per epoch (examples, or windows for QA).
        evaluate_fn: `(model) -> {metric: value}` over the whole dev set, or
            None without dev data.
    """

    train_dataset_fn: Callable
    num_train: int
    evaluate_fn: Optional[Callable] = None


@dataclasses.dataclass
class Columns:
    """Where inputs sit in a CSV / TSV / JSONL file: a header name or a
    0-based index for each (None: not read), and whether a CSV / TSV file's
    first row is a header ("auto", "yes", "no": see `read_delimited`)."""

    text: object = "text"
    text_pair: object = None
    label: object = "label"
    header: object = "auto"


@dataclasses.dataclass
class Evaluation:
    """A model's scores on a labelled file (`TaskData.evaluate_file`).

    Attributes:
        metrics: `{name: value}` as the task's `compute_metrics` gives them.
        num_examples: examples (sentences, questions) scored.
        confusion: `[k, k]` counts (rows true, columns predicted) for
            single-label classification, else None.
        label_names: the names of the confusion matrix's rows.
    """

    metrics: dict
    num_examples: int
    confusion: Optional[np.ndarray] = None
    label_names: Optional[list] = None


class TaskData:
    """Base of the per-task data: `task` (a `kerasbert.tasks.Task` with its
    labels), `vocabulary` (the LabelVocabulary saved with the model, or None),
    `text_pair` (whether inputs are text pairs) and `inputs(tokenizer, ...)`."""

    task = None
    vocabulary = None
    text_pair = False

    def inputs(self, tokenizer, *, batch_size, seed, batch_mode):
        """`TaskInputs` with sequences of `tokenizer.sequence_length` tokens.

        Args:
            tokenizer: a BertTokenizer.
            batch_size: the global batch size.
            seed: shuffling seed (plus the epoch).
            batch_mode: "bucket" or "static" (see `data.pipeline.batch_chunks`).
        """
        raise NotImplementedError

    @classmethod
    def read_for_task(cls, task, train_data, eval_data=None, *, encoding="utf-8",
                      task_settings=None, **sources):
        """The data of task `task` (a name) as `read_task_data` reads it;
        `sources` are the column and file arguments (`text_column`, `header`,
        `labels`, ...), for the readers that read by them. By default the
        files are read by `cls.read(train_data, eval_data, encoding=...,
        task_name=task, **task_settings)` (CoNLL, SQuAD JSON)."""
        return cls.read(train_data, eval_data, encoding=encoding, task_name=task,
                        **(task_settings or {}))

    # -- a trained model on a file (kerasbert.evaluate / predict) -----------------------------
    # `signature` is the model's `tasks.signature.TaskSignature`: its task,
    # tokenizer and raw inputs.

    @classmethod
    def evaluate_file(cls, signature, model, path, columns, batch_size=32, encoding="utf-8",
                      data_dir=None):
        """An `Evaluation` of `model` on a labelled file in this reader's
        format (`columns`: a `Columns`; `data_dir`: where a `tfds:NAME`
        source's local data is), scored as the dev set is in training."""
        raise NotImplementedError(f"{cls.__name__} does not evaluate files")

    @classmethod
    def predict_rows(cls, signature, model, inputs, batch_size=32):
        """Prediction records of raw inputs `{input name: [str]}`: by default
        the signature's own (the SavedModel's tokenization, in Python)."""
        return signature.predict(model, inputs, batch_size)


def read_task_data(task, train_data, eval_data=None, *, text_column="text",
                   text_pair_column=None, label_column="label", data_dir=None, encoding="utf-8",
                   task_settings=None, header="auto", labels=None):
    """The TaskData of `task` from its train (and dev) source.

    Args:
        task: a task name of `kerasbert.tasks.TASK_NAMES`; its `data_reader`
            (a TaskData subclass) reads the data.
        train_data, eval_data: paths (CoNLL files for "ner", SQuAD JSON for
            "qa", CSV / TSV / JSONL or `tfds:NAME` otherwise).
        text_column, text_pair_column, label_column, data_dir: text tasks only.
        encoding: the files' text encoding.
        header: text tasks' CSV / TSV files: "auto", "yes" or "no" (a header row).
        task_settings: keyword arguments of the task (QA: doc stride, v2.0, ...;
            NER: case markers).
        labels: classification / multilabel: the label vocabulary in id order
            (default: inferred from the training labels).

    Text tasks stream their sources (`text_data`); NER and QA data are read
    into memory (CoNLL files and SQuAD JSON are small).
    """
    from kerasbert.tasks.registry import listing, load_declared, task_class, tasks_with

    definition = task_class(task)
    if labels is not None and not definition.accepts_label_list:
        raise ValueError(f"labels apply to the {listing(tasks_with('accepts_label_list'))} "
                         f"tasks, not {task}")
    reader = load_declared(definition.data_reader)
    return reader.read_for_task(task, train_data, eval_data, encoding=encoding,
                                task_settings=task_settings, text_column=text_column,
                                text_pair_column=text_pair_column, label_column=label_column,
                                data_dir=data_dir, header=header, labels=labels)
