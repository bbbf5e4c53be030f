"""`tf.data` input pipelines: in-graph tokenization, sharding, shuffling, and
two batching modes.

- "static": every sequence padded to `sequence_length`, `drop_remainder=True`:
  fully defined shapes for TPU / XLA.
- "bucket": examples grouped by token length (`bucket_by_sequence_length`)
  and padded to the longest of their batch: little padding on CPU / GPU.

Elements are `(features, labels)` with `features` a dict of int32
`token_ids`, `segment_ids`, `padding_mask` of shape `[batch, length]`.
"""

import hashlib
import json

import numpy as np
import tensorflow as tf

from kerasbert.data.feature_cache import FeatureCache
from kerasbert.data.feature_cache import cache_key

FEATURES = ("token_ids", "segment_ids", "padding_mask")
LABELS = "labels"
IGNORE_INDEX = -100
MODES = ("static", "bucket")
_TOKENIZE_BATCH = 512


def tokenizer_fingerprint(tokenizer):
    """sha256 of a tokenizer's config (its vocabulary and every setting): part
    of every cache key."""
    config = json.dumps(tokenizer.get_config(), sort_keys=True, default=str)
    return hashlib.sha256(config.encode("utf-8")).hexdigest()


def examples_fingerprint(examples):
    """sha256 over the texts and labels of TextExamples, in order: the content
    of the source as read (file bytes, column choice and label parsing)."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(repr((e.text, e.text_pair, e.label)).encode("utf-8"))
    return digest.hexdigest()


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


def tokenize_texts(tokenizer, texts, pairs=None, labels=None):
    """A dataset of per-example dicts of unpadded int32 features (and labels).

    Tokenization runs in graph on batches of `_TOKENIZE_BATCH` strings; each
    example's features are then cut to its true length, so that caching and
    bucketing see only real tokens.
    """
    columns = {"text": np.asarray(texts, dtype=object)}
    if pairs is not None:
        columns["pair"] = np.asarray(pairs, dtype=object)
    if labels is not None:
        columns[LABELS] = labels
    dataset = tf.data.Dataset.from_tensor_slices(columns).batch(_TOKENIZE_BATCH)

    def tokenize(batch):
        features = tokenizer(batch["text"], batch["pair"]) if "pair" in batch else tokenizer(
            batch["text"])
        out = {name: tf.cast(features[name], tf.int32) for name in FEATURES}
        if LABELS in batch:
            out[LABELS] = batch[LABELS]
        return out

    return unbatch_and_trim(dataset.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE))


def unbatch_and_trim(dataset, sequences=FEATURES):
    """Split batches of padded dicts into examples whose `sequences` entries
    are cut to the example's true length (the sum of its `padding_mask`)."""

    def trim(example):
        length = tf.reduce_sum(example["padding_mask"])
        return {k: (v[:length] if k in sequences else v) for k, v in example.items()}

    return dataset.unbatch().map(trim, num_parallel_calls=tf.data.AUTOTUNE)


