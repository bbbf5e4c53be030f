"""`tf.data` input pipelines: in-graph tokenization, sharding, shuffling, and
two batching modes.

- "static": every sequence padded to `sequence_length`, `drop_remainder=True`:
  fully defined shapes for TPU / XLA.
- "bucket": within chunks of `CHUNK_BATCHES` batches, examples are sorted by
  length, cut into batches, and padded to the longest of their batch: little padding on
  CPU / GPU.

Examples travel as chunks of RaggedTensors from the strings to the batches:
per-example `tf.data` steps (one function call per example, as `map` after
`unbatch` or `bucket_by_sequence_length` make) cost more than the
tokenization itself.

Elements are `(features, labels)` with `features` a dict of int32
`token_ids`, `segment_ids`, `padding_mask` of shape `[batch, length]`.
"""


import numpy as np
import tensorflow as tf


FEATURES = ("token_ids", "segment_ids", "padding_mask")
LABELS = "labels"
WEIGHTS = "sample_weight"
IGNORE_INDEX = -100
MODES = ("static", "bucket")
_TOKENIZE_BATCH = 512
CHUNK_BATCHES = 64  # batches per chunk: tokenized together, sorted together
# Examples held by the training shuffle: sets up to this size are shuffled
# whole (as before streaming), larger ones within a window of this many
# strings, so memory stays flat in the data size.
SHUFFLE_BUFFER = 100_000


def encode_labels(examples, label_vocabulary=None, label_type="categorical"):
    """Labels of TextExamples as an array: int32 ids, float32 multi-hot rows
    (multi_label) or float32 values (regression); None when unlabelled."""
    if examples[0].label is None:
        return None
    if label_type == "regression":
        return np.array([e.label for e in examples], np.float32)
    if label_vocabulary is None:
        raise ValueError(f"label_type {label_type!r} needs a label_vocabulary")
    encoded = [label_vocabulary.encode(e.label, line=e.line) for e in examples]
    return np.array(encoded, np.float32 if label_type == "multi_label" else np.int32)


def tokenize_chunk(tokenizer, batch):
    """Tokenize a batch of strings into features cut to each example's length.

    Args:
        tokenizer: a BertTokenizer.
        batch: dict of string `text` `[n]`, optional string `pair` `[n]` and
            optional `labels` and `sample_weight` (passed through).

    Returns:
        Dict of int32 RaggedTensors `[n, (length)]` for `token_ids`,
        `segment_ids`, `padding_mask` (and `labels`, `sample_weight` as given).
    """
    features = (tokenizer(batch["text"], batch["pair"]) if "pair" in batch
                else tokenizer(batch["text"]))
    out = cut_at_padding(features, FEATURES)
    out.update({name: batch[name] for name in (LABELS, WEIGHTS) if name in batch})
    return out


def cut_at_padding(features, names):
    """The `names` entries of padded int `[n, length]` features as int32
    RaggedTensors `[n, (length)]`, each row cut where its `padding_mask` ends."""
    lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), axis=1)
    return {name: tf.RaggedTensor.from_tensor(tf.cast(features[name], tf.int32), lengths=lengths)
            for name in names}


def text_columns(texts, pairs=None, labels=None, sample_weights=None):
    """A dataset of per-example dicts: string `text` (and `pair`), `labels`
    (and `sample_weight`)."""
    columns = {"text": np.asarray(texts, dtype=object)}
    if pairs is not None:
        columns["pair"] = np.asarray(pairs, dtype=object)
    if labels is not None:
        columns[LABELS] = labels
    if sample_weights is not None:
        columns[WEIGHTS] = sample_weights
    return tf.data.Dataset.from_tensor_slices(columns)


