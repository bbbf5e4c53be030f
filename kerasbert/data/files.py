"""Reading input files through `tf.io.gfile`, so that `gs://` paths work too.

Text is decoded with `surrogateescape`: bytes that are not valid in the
declared encoding survive as lone surrogates, so that the reader can report
them with the field they are in (`check_decoded`) once the line is split.
A leading byte-order mark (as Excel and many Windows tools write) is dropped,
so that every reader takes UTF-8 with or without one.
"""

import codecs
import re

import tensorflow as tf

from kerasbert.data.errors import DataError
from kerasbert.data.errors import MissingFileError

_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_BOM = "\ufeff"


def read_bytes(path):
    """The contents of `path` as bytes.

    Raises:
        MissingFileError: the file does not exist.
        DataError: the file is empty (or holds only whitespace).
    """
    path = str(path)
    if not tf.io.gfile.exists(path):
        raise MissingFileError(path)
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    if not data.strip():
        raise DataError(path, "empty file")
    return data


def decoded_text(path, encoding="utf-8"):
    """The whole of `path` decoded (undecodable bytes escaped, a byte-order mark
    dropped: see module doc)."""
    return without_bom(read_bytes(path).decode(encoding, errors="surrogateescape"))


def without_bom(text):
    """`text` without a leading byte-order mark (U+FEFF)."""
    return text[1:] if text.startswith(_BOM) else text


def decoded_lines(path, encoding="utf-8"):
    """Yields `(line_number, text)` for each line of `path`, without its line end."""
    for number, text in enumerate(decoded_text(path, encoding).split("\n"), start=1):
        yield number, text.rstrip("\r")


STREAM_CHUNK_BYTES = 1 << 20


def stream_decoded_lines(path, encoding="utf-8", chunk_bytes=STREAM_CHUNK_BYTES):
    """Yields `(line_number, text)` for each line of `path` as `decoded_lines`
    does, reading `chunk_bytes` at a time: memory stays flat in the file size.

    The file is decoded incrementally (so multi-byte encodings split across
    chunks decode as a whole), split on "\\n" with a trailing "\\r" dropped,
    and a leading byte-order mark dropped.

    Raises:
        MissingFileError: the file does not exist (at the first `next`).
        DataError: the file is empty or holds only whitespace (once it has
            been read to its end; only blank lines are yielded before).
    """
    path = str(path)
    if not tf.io.gfile.exists(path):
        raise MissingFileError(path)
    decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
    number, pending, first, seen_text = 0, "", True, False
    with tf.io.gfile.GFile(path, "rb") as f:
        while True:
            chunk = f.read(chunk_bytes)
            final = not chunk
            seen_text = seen_text or bool(chunk.strip())
            text = pending + decoder.decode(chunk, final=final)
            if first and text:
                text, first = without_bom(text), False
            pieces = text.split("\n")
            pending = pieces.pop() if not final else None
            if final and not seen_text:
                raise DataError(path, "empty file")
            for piece in pieces:
                number += 1
                yield number, piece.rstrip("\r")
            if final:
                return


def check_decoded(text, path, encoding="utf-8", line=None, record=None, field=None):
    """Returns `text`, or raises DataError when it holds bytes that did not decode."""
    match = _ESCAPED_BYTE.search(text)
    if match:
        raw = text.encode(encoding, errors="surrogateescape")
        raise DataError(path, f"bytes that are not valid {encoding}: "
                        f"{raw[max(0, match.start() - 10):match.start() + 10]!r} "
                        f"(if the file is in another encoding, give it with --encoding, "
                        f"e.g. --encoding=latin-1)",
                        line=line, record=record, field=field)
    return text
