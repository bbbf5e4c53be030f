"""Sentence-level task data that streams: a source is read record by record,
never held as a list of Python records.

A `TextSource` names a CSV / TSV / JSONL file or a `tfds:NAME` split and how
to read it. Its first pass, `scan`, reads every record with the reader's
checks (the same one-line errors: file, line, field), counts the records,
collects the label set (unless a label vocabulary is given, which it then
checks every label against), in constant memory.
`columns` is then a `tf.data.Dataset` of per-example dicts (string `text`,
optional string `pair`, encoded `labels`) that reads the source again on each
iteration: through a Python generator for files (records travel in blocks of
`BLOCK` to `tf.data`), in graph for TFDS splits.

    source = TextSource("train.csv", text_column="sentence", label_column="label")
    summary = source.scan()                      # count, labels, text pair or not
    vocabulary = LabelVocabulary.from_labels(summary.labels)
    dataset = source.columns(vocabulary)         # {"text": [], "labels": []} per example
"""

import dataclasses
import os
from typing import Optional, Union

import numpy as np
import tensorflow as tf

from kerasbert.data.delimited import iter_delimited
from kerasbert.data.errors import DataError
from kerasbert.data.jsonl import iter_jsonl
from kerasbert.data.labels import check_label_type
from kerasbert.data.tfds_source import is_tfds_spec, iter_tfds, tfds_columns

BLOCK = 1024  # records per block handed from the Python reader to tf.data

Column = Union[str, int, None]


@dataclasses.dataclass(frozen=True)
class SourceSummary:
    """What the first pass over a source found.

    Attributes:
        num_examples: records read (bad ones skipped on request not counted).
        labels: the set of label strings seen (categorical / multi-label),
            empty for regression or unlabelled sources, None when a label
            vocabulary was given (every label was checked against it).
        text_pair: whether the records hold a second text.
    """

    num_examples: int
    labels: Optional[frozenset]
    text_pair: bool