def tokenize_columns(tokenizer, columns):
    """A dataset of per-example dicts of unpadded int32 features (and the
    labels) of `columns`, a dataset of per-example dicts of string `text`
    (and `pair`) and `labels`, such as `streaming.TextSource.columns`: what
    the feature cache stores. Tokenization runs in graph on batches of
    `_TOKENIZE_BATCH` strings."""
    dataset = columns.batch(_TOKENIZE_BATCH).map(
        lambda batch: tokenize_chunk(tokenizer, batch), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.unbatch().map(lambda e: {k: tf.convert_to_tensor(v) for k, v in e.items()},
                                 num_parallel_calls=tf.data.AUTOTUNE)


def chunk_size(batch_size):
    """Examples per chunk: the pool in which "bucket" mode sorts by length."""
    return batch_size * CHUNK_BATCHES


def batch_sequences(dataset, *, batch_size, mode, sequence_length, pad_token_id=0,
                    bucket_boundaries=None, drop_remainder=None, shuffle_seed=None):
    """Batch a dataset of per-example dicts of 1-D variable-length sequences.

    Args:
        dataset: elements are dicts; `token_ids`, `segment_ids`,
            `padding_mask` (and sequence labels) have shape `[length]`.
        Others: see `batch_chunks`.

    Returns:
        A dataset of `(features, labels)`, or of `features` when unlabelled.
    """
    return batch_chunks(dataset.ragged_batch(chunk_size(batch_size)), batch_size=batch_size,
                        mode=mode, sequence_length=sequence_length, pad_token_id=pad_token_id,
                        bucket_boundaries=bucket_boundaries, drop_remainder=drop_remainder,
                        shuffle_seed=shuffle_seed)


def batch_chunks(chunks, *, batch_size, mode, sequence_length, pad_token_id=0,
                 bucket_boundaries=None, drop_remainder=None, shuffle_seed=None):
    """Cut chunks of examples into padded batches, with vectorized ops only.

    Per-example `tf.data` steps (a function call per example) cost more than
    the tokenization itself, so examples travel in chunks of
    `chunk_size(batch_size)`, as RaggedTensors, until they are batches.

    Args:
        chunks: dataset of dicts; `token_ids`, `segment_ids`, `padding_mask`
            (and sequence labels / `word_ids`) are RaggedTensors `[n, (length)]`,
            other entries (labels) tensors `[n, ...]`.
        batch_size: examples per batch.
        mode: "static": chunks are cut in order into batches padded to
            `sequence_length`, the remainder dropped (shapes
            `[batch_size, sequence_length]`, for TPU / XLA); "bucket": each
            chunk is sorted (stably, so ties keep their shuffled order) by
            length, cut into batches, and each batch padded to its longest
            example (as `group_by_length` of Hugging Face's Trainer).
        bucket_boundaries: in "bucket" mode, sort by the bucket of these length
            boundaries (e.g. `default_bucket_boundaries(sequence_length)`)
            instead of by length: more mixed lengths in a batch, more padding.
        drop_remainder: override the mode's default (True for "static",
            False for "bucket"); drops batches smaller than `batch_size`.
        shuffle_seed: in "bucket" mode, shuffle the order of batches
            (reshuffled each epoch, deterministic from the seed) within a window
            of `CHUNK_BATCHES`, so that lengths do not ascend within a chunk.

    Returns:
        A dataset of `(features, labels)`, or of `features` when unlabelled.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if drop_remainder is None:
        drop_remainder = mode == "static"
    boundaries = tf.constant(bucket_boundaries, tf.int64) if bucket_boundaries else None

    def split(chunk):
        lengths = chunk["token_ids"].row_lengths()
        count = tf.shape(lengths, out_type=tf.int64)[0]
        order = tf.range(count)
        if mode == "bucket":
            keys = (lengths if boundaries is None
                    else tf.searchsorted(boundaries, lengths, side="right"))
            order = tf.cast(tf.argsort(keys, stable=True), tf.int64)
        splits = tf.concat([tf.range(0, count, batch_size, dtype=tf.int64), [count]], axis=0)
        rows = tf.RaggedTensor.from_row_splits(order, splits)
        return {name: tf.gather(value, rows) for name, value in chunk.items()}

    def pad(batch):
        width = sequence_length if mode == "static" else None
        return {name: (value.to_tensor(_pad_value(name, value.dtype, pad_token_id),
                                       shape=[None, width])
                       if isinstance(value, tf.RaggedTensor) else value)
                for name, value in batch.items()}

    batches = chunks.map(split, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if shuffle_seed is not None and mode == "bucket":
        batches = batches.shuffle(CHUNK_BATCHES, seed=shuffle_seed,
                                  reshuffle_each_iteration=True)
    batches = batches.map(pad, num_parallel_calls=tf.data.AUTOTUNE)
    if drop_remainder:
        batches = batches.filter(lambda b: tf.shape(b["token_ids"])[0] == batch_size)
        batches = batches.map(lambda b: {name: tf.ensure_shape(
            value, [batch_size] + value.shape.as_list()[1:]) for name, value in b.items()})
    return batches.map(_split_labels, num_parallel_calls=tf.data.AUTOTUNE)


def default_bucket_boundaries(sequence_length):
    """Bucket edges 4 tokens apart up to 32, 8 apart to 64, then 16 apart:
    fine where short sentences are common (an optional `bucket_boundaries`)."""
    edges = list(range(4, 33, 4)) + list(range(40, 65, 8)) + list(range(80, sequence_length, 16))
    return [e for e in edges if e < sequence_length]


def _pad_value(name, dtype, pad_token_id):
    """Padding of a sequence: [PAD] for tokens, -1 for word ids, -100 for
    sequence labels (ignored by the loss), else 0."""
    values = {"token_ids": pad_token_id, "word_ids": -1, LABELS: IGNORE_INDEX}
    return tf.constant(values.get(name, 0) if dtype.is_integer else 0, dtype)


def _split_labels(example):
    """`(features, labels[, sample_weight])`, or `features` when unlabelled."""
    features = {k: v for k, v in example.items() if k not in (LABELS, WEIGHTS)}
    if LABELS not in example:
        return features
    if WEIGHTS in example:
        return features, example[LABELS], example[WEIGHTS]
    return features, example[LABELS]


def distribute(dataset, *, shuffle=False, seed=0, num_examples=None, num_shards=1,
               shard_index=0, input_context=None, shuffle_buffer=SHUFFLE_BUFFER):
    """Shuffle deterministically from `seed`, then shard for a worker.

    Every worker shuffles the same way before taking its shard, so one update
    of N workers sees the same examples as one process with the same global
    batch would.

    Args:
        num_shards, shard_index: this worker's shard (`Dataset.shard`).
        input_context: a `tf.distribute.InputContext`; overrides the two above.
        num_examples: the number of examples (10,000 when unknown).
        shuffle_buffer: the most examples the shuffle holds: the buffer is
            `min(num_examples, shuffle_buffer)`, the whole dataset when it is
            small, a bounded window over a large (streamed) one.
    """
    if input_context is not None:
        num_shards, shard_index = (input_context.num_input_pipelines,
                                   input_context.input_pipeline_id)
    if shuffle:
        dataset = dataset.shuffle(min(num_examples or 10_000, shuffle_buffer), seed=seed,
                                  reshuffle_each_iteration=True)
    if num_shards > 1:
        dataset = dataset.shard(num_shards, shard_index)
    return dataset


def classification_dataset(examples, tokenizer, *, batch_size, label_vocabulary=None,
                           label_type="categorical", mode="bucket", shuffle=False, seed=0,
                           num_shards=1, shard_index=0, input_context=None,
                           bucket_boundaries=None, summary=None, shuffle_buffer=SHUFFLE_BUFFER):
    """The input pipeline of a (pair) classification or regression task.

    Args:
        examples: TextExamples from a reader, or a `streaming.TextSource`,
            streamed from its file (or TFDS split) on each pass, never held
            in memory: its label type is the source's.
        tokenizer: a BertTokenizer; its `sequence_length` is the max length.
        batch_size: the global batch; with `input_context`, each pipeline
            batches its per-replica share.
        label_vocabulary, label_type: how labels become ids (see `encode_labels`).
        mode: "static" or "bucket" (see `batch_chunks`).
        bucket_boundaries: see `batch_chunks`.
        shuffle, seed, num_shards, shard_index, input_context, shuffle_buffer:
            see `distribute`.
        summary: a TextSource's `scan` (its count and labels); scanned here
            when not given.

    Returns:
        A prefetched dataset of `(features, labels)` (or features when unlabelled).
    """
    if hasattr(examples, "columns"):
        source = examples
        summary = summary or source.scan(label_vocabulary)
        num_examples = summary.num_examples
        columns = source.columns(label_vocabulary, text_pair=summary.text_pair)
    else:
        labels = encode_labels(examples, label_vocabulary, label_type)
        texts = [e.text for e in examples]
        pairs = [e.text_pair for e in examples] if examples[0].text_pair is not None else None
        num_examples = len(examples)
        columns = text_columns(texts, pairs, labels)

    where = dict(shuffle=shuffle, seed=seed, num_examples=num_examples, num_shards=num_shards,
                 shard_index=shard_index, input_context=input_context,
                 shuffle_buffer=shuffle_buffer)
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    dataset = text_batches(distribute(columns, **where), tokenizer, batch_size=batch_size,
                           mode=mode, bucket_boundaries=bucket_boundaries,
                           shuffle_seed=seed if shuffle else None)
    return dataset.prefetch(tf.data.AUTOTUNE)


def text_batches(columns, tokenizer, *, batch_size, mode, bucket_boundaries=None,
                 shuffle_seed=None, num_examples=None):
    """Batches of `columns` (a dataset of `text_columns`' dicts, shuffled and
    sharded as wanted): whole chunks of strings are tokenized at once, then
    cut into batches by `batch_chunks` (the other arguments are its).
    `num_examples`: the rows of `columns`, which makes the number of batches
    the dataset's known cardinality."""
    chunks = columns.batch(chunk_size(batch_size)).map(
        lambda batch: tokenize_chunk(tokenizer, batch), num_parallel_calls=tf.data.AUTOTUNE)
    batches = batch_chunks(chunks, batch_size=batch_size, mode=mode,
                           sequence_length=tokenizer.sequence_length,
                           pad_token_id=tokenizer.pad_token_id,
                           bucket_boundaries=bucket_boundaries, shuffle_seed=shuffle_seed)
    if num_examples is not None:
        batches = batches.apply(tf.data.experimental.assert_cardinality(
            count_batches(num_examples, batch_size, mode == "static")))
    return batches


def count_batches(num_examples, batch_size, drop_remainder):
    """The batches `batch_chunks` cuts from `num_examples` examples in chunks
    of `chunk_size(batch_size)` (each chunk's last batch may be short)."""
    if drop_remainder:
        return num_examples // batch_size
    full, rest = divmod(num_examples, chunk_size(batch_size))
    return full * CHUNK_BATCHES + -(-rest // batch_size)
