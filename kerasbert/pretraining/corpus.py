"""Turning raw text into the pretraining corpus format that
`kerasbert.data.text_corpus.read_text_corpus` reads: one sentence per line,
documents separated by blank lines."""

import re

import tensorflow as tf

# A sentence ends at . ! or ? (and any closing quotes or brackets) followed by
# white space and an upper-case letter, a digit or an opening quote.
_BOUNDARY = re.compile(r"(?<=[.!?])([\"'\u201d\u2019)\]]*)\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
# Words whose final period does not end a sentence.
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "no", "co", "inc",
                  "ltd", "gen", "col", "lt", "sgt", "rev", "mt", "ft", "fig", "approx", "ca", "c",
                  "e.g", "i.e", "etc", "u.s", "u.k", "jan", "feb", "mar", "apr", "jun", "jul",
                  "aug", "sep", "sept", "oct", "nov", "dec"}


def split_sentences(text):
    """Sentences of a paragraph (a rule-based splitter: good enough for
    next-sentence prediction, which only needs segment boundaries)."""
    text = " ".join(text.split())
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        end = match.start() + len(match.group(1))
        last_word = text[start:end].rstrip("\"'\u201d\u2019)]").rstrip(".!?").split(" ")[-1]
        if last_word.lower() in _ABBREVIATIONS or re.fullmatch(r"[A-Z]", last_word):
            continue
        sentences.append(text[start:end])
        start = match.end()
    if text[start:].strip():
        sentences.append(text[start:])
    return sentences


def write_text_corpus(documents, path):
    """Write documents (each a list of sentences, or a paragraph string to be
    split) as a corpus file; returns the number of documents written."""
    count = 0
    with tf.io.gfile.GFile(str(path), "w") as f:
        for document in documents:
            sentences = split_sentences(document) if isinstance(document, str) else [
                " ".join(s.split()) for s in document]
            sentences = [s for s in sentences if s]
            if sentences:
                f.write("\n".join(sentences) + "\n\n")
                count += 1
    return count
