"""Reader of delimited text files: CSV with standard quoting, and TSV read
without quote processing (GLUE's files hold sentences with a lone `"`)."""

import csv
import itertools

from kerasbert.data.errors import BadRecords
from kerasbert.data.errors import DataError
from kerasbert.data.examples import TextExample
from kerasbert.data.files import check_decoded
from kerasbert.data.files import stream_decoded_lines
from kerasbert.data.labels import check_label_type
from kerasbert.data.labels import parse_label

_HEADER_SAMPLE_ROWS = 50


def read_delimited(path, text_column, label_column=None, text_pair_column=None, *,
                   delimiter=None, quoting=None, header="infer", encoding="utf-8",
                   label_type="categorical", label_delimiter=",", label_vocabulary=None,
                   skip_bad_records=False):
    """Read a CSV or TSV file into a list of `TextExample`.

    Args:
        path: local or `gs://` path.
        text_column, label_column, text_pair_column: a column name from the
            header, or a 0-based column index. `label_column=None` reads
            unlabelled text (for prediction).
        delimiter: field separator; default "\\t" for `.tsv` files, else ",".
        quoting: True for standard CSV quoting; False splits lines on the
            delimiter as they are. Default: True for ",", False for "\\t".
        header: True / False, or "infer": a header is present when any column
            is named; with index-only columns, when the first row is text in a
            column that is numeric in the following rows. Declare it when the
            file has only text columns. "auto", "yes" and "no" (the values of
            the `--header` flag) mean "infer", True and False.
        encoding: the file's text encoding.
        label_type: "categorical", "multi_label" (labels separated by
            `label_delimiter`) or "regression" (float labels).
        label_vocabulary: a LabelVocabulary of the training labels; a label
            outside it is an error (evaluation data).
        skip_bad_records: skip and count bad records (a one-line summary is
            logged) instead of raising DataError on the first.

    Returns:
        A list of TextExample with `line` set to each record's first line.

    Raises:
        DataError: a bad record (unless skipped), a row with more or fewer
            fields than the header (or, without one, the first row), or a
            file with a header and no rows ("no examples").
    """
    return list(iter_delimited(
        path, text_column, label_column, text_pair_column, delimiter=delimiter,
        quoting=quoting, header=header, encoding=encoding, label_type=label_type,
        label_delimiter=label_delimiter, label_vocabulary=label_vocabulary,
        skip_bad_records=skip_bad_records))


def iter_delimited(path, text_column, label_column=None, text_pair_column=None, *,
                   delimiter=None, quoting=None, header="infer", encoding="utf-8",
                   label_type="categorical", label_delimiter=",", label_vocabulary=None,
                   skip_bad_records=False):
    """`read_delimited` as a generator: yields each `TextExample` as its record
    is read, holding one record (and the first `_HEADER_SAMPLE_ROWS` rows, to
    infer the header) at a time. Same arguments and errors; an error is raised
    when its record is reached, and the summary of skipped records is logged
    once the file has been read to its end."""
    path = str(path)
    check_label_type(label_type)
    if delimiter is None:
        delimiter = "\t" if path.endswith(".tsv") else ","
    if quoting is None:
        quoting = delimiter != "\t"
    header = _HEADER_VALUES.get(header, header)
    if header not in (True, False, "infer"):
        raise ValueError(f"header must be one of auto, yes, no (or True, False, 'infer'), "
                         f"got {header!r}")
    bad = BadRecords(path, skip=skip_bad_records)
    rows = _rows(path, delimiter, quoting, encoding)
    sample = list(itertools.islice(rows, _HEADER_SAMPLE_ROWS))
    if not sample:
        raise DataError(path, "empty file")
    columns = {"text": text_column, "text_pair": text_pair_column, "label": label_column}
    named = any(isinstance(c, str) for c in columns.values())
    if header == "infer":
        header = named or _looks_like_header([r for _, r in sample])
    if named and not header:
        raise ValueError(f"{path}: columns are given by name but header=False")
    width = len(sample[0][1])
    rows = itertools.chain(sample, rows)
    names = None
    if header:
        line, names = next(rows)
        for index, name in enumerate(names):
            check_decoded(name, path, encoding, line=line, field=f"column {index}")
        if len(sample) == 1:
            raise DataError(path, "no examples: the file holds only a header")
        columns = {k: _column_index(path, names, c) for k, c in columns.items()}
    del sample
    for line, row in rows:
        try:
            _check_width(path, line, row, width, names, quoting)
            example = _example(path, line, row, columns, label_type, label_delimiter,
                               label_vocabulary, names, encoding)
        except DataError as e:
            bad.report(e)
            continue
        yield example
    bad.log_summary()


_HEADER_VALUES = {"auto": "infer", "yes": True, "no": False}


def _check_width(path, line, row, width, names, quoting):
    """A row with another number of fields than the header (or, without one, the
    first row) is an error: an unquoted delimiter in a text would shift the label."""
    if len(row) == width:
        return
    reference = "the header" if names else "the first row"
    if len(row) < width:
        field = names[len(row)].strip() if names else f"column {len(row)}"
        raise DataError(path, f"missing column: the row has {len(row)} fields, "
                        f"{reference} {width}", line=line, field=field)
    hint = " (quote texts that hold the delimiter)" if quoting else ""
    raise DataError(path, f"too many fields: the row has {len(row)} fields, {reference} "
                    f"{width}{hint}", line=line)


def _rows(path, delimiter, quoting, encoding):
    """Yields (first line number, fields) for each non-blank record, reading
    the file as a stream."""
    numbered = stream_decoded_lines(path, encoding)
    if not quoting:
        for line, text in numbered:
            if text.strip():
                yield line, text.split(delimiter)
        return
    reader = csv.reader((text + "\n" for _, text in numbered), delimiter=delimiter)
    while True:
        # A record starts on the line after those the reader has consumed.
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataError(path, f"malformed CSV: {e}", line=line) from None
        if row:
            yield line, row


def _looks_like_header(rows):
    first, rest = rows[0], rows[1:]
    if not rest:
        return False
    for i, value in enumerate(first):
        values = [r[i] for r in rest if i < len(r)]
        if values and not _is_number(value) and all(_is_number(v) for v in values):
            return True
    return False


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _column_index(path, names, column):
    if column is None or isinstance(column, int):
        return column
    stripped = [n.strip() for n in names]
    if column not in stripped:
        raise DataError(path, f"missing column: no column {column!r} in the header "
                        f"{stripped}", line=1, field=column)
    return stripped.index(column)


def _example(path, line, row, columns, label_type, label_delimiter, vocabulary, names,
             encoding):
    def field(key):
        index = columns[key]
        name = names[index].strip() if names and index < len(names) else f"column {index}"
        if index >= len(row):
            raise DataError(path, f"missing column: the row has {len(row)} fields",
                            line=line, field=name)
        return check_decoded(row[index], path, encoding, line=line, field=name), name

    text, name = field("text")
    if not text.strip():
        raise DataError(path, "empty text", line=line, field=name)
    pair = None
    if columns["text_pair"] is not None:
        pair, pair_name = field("text_pair")
        if not pair.strip():
            raise DataError(path, "empty text", line=line, field=pair_name)
    label = None
    if columns["label"] is not None:
        raw, label_name = field("label")
        label = parse_label(raw, label_type, label_delimiter, path, line, label_name)
        if vocabulary is not None:
            vocabulary.encode(label, path, line, label_name)
    return TextExample(text=text, text_pair=pair, label=label, line=line)
