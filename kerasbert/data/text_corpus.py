"""Reader of plain-text pretraining corpora, in the layout of google-research/bert's
`create_pretraining_data.py`: one sentence per line, documents separated by
blank lines."""

from kerasbert.data.errors import BadRecords
from kerasbert.data.errors import DataError
from kerasbert.data.files import check_decoded
from kerasbert.data.files import decoded_lines


def read_text_corpus(path, *, encoding="utf-8", skip_bad_records=False):
    """Read documents as lists of sentences.

    Returns:
        A list of documents; each document is a non-empty list of sentence
        strings (stripped), in file order.
    """
    path = str(path)
    bad = BadRecords(path, skip=skip_bad_records)
    documents, current = [], []
    for line, text in decoded_lines(path, encoding):
        sentence = text.strip()
        try:
            check_decoded(sentence, path, encoding, line=line, field="sentence")
        except DataError as e:
            bad.report(e)
            continue
        if sentence:
            current.append(sentence)
        elif current:
            documents.append(current)
            current = []
    if current:
        documents.append(current)
    bad.log_summary()
    if not documents:
        raise DataError(path, "empty file: no sentences")
    return documents
