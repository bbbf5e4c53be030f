"""Running a task model over a dev set: logits (and labels) as numpy arrays.

Outside a distribution strategy's scope the model runs through one
`tf.function` traced for any batch and sequence length. Inside the scope of
a strategy (the trainer evaluates inside its own), every batch runs through
`strategy.run` on all replicas: the batch is padded with all-zero rows to a
fixed size that the replicas divide (so that a TPU sees one static batch
shape, the last partial batch included), each replica scores its slice,
`strategy.gather` brings the rows back in order, and the padding rows are
dropped, so every example is scored exactly once.

`loop.counting.counting_examples()` counts the examples scored inside it
(the trainer's `eval_examples`).
"""

import numpy as np
import tensorflow as tf

from kerasbert.loop.counting import count_examples

_FEATURES = ("token_ids", "segment_ids", "padding_mask")


def _predict_fn(model):
    """The model's forward pass, traced once for any batch and sequence length
    (length buckets would otherwise trace it once per bucket, per evaluation)."""
    predict = getattr(model, "_kerasbert_predict", None)
    if predict is None:
        signature = [{name: tf.TensorSpec([None, None], tf.int32, name=name)
                      for name in _FEATURES}]
        predict = tf.function(lambda features: model(features, training=False),
                              input_signature=signature)
        object.__setattr__(model, "_kerasbert_predict", predict)  # untracked by Keras
    return predict


def _distributed_predict_fn(model, strategy):
    """`per-replica features -> [global batch, ...]` logits of every replica,
    gathered in replica order (one trace per batch shape)."""
    cache = getattr(model, "_kerasbert_distributed_predict", None)
    if cache is None:
        cache = {}
        object.__setattr__(model, "_kerasbert_distributed_predict", cache)
    if id(strategy) not in cache:
        @tf.function
        def predict(features):
            logits = strategy.run(lambda f: model(f, training=False), args=(features,))
            return tf.nest.map_structure(lambda t: strategy.gather(t, axis=0), logits)
        cache[id(strategy)] = (strategy, predict)  # the strategy kept alive with its id
    return cache[id(strategy)][1]


class _Runner:
    """Runs `model` over `{name: [rows, length]}` batches, under the strategy of
    the current scope when there is one; returns numpy logits `[rows, ...]`."""

    def __init__(self, model):
        self.model = model
        self.strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
        self.rows = 0  # the padded batch size, fixed by the largest batch so far

    def __call__(self, features):
        features = {name: features[name] for name in _FEATURES}
        if self.strategy is None:
            return _predict_fn(self.model)(features).numpy()
        rows = int(features["token_ids"].shape[0])
        replicas = self.strategy.num_replicas_in_sync
        self.rows = max(self.rows, -(-rows // replicas) * replicas)
        padded = {name: np.pad(np.asarray(value), [(0, self.rows - rows), (0, 0)])
                  for name, value in features.items()}  # all-zero rows: no tokens
        per_replica = self.rows // replicas

        def replica_slice(context):
            start = context.replica_id_in_sync_group * per_replica
            return {name: tf.constant(value[start:start + per_replica])
                    for name, value in padded.items()}

        values = self.strategy.experimental_distribute_values_from_function(replica_slice)
        logits = _distributed_predict_fn(self.model, self.strategy)(values)
        return logits.numpy()[:rows]


def _concatenate(batches):
    """One array per leaf of a list of equally structured numpy batches."""
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *batches)


def predict_logits(model, dataset):
    """(logits, labels) numpy arrays over a `(features, labels)` dataset of
    fixed-length batches; `labels` keeps the dataset's structure (an array,
    or a dict of arrays). Inside a strategy's scope the batches run on every
    replica (see the module's docstring)."""
    predict = _Runner(model)
    logits, labels = [], []
    for features, batch_labels in dataset:
        logits.append(predict(features))
        labels.append(tf.nest.map_structure(lambda t: t.numpy(), batch_labels))
    logits = np.concatenate(logits)
    count_examples(len(logits))
    return logits, _concatenate(labels)


def _pad_positions(array, length, value):
    """`array` `[batch, len, ...]` padded with `value` to `[batch, length, ...]`."""
    widths = [(0, 0), (0, length - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, widths, constant_values=value)


def predict_tagging(model, dataset, sequence_length, ignore_label=-100):
    """(logits, labels, word_ids) over a tagging dataset whose batches may be
    shorter than `sequence_length` (length buckets).

    Args:
        model: a `BertTask` with a sequence head.
        dataset: `(features, labels)` batches; features hold `word_ids`
            (`ner_alignment.tagging_dataset(..., keep_word_ids=True)`), which
            the model does not take.
        sequence_length: every array is padded to this many positions.

    Returns:
        `[n, sequence_length, num_tags]` float logits (0 on padding),
        `[n, sequence_length]` labels (`ignore_label` on padding) and word
        ids (-1 on padding).
    """
    predict = _Runner(model)
    logits, labels, word_ids = [], [], []
    for features, batch_labels in dataset:
        features = dict(features)
        batch_words = features.pop("word_ids")
        logits.append(_pad_positions(predict(features), sequence_length, 0.0))
        labels.append(_pad_positions(batch_labels.numpy(), sequence_length, ignore_label))
        word_ids.append(_pad_positions(batch_words.numpy(), sequence_length, -1))
    count_examples(sum(len(batch) for batch in logits))
    return np.concatenate(logits), np.concatenate(labels), np.concatenate(word_ids)
