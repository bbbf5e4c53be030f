"""Running a task model over a dev set: logits (and labels) as numpy arrays."""

import numpy as np
import tensorflow as tf


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


def _concatenate(batches):
    """One array per leaf of a list of equally structured numpy batches."""
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *batches)


def predict_logits(model, dataset):
    """(logits, labels) numpy arrays over a `(features, labels)` dataset of
    fixed-length batches; `labels` keeps the dataset's structure (an array,
    or a dict of arrays)."""
    predict = _predict_fn(model)
    logits, labels = [], []
    for features, batch_labels in dataset:
        logits.append(predict(features).numpy())
        labels.append(tf.nest.map_structure(lambda t: t.numpy(), batch_labels))
    return np.concatenate(logits), _concatenate(labels)


def _pad_positions(array, length, value):
    """`array` `[batch, len, ...]` padded with `value` to `[batch, length, ...]`."""
    widths = [(0, 0), (0, length - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, widths, constant_values=value)


def predict_tagging(model, dataset, sequence_length, ignore_label=-100):
    """(logits, labels, word_ids) over a tagging dataset whose batches may be
    shorter than `sequence_length` (length buckets).

    Args:
        model: a `BertTaskModel` with a sequence head.
        dataset: `(features, labels)` batches; features hold `word_ids`
            (`ner_alignment.tagging_dataset(..., keep_word_ids=True)`), which
            the model does not take.
        sequence_length: every array is padded to this many positions.

    Returns:
        `[n, sequence_length, num_tags]` float logits (0 on padding),
        `[n, sequence_length]` labels (`ignore_label` on padding) and word
        ids (-1 on padding).
    """
    predict = _predict_fn(model)
    logits, labels, word_ids = [], [], []
    for features, batch_labels in dataset:
        features = dict(features)
        batch_words = features.pop("word_ids")
        logits.append(_pad_positions(predict(features).numpy(), sequence_length, 0.0))
        labels.append(_pad_positions(batch_labels.numpy(), sequence_length, ignore_label))
        word_ids.append(_pad_positions(batch_words.numpy(), sequence_length, -1))
    return np.concatenate(logits), np.concatenate(labels), np.concatenate(word_ids)
