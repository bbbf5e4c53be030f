"""Reading a task's data from a file or a TFDS name, by the train flags."""

from kerasbert.data.conll import read_conll
from kerasbert.data.errors import DataError
from kerasbert.data.squad import read_squad
from kerasbert.data.streaming import TextSource
from kerasbert.data.tfds_source import is_tfds_spec

LABEL_TYPES = {"classification": "categorical", "regression": "regression",
               "multilabel": "multi_label"}


def text_source(source, task, text_column, label_column, text_pair_column=None,
                split="train", data_dir=None, encoding="utf-8", labelled=True,
                skip_bad_records=False, header="auto"):
    """The `streaming.TextSource` of `source` (a .csv/.tsv/.jsonl file or
    `tfds:NAME[/CONFIG]`) for a sentence-level `task`: read record by record."""
    return TextSource(source, text_column, label_column if labelled else None,
                      text_pair_column, label_type=LABEL_TYPES[task], encoding=encoding,
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


def _local_file(source, task, form):
    if is_tfds_spec(source):
        raise ValueError(f"task {task!r} reads {form} files, not TFDS ({source})")
    return str(source)


def read_tagged_sentences(source, tag_vocabulary=None, encoding="utf-8",
                          skip_bad_records=False):
    """TaggedSentences of a CoNLL file (token first, tag last on each line);
    with `tag_vocabulary`, a tag it lacks is a DataError naming the line."""
    return _some(read_conll(_local_file(source, "ner", "CoNLL"), encoding=encoding,
                            tag_vocabulary=tag_vocabulary, skip_bad_records=skip_bad_records),
                 source)


def read_squad_examples(source, version_2_with_negative=False, encoding="utf-8",
                        skip_bad_records=False):
    """SquadExamples of a SQuAD JSON file. Without `version_2_with_negative`,
    unanswerable questions (SQuAD v2.0) are an error naming the first one."""
    path = _local_file(source, "qa", "SQuAD JSON")
    examples = _some(read_squad(path, encoding=encoding, skip_bad_records=skip_bad_records),
                     path)
    impossible = [e for e in examples if e.is_impossible]
    if impossible and not version_2_with_negative:
        raise DataError(path, f"{len(impossible)} questions have no answer (is_impossible, "
                        f"SQuAD v2.0); train with version_2_with_negative "
                        f"(--version_2_with_negative)", record=impossible[0].qas_id,
                        field="is_impossible")
    return examples
