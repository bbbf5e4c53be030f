"""The label <-> id mapping of a task, inferred from training data and saved
next to the model so that evaluation and prediction use the same ids."""

import json
import os

import tensorflow as tf

from kerasbert.data.errors import DataError
from kerasbert.outputs import write_json

FILENAME = "label_vocabulary.json"


def _sort_key(label):
    """Integer-like labels sort by value ("2" < "10"), the rest as text after them."""
    try:
        return (0, int(label), "")
    except ValueError:
        return (1, 0, label)


class LabelVocabulary:
    """An ordered list of label strings; a label's id is its position.

    Args:
        labels: the label strings, in id order, without repeats.
        multi_label: labels of an example are a set; `encode` gives a multi-hot
            vector instead of an id.
        unknown: the reason of the DataError for a label outside the
            vocabulary (not saved: a loaded vocabulary says "not seen in training").
    """

    UNSEEN = "label not seen in training"
    NOT_GIVEN = "label not among the given labels"

    def __init__(self, labels, multi_label=False, unknown=UNSEEN):
        labels = [str(label) for label in labels]
        if len(set(labels)) != len(labels) or not labels:
            raise ValueError(f"labels must be non-empty and unique, got {labels}")
        self.labels, self.multi_label, self.unknown = labels, multi_label, unknown
        self._ids = {label: i for i, label in enumerate(labels)}

    @classmethod
    def from_labels(cls, labels, multi_label=False):
        """Infer from the labels of training data (strings, or tuples of strings
        when `multi_label`). Integer-like labels sort numerically, so "0"/"1"
        get ids 0/1."""
        seen = set()
        for label in labels:
            seen.update(label if multi_label else (label,))
        return cls(sorted(seen, key=_sort_key), multi_label=multi_label)

    @classmethod
    def from_label_set(cls, labels, multi_label=False):
        """From the set of label strings a streaming pass collected
        (`streaming.SourceSummary.labels`), in `from_labels`' order."""
        return cls(sorted(labels, key=_sort_key), multi_label=multi_label)

    @classmethod
    def from_examples(cls, examples, multi_label=False):
        """Infer from TextExamples' `.label`, or TaggedSentences' `.tags`."""
        if examples and hasattr(examples[0], "tags"):
            return cls.from_labels((t for s in examples for t in s.tags))
        return cls.from_labels((e.label for e in examples), multi_label=multi_label)

    def __len__(self):
        return len(self.labels)

    def __contains__(self, label):
        return label in self._ids

    def __eq__(self, other):
        return (isinstance(other, LabelVocabulary) and self.labels == other.labels
                and self.multi_label == other.multi_label)

    def __repr__(self):
        return f"LabelVocabulary({self.labels}, multi_label={self.multi_label})"

    def encode(self, label, path="<labels>", line=None, field="label"):
        """The id of `label`, or for multi-label the multi-hot list of 0/1.

        Raises:
            DataError: naming `path`, `line` and `field`, when a label was not
                seen in training.
        """
        if self.multi_label:
            hot = [0] * len(self.labels)
            for one in label:
                hot[self._id(one, path, line, field)] = 1
            return hot
        return self._id(label, path, line, field)

    def _id(self, label, path, line, field):
        if label not in self._ids:
            raise DataError(path, f"{self.unknown}: {label!r} "
                            f"(known labels: {', '.join(self.labels)})", line=line, field=field)
        return self._ids[label]

    def decode(self, label_id):
        """The label string of id `label_id`."""
        return self.labels[int(label_id)]

    def get_config(self):
        return {"labels": self.labels, "multi_label": self.multi_label}

    def save(self, path):
        """Write as JSON to `path`; a directory gets `label_vocabulary.json` inside."""
        path = _file_path(path)
        write_json(path, self.get_config(), indent=1)
        return path

    @classmethod
    def load(cls, path):
        """Read a vocabulary written by `save` (a file, or a directory holding one)."""
        path = _file_path(path)
        if not tf.io.gfile.exists(path):
            raise DataError(path, "no label vocabulary here; train first or pass the labels")
        with tf.io.gfile.GFile(path, "r") as f:
            return cls(**json.load(f))


def _file_path(path):
    path = str(path)
    return os.path.join(path, FILENAME) if tf.io.gfile.isdir(path) else path
