"""Word-level tags <-> WordPiece sub-tokens, for token classification (NER).

Each word is tokenized on its own; its first sub-token carries the word's tag
id and its other sub-tokens get `IGNORE_INDEX` (-100), as do [CLS], [SEP] and
padding. `word_ids` records, for every position, the index of its word in the
sentence (-1 for special tokens and padding): it turns sub-token predictions
back into one tag per word.
"""

import numpy as np
import tensorflow as tf

from kerasbert.data.pipeline import FEATURES
from kerasbert.data.pipeline import IGNORE_INDEX
from kerasbert.data.pipeline import LABELS
from kerasbert.data.pipeline import batch_chunks
from kerasbert.data.pipeline import chunk_size
from kerasbert.data.pipeline import cut_at_padding
from kerasbert.data.pipeline import distribute

WORD_IDS = "word_ids"
# Pieces that mark a capitalised word and an all-caps word for `case_markers`:
# tokens of the standard BERT vocabularies that pretraining never used.
CASE_MARKERS = ("[unused0]", "[unused1]")


def align_tags(tokenizer, words, tag_ids, sequence_length, case_markers=False):
    """Tokenize a batch of pre-split sentences and align their tags.

    Args:
        tokenizer: a BertTokenizer (`tokenize`, `cls_token_id`, ...).
        words: string RaggedTensor `[batch, (words)]`.
        tag_ids: int RaggedTensor `[batch, (words)]`.
        sequence_length: the padded length; a sentence longer than it in
            sub-tokens is cut, and its last words get no position.
        case_markers: put a `CASE_MARKERS` piece before each capitalised
            ("Paris") or all-caps ("EU") word, so that an uncased encoder still
            sees the case, the strongest cue for names. A marker has no tag
            and no word id: the word's tag stays on its first real sub-token.

    Returns:
        Dict of int32 `[batch, sequence_length]` tensors: `token_ids`,
        `segment_ids`, `padding_mask`, `labels`, `word_ids`.
    """
    pieces = _nonempty(tf.cast(tokenizer.tokenize(words.flat_values), tf.int32),
                       tokenizer.unk_token_id)
    markers = tf.zeros_like(pieces.row_lengths())
    if case_markers:
        pieces, markers = _with_case_markers(tokenizer, words.flat_values, pieces)
    piece_word = pieces.value_rowids()
    position_in_word = tf.ragged.range(pieces.row_lengths()).flat_values
    first_piece = position_in_word == tf.gather(markers, piece_word)
    is_marker = position_in_word < tf.gather(markers, piece_word)
    word_in_sentence = tf.cast(tf.ragged.range(words.row_lengths()).flat_values, tf.int32)
    # Sentence boundaries in the flat list of pieces.
    splits = tf.gather(pieces.row_splits, words.row_splits)

    def pack(values, first, last, pad):
        rows = tf.RaggedTensor.from_row_splits(values, splits)[:, :sequence_length - 2]
        ends = tf.fill([rows.nrows(), 1], tf.constant(first, tf.int32))
        rows = tf.concat([ends, rows, tf.fill([rows.nrows(), 1], tf.constant(last, tf.int32))],
                         axis=1)
        return rows.to_tensor(default_value=pad, shape=[None, sequence_length])

    tags = tf.gather(tf.cast(tag_ids.flat_values, tf.int32), piece_word)
    return {
        "token_ids": pack(pieces.flat_values, tokenizer.cls_token_id, tokenizer.sep_token_id,
                          tokenizer.pad_token_id),
        "segment_ids": pack(tf.zeros_like(pieces.flat_values), 0, 0, 0),
        "padding_mask": pack(tf.ones_like(pieces.flat_values), 1, 1, 0),
        LABELS: pack(tf.where(first_piece, tags, IGNORE_INDEX), IGNORE_INDEX, IGNORE_INDEX,
                     IGNORE_INDEX),
        WORD_IDS: pack(tf.where(is_marker, -1, tf.gather(word_in_sentence, piece_word)),
                       -1, -1, -1),
    }


