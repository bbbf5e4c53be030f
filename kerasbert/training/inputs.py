"""Reading a task's data from a file or a TFDS name, by the train flags."""

import os

from kerasbert.data.delimited import read_delimited
from kerasbert.data.jsonl import read_jsonl
from kerasbert.data.tfds_source import is_tfds_spec, read_tfds

LABEL_TYPES = {"classification": "categorical", "regression": "regression",
               "multilabel": "multi_label"}


def read_text_examples(source, task, text_column, label_column, text_pair_column=None,
                       label_vocabulary=None, split="train", data_dir=None, encoding="utf-8",
                       labelled=True, skip_bad_records=False):
    """TextExamples of `source`: a .csv/.tsv/.jsonl file or `tfds:NAME[/CONFIG]`."""
    kwargs = dict(label_type=LABEL_TYPES[task], label_vocabulary=label_vocabulary,
                  skip_bad_records=skip_bad_records)
    label = label_column if labelled else None
    if is_tfds_spec(source):
        return read_tfds(source, split, data_dir, text_column, label, text_pair_column, **kwargs)
    extension = os.path.splitext(str(source))[1].lower()
    if extension in (".jsonl", ".json"):
        return read_jsonl(source, text_column, label, text_pair_column, encoding=encoding,
                          **kwargs)
    return read_delimited(source, text_column, label, text_pair_column, encoding=encoding,
                          **kwargs)