def batch_sequences(dataset, *, batch_size, mode, sequence_length, pad_token_id=0,
                    bucket_boundaries=None, drop_remainder=None):
    """Batch a dataset of per-example dicts of 1-D variable-length sequences.

    Args:
        dataset: elements are dicts; `token_ids`, `segment_ids`,
            `padding_mask` (and sequence labels) have shape `[length]`.
        batch_size: examples per batch.
        mode: "static" pads to `sequence_length` and drops the remainder
            (shapes `[batch_size, sequence_length]`); "bucket" groups by length.
        bucket_boundaries: length boundaries for "bucket"; default every 16
            tokens up to `sequence_length`.
        drop_remainder: override the mode's default (True for "static",
            False for "bucket").

    Returns:
        A dataset of `(features, labels)`, or of `features` when unlabelled.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    specs = dataset.element_spec
    padding = {name: tf.constant(_pad_value(name, spec, pad_token_id), spec.dtype)
               for name, spec in specs.items()}
    if mode == "static":
        shapes = {name: [sequence_length if d is None else d for d in spec.shape.as_list()]
                  for name, spec in specs.items()}
        dataset = dataset.padded_batch(
            batch_size, padded_shapes=shapes, padding_values=padding,
            drop_remainder=True if drop_remainder is None else drop_remainder)
    else:
        boundaries = bucket_boundaries or default_bucket_boundaries(sequence_length)
        dataset = dataset.bucket_by_sequence_length(
            lambda example: tf.shape(example["token_ids"])[0], boundaries,
            [batch_size] * (len(boundaries) + 1), padding_values=padding,
            drop_remainder=bool(drop_remainder))
    return dataset.map(_split_labels, num_parallel_calls=tf.data.AUTOTUNE)


def default_bucket_boundaries(sequence_length):
    """Bucket edges 4 tokens apart up to 32, 8 apart to 64, then 16 apart:
    fine where short sentences are common."""
    edges = list(range(4, 33, 4)) + list(range(40, 65, 8)) + list(range(80, sequence_length, 16))
    return [e for e in edges if e < sequence_length]


def _pad_value(name, spec, pad_token_id):
    if name == "token_ids":
        return pad_token_id
    if name == "word_ids":
        return -1
    if name == LABELS and spec.dtype.is_integer and spec.shape.rank == 1:
        return IGNORE_INDEX
    return 0


def _split_labels(example):
    features = {k: v for k, v in example.items() if k != LABELS}
    return (features, example[LABELS]) if LABELS in example else features


def distribute(dataset, *, shuffle=False, seed=0, num_examples=None, num_shards=1,
               shard_index=0, input_context=None):
    """Shuffle deterministically from `seed`, then shard for a worker.

    Every worker shuffles the same way before taking its shard, so one update
    of N workers sees the same examples as one process with the same global
    batch would.

    Args:
        num_shards, shard_index: this worker's shard (`Dataset.shard`).
        input_context: a `tf.distribute.InputContext`; overrides the two above.
        num_examples: the shuffle buffer (the whole dataset when known).
    """
    if input_context is not None:
        num_shards, shard_index = (input_context.num_input_pipelines,
                                   input_context.input_pipeline_id)
    if shuffle:
        dataset = dataset.shuffle(num_examples or 10_000, seed=seed,
                                  reshuffle_each_iteration=True)
    if num_shards > 1:
        dataset = dataset.shard(num_shards, shard_index)
    return dataset


def classification_dataset(examples, tokenizer, *, batch_size, label_vocabulary=None,
                           label_type="categorical", mode="bucket", shuffle=False, seed=0,
                           num_shards=1, shard_index=0, input_context=None,
                           bucket_boundaries=None, cache_dir=None, task_settings=None):
    """The input pipeline of a (pair) classification or regression task.

    Args:
        examples: TextExamples from a reader.
        tokenizer: a BertTokenizer; its `sequence_length` is the max length.
        batch_size: the global batch; with `input_context`, each pipeline
            batches its per-replica share.
        label_vocabulary, label_type: how labels become ids (see `encode_labels`).
        mode: "static" or "bucket" (see `batch_sequences`).
        shuffle, seed, num_shards, shard_index, input_context: see `distribute`.
        cache_dir: when set, tokenized features are cached there as TFRecord
            shards and reused by later runs with the same key.
        task_settings: a JSON-able dict of anything else that changes the
            features, added to the cache key.

    Returns:
        A prefetched dataset of `(features, labels)` (or features when unlabelled).
    """
    labels = encode_labels(examples, label_vocabulary, label_type)
    texts = [e.text for e in examples]
    pairs = [e.text_pair for e in examples] if examples[0].text_pair is not None else None

    def build():
        return tokenize_texts(tokenizer, texts, pairs, labels)

    if cache_dir is None:
        dataset = build()
    else:
        key = cache_key(source=examples_fingerprint(examples),
                        tokenizer=tokenizer_fingerprint(tokenizer),
                        sequence_length=tokenizer.sequence_length, label_type=label_type,
                        labels=label_vocabulary.get_config() if label_vocabulary else None,
                        task=task_settings)
        dataset = FeatureCache(cache_dir).load_or_build(key, build)
    dataset = distribute(dataset, shuffle=shuffle, seed=seed, num_examples=len(examples),
                         num_shards=num_shards, shard_index=shard_index,
                         input_context=input_context)
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    dataset = batch_sequences(dataset, batch_size=batch_size, mode=mode,
                              sequence_length=tokenizer.sequence_length,
                              pad_token_id=tokenizer.pad_token_id,
                              bucket_boundaries=bucket_boundaries)
    return dataset.prefetch(tf.data.AUTOTUNE)