@dataclasses.dataclass(frozen=True)
class TextSource:
    """A sentence-level source and how to read it.

    Attributes:
        source: a .csv / .tsv / .jsonl / .json path (local or `gs://`), or
            `tfds:NAME[/CONFIG][:VERSION]`.
        text_column, label_column, text_pair_column: columns (a header name or
            0-based index) or JSON keys or TFDS features; `label_column=None`
            reads unlabelled text.
        label_type: "categorical", "multi_label" or "regression".
        encoding, header: files only (see `delimited.read_delimited`).
        split, data_dir: TFDS only.
        skip_bad_records: skip and count bad records instead of raising.
    """

    source: str
    text_column: Column = "text"
    label_column: Column = "label"
    text_pair_column: Column = None
    label_type: str = "categorical"
    encoding: str = "utf-8"
    header: Union[str, bool] = "auto"
    split: str = "train"
    data_dir: Optional[str] = None
    skip_bad_records: bool = False

    def __post_init__(self):
        check_label_type(self.label_type)
        object.__setattr__(self, "source", str(self.source))

    @property
    def is_tfds(self):
        return is_tfds_spec(self.source)

    def examples(self, label_vocabulary=None):
        """Yields the source's TextExamples, one record in memory at a time;
        with `label_vocabulary`, a label outside it is a DataError naming the
        file, line and field."""
        kwargs = dict(label_type=self.label_type, label_vocabulary=label_vocabulary,
                      skip_bad_records=self.skip_bad_records)
        if self.is_tfds:
            return iter_tfds(self.source, self.split, self.data_dir, self.text_column,
                             self.label_column, self.text_pair_column, **kwargs)
        extension = os.path.splitext(self.source)[1].lower()
        if extension in (".jsonl", ".json"):
            return iter_jsonl(self.source, self.text_column, self.label_column,
                              self.text_pair_column, encoding=self.encoding, **kwargs)
        return iter_delimited(self.source, self.text_column, self.label_column,
                              self.text_pair_column, encoding=self.encoding, header=self.header,
                              **kwargs)

    def scan(self, label_vocabulary=None):
        """The first pass: every record read and checked, in constant memory.

        Args:
            label_vocabulary: when given, every label must be in it (a
                DataError names the first that is not); else the label set
                is collected.

        Returns:
            A SourceSummary.

        Raises:
            DataError: the first bad record (unless skipped), or "no examples"
                when the source has none.
        """
        count, labels, pair = 0, set(), False
        collect = (label_vocabulary is None and self.label_column is not None
                   and self.label_type != "regression")
        multi = self.label_type == "multi_label"
        for e in self.examples(label_vocabulary):
            count += 1
            pair = e.text_pair is not None
            if collect:
                labels.update(e.label if multi else (e.label,))
        if not count:
            raise DataError(self.source, "no examples")
        return SourceSummary(count, frozenset(labels) if label_vocabulary is None else None,
                             pair)

    def columns(self, label_vocabulary=None, *, text_pair=None):
        """The source as a `tf.data.Dataset` of per-example dicts: string
        `text` `[]`, string `pair` `[]` (with a text pair column) and `labels`
        (int32 id `[]`, float32 multi-hot `[num_labels]` or float32 value `[]`;
        absent without a label column). Each iteration reads the source again.

        Args:
            label_vocabulary: maps labels to ids (categorical, multi-label).
            text_pair: whether to emit `pair` (default: a pair column is set).
        """
        if text_pair is None:
            text_pair = self.text_pair_column is not None
        labelled = self.label_column is not None
        if labelled and self.label_type != "regression" and label_vocabulary is None:
            raise ValueError(f"label_type {self.label_type!r} needs a label_vocabulary")
        if self.is_tfds and not self.skip_bad_records:
            dataset = tfds_columns(self.source, self.split, self.data_dir, self.text_column,
                                   self.label_column, self.text_pair_column,
                                   label_type=self.label_type, label_vocabulary=label_vocabulary)
            if dataset is not None:
                return dataset
        signature = {"text": tf.TensorSpec([None], tf.string)}
        if text_pair:
            signature["pair"] = tf.TensorSpec([None], tf.string)
        if labelled:
            signature["labels"] = _label_spec(self.label_type, label_vocabulary)

        def blocks():
            block = []
            for example in self.examples(label_vocabulary):
                block.append(example)
                if len(block) == BLOCK:
                    yield _block_columns(block, text_pair, labelled, label_vocabulary,
                                         self.label_type)
                    block = []
            if block:
                yield _block_columns(block, text_pair, labelled, label_vocabulary,
                                     self.label_type)

        return tf.data.Dataset.from_generator(blocks, output_signature=signature).unbatch()


def _label_spec(label_type, label_vocabulary):
    if label_type == "regression":
        return tf.TensorSpec([None], tf.float32)
    if label_type == "multi_label":
        return tf.TensorSpec([None, len(label_vocabulary)], tf.float32)
    return tf.TensorSpec([None], tf.int32)


def _block_columns(block, text_pair, labelled, label_vocabulary, label_type):
    """A block of `n` TextExamples as arrays: UTF-8 bytes `text` `[n]` (and
    `pair`), `labels` `[n]` or `[n, num_labels]`."""
    columns = {"text": np.array([e.text.encode("utf-8") for e in block], dtype=object)}
    if text_pair:
        columns["pair"] = np.array([e.text_pair.encode("utf-8") for e in block], dtype=object)
    if labelled:
        if label_type == "regression":
            columns["labels"] = np.array([e.label for e in block], np.float32)
        else:
            encoded = [label_vocabulary.encode(e.label, line=e.line) for e in block]
            dtype = np.float32 if label_type == "multi_label" else np.int32
            columns["labels"] = np.array(encoded, dtype).reshape(
                [len(block)] + ([len(label_vocabulary)] if label_type == "multi_label" else []))
    return columns