def _with_case_markers(tokenizer, words, pieces):
    """(pieces with a marker piece first in each capitalised or all-caps word,
    markers per word: 1 or 0) for flat `words` and their RaggedTensor `pieces`."""
    missing = [t for t in CASE_MARKERS if tokenizer.token_to_id(t) == tokenizer.unk_token_id]
    if missing:
        raise ValueError(f"case markers need the tokens {missing} in the vocabulary")
    title_id, upper_id = (tokenizer.token_to_id(t) for t in CASE_MARKERS)
    upper = tf.strings.regex_full_match(words, r"[^\p{Ll}]*\p{Lu}[^\p{Ll}]*\p{Lu}[^\p{Ll}]*")
    marked = upper | tf.strings.regex_full_match(words, r"\p{Lu}.*")
    ids = tf.boolean_mask(tf.where(upper, upper_id, title_id), marked)
    markers = tf.cast(marked, tf.int64)
    marker_pieces = tf.RaggedTensor.from_row_lengths(tf.cast(ids, pieces.dtype), markers)
    return tf.concat([marker_pieces, pieces], axis=1), markers


def _nonempty(pieces, unk_token_id):
    """Gives a word that tokenizes to nothing (e.g. a control character) one
    [UNK] piece, so that every word keeps a position for its tag."""
    empty = pieces.row_lengths() == 0
    unk = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(empty, tf.int64))], tf.cast(unk_token_id, pieces.dtype)),
        tf.cast(empty, tf.int64))
    return tf.concat([pieces, unk], axis=1)


def word_tags(predictions, word_ids, num_words, fill=None):
    """One tag per word from per-position predictions of one sentence.

    Args:
        predictions: `[sequence_length]` predicted ids (or labels) per position.
        word_ids: `[sequence_length]` word index per position (-1: none).
        num_words: words in the sentence.
        fill: the value for words cut off by truncation.

    Returns:
        A list of `num_words` values: the prediction at each word's first sub-token.
    """
    predictions, word_ids = np.asarray(predictions), np.asarray(word_ids)
    tags = [fill] * num_words
    seen = set()
    for prediction, word in zip(predictions, word_ids):
        if word >= 0 and word not in seen:
            seen.add(word)
            tags[word] = prediction.item()
    return tags


def tagging_dataset(sentences, tokenizer, tag_vocabulary, *, batch_size, mode="bucket",
                    shuffle=False, seed=0, num_shards=1, shard_index=0, input_context=None,
                    bucket_boundaries=None, keep_word_ids=False, case_markers=False):
    """The input pipeline of a token classification task.

    Args:
        sentences: TaggedSentences from `read_conll`.
        tokenizer: a BertTokenizer; its `sequence_length` is the max length.
        tag_vocabulary: LabelVocabulary of the tags.
        keep_word_ids: also yield `word_ids` among the features (for turning
            predictions back into word tags).
        case_markers: see `align_tags`.
        Others: as for `pipeline.classification_dataset`.

    Returns:
        A dataset of `(features, labels)`; labels are int32 `[batch, length]`
        tag ids with -100 where no tag is scored.
    """
    words = tf.ragged.constant([list(s.words) for s in sentences], dtype=tf.string)
    tags = tf.ragged.constant(
        [[tag_vocabulary.encode(t, line=s.line, field="tag") for t in s.tags] for s in sentences],
        dtype=tf.int32)
    dataset = distribute(tf.data.Dataset.from_tensor_slices({"words": words, "tags": tags}),
                         shuffle=shuffle, seed=seed, num_examples=len(sentences),
                         num_shards=num_shards, shard_index=shard_index,
                         input_context=input_context)
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    names = FEATURES + (LABELS,) + ((WORD_IDS,) if keep_word_ids else ())

    def align(batch):
        return cut_at_padding(align_tags(tokenizer, batch["words"], batch["tags"],
                                         tokenizer.sequence_length, case_markers), names)

    chunks = dataset.batch(chunk_size(batch_size)).map(align,
                                                       num_parallel_calls=tf.data.AUTOTUNE)
    dataset = batch_chunks(chunks, batch_size=batch_size, mode=mode,
                           sequence_length=tokenizer.sequence_length,
                           pad_token_id=tokenizer.pad_token_id,
                           bucket_boundaries=bucket_boundaries,
                           shuffle_seed=seed if shuffle else None)
    return dataset.prefetch(tf.data.AUTOTUNE)
