"""Reader of JSON Lines files: one JSON object per line."""

import json

from kerasbert.data.errors import BadRecords
from kerasbert.data.errors import DataError
from kerasbert.data.examples import TextExample
from kerasbert.data.files import check_decoded
from kerasbert.data.files import stream_decoded_lines
from kerasbert.data.labels import check_label_type
from kerasbert.data.labels import parse_label


def read_jsonl(path, text_field, label_field=None, text_pair_field=None, *,
               encoding="utf-8", label_type="categorical", label_delimiter=",",
               label_vocabulary=None, skip_bad_records=False):
    """Read a JSON Lines file into a list of `TextExample`.

    Args:
        path: local or `gs://` path.
        text_field, label_field, text_pair_field: keys of each object.
            Labels may be JSON strings, numbers, or (multi-label) lists.
        encoding, label_type, label_delimiter, label_vocabulary,
            skip_bad_records: as for `read_delimited`.

    Returns:
        A list of TextExample, `line` set to each object's line.
    """
    return list(iter_jsonl(path, text_field, label_field, text_pair_field, encoding=encoding,
                           label_type=label_type, label_delimiter=label_delimiter,
                           label_vocabulary=label_vocabulary,
                           skip_bad_records=skip_bad_records))


def iter_jsonl(path, text_field, label_field=None, text_pair_field=None, *,
               encoding="utf-8", label_type="categorical", label_delimiter=",",
               label_vocabulary=None, skip_bad_records=False):
    """`read_jsonl` as a generator: yields each `TextExample` as its line is
    read, one line in memory at a time. Same arguments and errors; an error is
    raised when its line is reached, the summary of skipped records logged at
    the end."""
    path = str(path)
    check_label_type(label_type)
    bad = BadRecords(path, skip=skip_bad_records)
    count = 0
    for line, text in stream_decoded_lines(path, encoding):
        if not text.strip():
            continue
        try:
            example = _example(path, line, text, text_field, text_pair_field, label_field,
                               label_type, label_delimiter, label_vocabulary, encoding)
        except DataError as e:
            bad.report(e)
            continue
        count += 1
        yield example
    bad.log_summary()
    if not count and not bad.total:
        raise DataError(path, "empty file")


def _example(path, line, text, text_field, pair_field, label_field, label_type,
             label_delimiter, vocabulary, encoding):
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, f"invalid JSON: {e.msg} at column {e.colno}", line=line) from None
    if not isinstance(record, dict):
        raise DataError(path, f"invalid JSON: expected an object, got {type(record).__name__}",
                        line=line)

    def get(key):
        if key not in record:
            raise DataError(path, "missing field", line=line, field=key)
        value = record[key]
        for part in value if isinstance(value, list) else [value]:
            if isinstance(part, str):
                check_decoded(part, path, encoding, line=line, field=key)
        return value

    def get_text(key):
        value = get(key)
        if not isinstance(value, str) or not value.strip():
            raise DataError(path, f"empty text: {value!r}", line=line, field=key)
        return value

    pair = get_text(pair_field) if pair_field is not None else None
    label = None
    if label_field is not None:
        label = parse_label(get(label_field), label_type, label_delimiter, path, line,
                            label_field)
        if vocabulary is not None:
            vocabulary.encode(label, path, line, label_field)
    return TextExample(text=get_text(text_field), text_pair=pair, label=label, line=line)
