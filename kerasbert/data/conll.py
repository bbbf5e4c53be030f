"""Reader of CoNLL-style token-per-line files (CoNLL-2003 NER and the like)."""

from kerasbert.data.errors import BadRecords
from kerasbert.data.errors import DataError
from kerasbert.data.examples import TaggedSentence
from kerasbert.data.files import check_decoded
from kerasbert.data.files import decoded_lines

DOCSTART = "-DOCSTART-"


def read_conll(path, *, num_fields=None, token_field=0, tag_field=-1, encoding="utf-8",
               tag_vocabulary=None, skip_bad_records=False):
    """Read sentences of (word, tag) pairs.

    Each non-blank line is `token ... tag`, fields separated by whitespace; a
    blank line ends a sentence; `-DOCSTART-` lines mark documents and are not
    sentences.

    Args:
        path: local or `gs://` path.
        num_fields: fields per line; default: those of the first token line.
            A line with another count is a bad record.
        token_field, tag_field: 0-based positions (negative counts from the end).
        tag_vocabulary: a LabelVocabulary of training tags; another tag is an error.
        skip_bad_records: skip bad lines instead of raising DataError; a bad
            line drops its sentence, and the logged summary counts bad lines.

    Returns:
        A list of TaggedSentence, `line` set to the sentence's first line.
    """
    path = str(path)
    bad = BadRecords(path, skip=skip_bad_records)
    sentences, words, tags, start, broken = [], [], [], None, False

    def flush():
        if words and not broken:
            sentences.append(TaggedSentence(tuple(words), tuple(tags), start))
        words.clear()
        tags.clear()

    for line, text in decoded_lines(path, encoding):
        fields = text.split()
        if not fields or fields[0] == DOCSTART:
            flush()
            broken = False
            continue
        if not words:
            start = line
        num_fields = num_fields or len(fields)
        try:
            _check_line(path, line, fields, num_fields, token_field, tag_field, tag_vocabulary,
                        encoding)
        except DataError as e:
            bad.report(e)
            broken = True
            continue
        words.append(fields[token_field])
        tags.append(fields[tag_field])
    flush()
    bad.log_summary()
    if not sentences and not bad.total:
        raise DataError(path, "empty file: no sentences")
    return sentences


def _check_line(path, line, fields, num_fields, token_field, tag_field, vocabulary, encoding):
    if len(fields) != num_fields:
        raise DataError(path, f"wrong number of fields: {len(fields)} instead of {num_fields} "
                        f"(token ... tag)", line=line, field="tag")
    check_decoded(fields[token_field], path, encoding, line=line, field="token")
    check_decoded(fields[tag_field], path, encoding, line=line, field="tag")
    if vocabulary is not None:
        vocabulary.encode(fields[tag_field], path, line, field="tag")
