"""Reading a task's data from a file or a TFDS name, by the train flags."""

from kerasbert.data.conll import read_conll
from kerasbert.data.errors import DataError
from kerasbert.data.squad import read_squad
from kerasbert.data.streaming import TextSource
from kerasbert.data.tfds_source import is_tfds_spec


def label_type_of(task):
    """The label type of task `task` (a name; `Task.label_type`): "categorical",
    "multi_label" or "regression"; a task without one reads no text columns."""
    from kerasbert.tasks.registry import task_attribute

    label_type = task_attribute(task, "label_type")
    if label_type is None:
        raise ValueError(f"task {task!r} does not read CSV / TSV / JSONL or tfds: data")
    return label_type


def text_source(source, task, text_column, label_column, text_pair_column=None,
                split="train", data_dir=None, encoding="utf-8", labelled=True,
                skip_bad_records=False, header="auto"):
    """The `streaming.TextSource` of `source` (a .csv/.tsv/.jsonl file or
    `tfds:NAME[/CONFIG]`) for a sentence-level `task` (a name; None with
    `labelled=False`: texts only): read record by record."""
    if task is None and labelled:
        raise ValueError("labelled text needs its task (the label type)")
    label_type = label_type_of(task) if task is not None else "categorical"
    return TextSource(source, text_column, label_column if labelled else None,
                      text_pair_column, label_type=label_type, encoding=encoding,
                      header=header, split=split, data_dir=data_dir,
                      skip_bad_records=skip_bad_records)


def read_text_examples(source, task, text_column, label_column, text_pair_column=None,
                       label_vocabulary=None, split="train", data_dir=None, encoding="utf-8",
                       labelled=True, skip_bad_records=False, header="auto"):
    """TextExamples of `source`, as a list: a .csv/.tsv/.jsonl file or
    `tfds:NAME[/CONFIG]`. `header` ("auto", "yes", "no") applies to CSV / TSV
    files (see `read_delimited`). A source without examples is a DataError
    ("no examples"). Training streams instead (`text_source`)."""
    examples = text_source(source, task, text_column, label_column, text_pair_column,
                           split=split, data_dir=data_dir, encoding=encoding, labelled=labelled,
                           skip_bad_records=skip_bad_records,
                           header=header).examples(label_vocabulary)
    return _some(list(examples), source)


def _some(examples, source):
    """`examples`, or a DataError naming `source` when there are none (every
    record skipped as bad)."""
    if not examples:
        raise DataError(source, "no examples")
    return examples


def _local_file(source, form):
    if is_tfds_spec(source):
        raise ValueError(f"this task reads {form} files, not TFDS ({source})")
    return str(source)


def read_tagged_sentences(source, tag_vocabulary=None, encoding="utf-8",
                          skip_bad_records=False):
    """TaggedSentences of a CoNLL file (token first, tag last on each line);
    with `tag_vocabulary`, a tag it lacks is a DataError naming the line."""
    return _some(read_conll(_local_file(source, "CoNLL"), encoding=encoding,
                            tag_vocabulary=tag_vocabulary, skip_bad_records=skip_bad_records),
                 source)


def read_squad_examples(source, version_2_with_negative=False, encoding="utf-8",
                        skip_bad_records=False):
    """SquadExamples of a SQuAD JSON file. Without `version_2_with_negative`,
    unanswerable questions (SQuAD v2.0) are an error naming the first one."""
    path = _local_file(source, "SQuAD JSON")
    examples = _some(read_squad(path, encoding=encoding, skip_bad_records=skip_bad_records),
                     path)
    impossible = [e for e in examples if e.is_impossible]
    if impossible and not version_2_with_negative:
        raise DataError(path, f"{len(impossible)} questions have no answer (is_impossible, "
                        f"SQuAD v2.0); train with version_2_with_negative "
                        f"(--version_2_with_negative)", record=impossible[0].qas_id,
                        field="is_impossible")
    return examples
