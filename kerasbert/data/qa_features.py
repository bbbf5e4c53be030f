"""SQuAD examples -> doc-stride windows, and start / end logits -> answer
spans, after google-research/bert `run_squad.py`: one in-graph implementation
(`question_windows`, `best_spans`) that the SavedModel and the Keras
preprocessor run in their graphs and that training, evaluation and Python
prediction call eagerly (`squad_features`, `QaFeatures.extras`).

Answers are located by character offsets: each context wordpiece knows the
characters `[start, end)` of the context it came from (the tokenizer's
`tokenize_with_offsets`), so an answer's character span maps to the first and
last wordpiece that overlap it, and a predicted token span maps back to
`context[start_of_first:end_of_last]`.
"""

import collections
import dataclasses

import numpy as np
import tensorflow as tf

from kerasbert.data.pipeline import FEATURES


@dataclasses.dataclass
class QaFeatures:
    """The windows of a list of SquadExamples, as arrays over features `[n, ...]`.

    `token_ids`, `segment_ids`, `padding_mask`: `[n, sequence_length]` int32.
    `start_positions`, `end_positions`: `[n]` int32 target token positions;
        0 ([CLS]) when the window does not hold the answer.
    `example_index`: `[n]` index of each feature's example in `examples`.
    `char_starts`, `char_ends`: `[n, sequence_length]` context character span of
        each position, -1 outside the context.
    `max_context`: `[n, sequence_length]` bool, true where this window gives the
        token its most context (of all windows of the example).
    """

    examples: list
    token_ids: np.ndarray
    segment_ids: np.ndarray
    padding_mask: np.ndarray
    start_positions: np.ndarray
    end_positions: np.ndarray
    example_index: np.ndarray
    char_starts: np.ndarray
    char_ends: np.ndarray
    max_context: np.ndarray

    def __len__(self):
        return len(self.example_index)

    def extras(self):
        """The windows' extras as `question_windows` gives them (tensors), for
        `best_spans`."""
        return {"char_starts": tf.constant(self.char_starts, tf.int64),
                "char_ends": tf.constant(self.char_ends, tf.int64),
                "max_context": tf.constant(self.max_context),
                "example": tf.constant(self.example_index, tf.int64),
                "context": tf.constant([e.context for e in self.examples], tf.string)}


def squad_features(examples, tokenizer, *, sequence_length=384, doc_stride=128,
                   max_query_length=64, batch_size=256):
    """Window every example into features `[CLS] question [SEP] context-window
    [SEP]` (`question_windows`, `batch_size` examples at a time).

    Args:
        examples: SquadExamples.
        tokenizer: a BertTokenizer (its `tokenize_with_offsets`, special ids).
        sequence_length: length of each feature.
        doc_stride: tokens between the starts of consecutive windows.
        max_query_length: questions are cut to this many tokens.

    Returns:
        QaFeatures. Targets use each example's first answer.
    """
    examples = list(examples)
    parts = collections.defaultdict(list)
    for begin in range(0, len(examples), batch_size):
        batch = examples[begin:begin + batch_size]
        answers = [e.answers[0] if e.answers else None for e in batch]
        features, extras = question_windows(
            tokenizer, tf.constant([e.question for e in batch], tf.string),
            tf.constant([e.context for e in batch], tf.string), doc_stride, max_query_length,
            tf.constant([a.start if a else 0 for a in answers], tf.int64),
            tf.constant([a.end if a else 0 for a in answers], tf.int64),
            sequence_length=sequence_length)
        for name, value in {**features, **extras}.items():
            if name not in ("context", "example"):
                parts[name].append(value.numpy())
        parts["example_index"].append(extras["example"].numpy() + begin)
    if not examples:
        empty = np.zeros([0, sequence_length], np.int32)
        return QaFeatures(examples, empty, empty, empty, empty[:, 0], empty[:, 0], empty[:, 0],
                          empty, empty, empty.astype(bool))
    arrays = {k: np.concatenate(v).astype(bool if k == "max_context" else np.int32)
              for k, v in parts.items()}
    return QaFeatures(examples=examples, **arrays)


def qa_dataset(features, *, batch_size, training=False, shuffle=False, seed=0):
    """`tf.data` of `(features, {"start_positions", "end_positions"})` with fully
    defined shapes; the remainder is dropped when `training` only, so that
    evaluation sees every feature in order."""
    inputs = {name: getattr(features, name) for name in FEATURES}
    targets = {"start_positions": features.start_positions,
               "end_positions": features.end_positions}
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle:
        dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def span_text(features, feature, first, last):
    """The context text of positions `first..last` of feature `feature`."""
    example = features.examples[features.example_index[feature]]
    return example.context[features.char_starts[feature, first]:features.char_ends[feature, last]]


def question_windows(tokenizer, questions, contexts, doc_stride, max_query_length,
                     answer_starts=None, answer_ends=None, sequence_length=None):
    """Windows `[CLS] question [SEP] context window [SEP]` of every example,
    in-graph (run_squad.py's windows).

    Args:
        tokenizer: a `BertTokenizer`.
        questions, contexts: 1-D string tensors.
        doc_stride: tokens between the starts of consecutive windows.
        max_query_length: questions are cut to this many tokens.
        answer_starts, answer_ends: optional int `[batch]` character span
            `[start, end)` of each example's answer in its context, for
            training targets.
        sequence_length: the windows' length (default: the tokenizer's).

    Returns:
        (features, extras): features int32 `[windows, sequence_length]`
        (`token_ids`, `segment_ids`, `padding_mask`); extras: each position's
        character span in its context (`char_starts`, `char_ends`, -1 outside
        the context), `max_context`, the window's `example`, the `context`
        strings and, with answers, `start_positions` / `end_positions` int32
        `[windows]`: the answer's first and last token when the window holds
        all of it, else 0 ([CLS]).
    """
    length = sequence_length or tokenizer.sequence_length
    query = tokenizer.tokenize(questions)[:, :max_query_length]
    doc_ids, doc_starts, doc_ends = tokenizer.tokenize_with_offsets(contexts)
    # Windows as long_text.sliding_windows: starts min(width,
    # stride) apart, the last one ending at the context's end.
    width = length - query.row_lengths() - 3
    step = tf.minimum(width, doc_stride)
    doc_length = doc_ids.row_lengths()
    num_windows = tf.where(doc_length <= width, tf.ones_like(width),
                           (doc_length - width + step - 1) // step + 1)
    example = tf.repeat(tf.range(tf.size(num_windows, tf.int64)), num_windows)
    index = tf.ragged.range(num_windows).flat_values

    def per_window(values):
        return tf.gather(values, example)

    width, step, doc_length = per_window(width), per_window(step), per_window(doc_length)
    start = index * step
    size = tf.minimum(doc_length - start, width)
    offset = per_window(query.row_lengths()) + 2  # where the context starts
    j = tf.range(length, dtype=tf.int64)[None, :]
    in_query = (j >= 1) & (j < offset[:, None] - 1)
    in_doc = (j >= offset[:, None]) & (j < (offset + size)[:, None])
    last_sep = j == (offset + size)[:, None]
    seps = (j == offset[:, None] - 1) | last_sep
    query_at = per_window(query.row_splits[:-1])[:, None] + j - 1
    doc_at = (per_window(doc_ids.row_splits[:-1]) + start - offset)[:, None] + j

    def take(ragged, at, where, other):
        """`ragged`'s flat values at flat index `at` where `where`, else `other`."""
        values = tf.concat([ragged.flat_values, tf.zeros([1], ragged.dtype)], 0)
        at = tf.where(where, at, tf.size(ragged.flat_values, tf.int64))
        return tf.where(where, tf.gather(values, at), tf.cast(other, ragged.dtype))

    special = tf.where(j == 0, tokenizer.cls_token_id,
                       tf.where(seps, tokenizer.sep_token_id, tokenizer.pad_token_id))
    features = {
        "token_ids": take(query, query_at, in_query, take(doc_ids, doc_at, in_doc, special)),
        "segment_ids": tf.cast(in_doc | last_sep, tf.int32),
        "padding_mask": tf.cast((j == 0) | in_query | in_doc | seps, tf.int32),
    }
    extras = {
        "char_starts": take(doc_starts, doc_at, in_doc, -1),
        "char_ends": take(doc_ends, doc_at, in_doc, -1),
        "max_context": _max_context(start, size, step, width, doc_length, index,
                                    per_window(num_windows), offset, length),
        "example": example, "context": contexts,
    }
    if answer_starts is not None:
        extras.update(_answer_positions(doc_starts, doc_ends, answer_starts, answer_ends,
                                        extras))
    return features, extras


def best_spans(logits, extras, n_best_size=20, max_answer_length=30,
               version_2_with_negative=False, null_score_diff_threshold=0.0):
    """The best answer of every example, in-graph, from the windows' start /
    end `logits` `[windows, seq, 2]` and `question_windows`' extras: the top
    `n_best_size` starts and ends of each window, valid spans in the context
    of at most `max_answer_length` tokens, starting where the window gives the
    token its most context, the best over the example's windows (the first
    window of equal score). Under SQuAD v2.0 ([CLS] stands for "no answer"),
    an example's null score is the lowest `start[0] + end[0]` over its
    windows, and it gets the empty answer when `null score - best span score
    > null_score_diff_threshold`.

    Returns `{"answers": string [batch], "scores": float32 [batch]}` ("" for
    no answer; the span's start + end logit, the null score where no answer
    wins under v2.0, NaN when no span is valid), with where each answer is:
    `window` int64 `[batch]` (the window it was scored in), `first` / `last`
    int32 `[batch]` (its first and last token's position in that window) and
    `answered` bool `[batch]` (false where the answer is "": no valid span,
    or SQuAD v2.0's null score wins; `first` / `last` are then meaningless)."""
    start_logits, end_logits = logits[..., 0], logits[..., 1]
    starts, ends = extras["char_starts"], extras["char_ends"]
    example, contexts = extras["example"], extras["context"]
    k = min(n_best_size, logits.shape[1])
    top_starts = tf.math.top_k(start_logits, k).indices  # [windows, k]
    top_ends = tf.math.top_k(end_logits, k).indices
    s, e = top_starts[:, :, None], top_ends[:, None, :]
    score = (tf.gather(start_logits, top_starts, batch_dims=1)[:, :, None]
             + tf.gather(end_logits, top_ends, batch_dims=1)[:, None, :])
    valid = ((tf.gather(starts, top_starts, batch_dims=1)[:, :, None] >= 0)
             & (tf.gather(starts, top_ends, batch_dims=1)[:, None, :] >= 0)
             & (e >= s) & (e - s + 1 <= max_answer_length)
             & tf.gather(extras["max_context"], top_starts, batch_dims=1)[:, :, None])
    # float32.min, not -inf, marks "no valid span": segment max / min start there.
    lowest = tf.float32.min
    flat_score = tf.reshape(tf.where(valid, score, lowest), [tf.shape(score)[0], -1])
    window_best = tf.reduce_max(flat_score, axis=1)
    window_pick = _first_index(flat_score, window_best[:, None], axis=1)
    batch = tf.shape(contexts, out_type=tf.int64)[0]
    best = tf.math.unsorted_segment_max(window_best, example, batch)
    windows = tf.range(tf.size(example, tf.int64))
    chosen = tf.math.unsorted_segment_min(
        tf.where(window_best == tf.gather(best, example), windows,
                 tf.size(example, tf.int64)), example, batch)
    pick = tf.gather(window_pick, chosen)
    first = tf.gather(top_starts, chosen)
    last = tf.gather(top_ends, chosen)
    first = tf.gather(first, pick // k, batch_dims=1)
    last = tf.gather(last, pick % k, batch_dims=1)
    char_start = tf.gather_nd(starts, tf.stack([chosen, tf.cast(first, tf.int64)], 1))
    char_end = tf.gather_nd(ends, tf.stack([chosen, tf.cast(last, tf.int64)], 1))
    found = best > lowest
    char_start = tf.where(found, char_start, 0)
    char_end = tf.where(found, char_end, 0)
    answers = tf.strings.substr(contexts, char_start, char_end - char_start,
                                unit="UTF8_CHAR")
    scores = tf.where(found, best, float("nan"))
    answered = found
    if version_2_with_negative:
        null = tf.math.unsorted_segment_min(start_logits[:, 0] + end_logits[:, 0],
                                            example, batch)
        no_answer = ~found | (null - best > null_score_diff_threshold)
        answers = tf.where(no_answer, "", answers)
        scores = tf.where(no_answer, null, scores)
        answered = ~no_answer
    return {"answers": answers, "scores": scores, "window": chosen, "first": first,
            "last": last, "answered": answered}


def _first_index(values, target, axis):
    """The first index along `axis` where `values == target` (int64)."""
    size = tf.shape(values, out_type=tf.int64)[axis]
    positions = tf.range(size)
    return tf.reduce_min(tf.where(values == target, positions, size), axis=axis)


def _max_context(start, size, step, width, doc_length, index, num_windows, offset, length):
    """`[windows, length]` bool: true where the window gives the doc token at
    that position its most context of all its example's windows (score
    min(left, right) + 0.01 * window length, the first best window winning),
    as run_squad.py's _check_is_max_context. Every argument but `length` has one
    value per window (of the window, or of its example)."""
    within = tf.range(length, dtype=tf.int64)[None, :] - offset[:, None]
    in_doc = (within >= 0) & (within < size[:, None])
    token = (start[:, None] + within)[:, :, None]  # [windows, length, 1]: doc token
    k = tf.range(tf.reduce_max(num_windows))[None, None, :]  # the example's windows
    k_start = k * step[:, None, None]
    k_size = tf.minimum(doc_length[:, None, None] - k_start, width[:, None, None])
    contains = ((k < num_windows[:, None, None]) & (k_start <= token)
                & (token < k_start + k_size))
    score = (tf.cast(tf.minimum(token - k_start, k_start + k_size - 1 - token), tf.float64)
             + 0.01 * tf.cast(k_size, tf.float64))
    score = tf.where(contains, score, -float("inf"))
    best = _first_index(score, tf.reduce_max(score, axis=2, keepdims=True), axis=2)
    return in_doc & (best == index[:, None])


def _answer_positions(doc_starts, doc_ends, answer_starts, answer_ends, extras):
    """Training targets of every window: the first and last position of the
    tokens overlapping the answer's characters when the window holds all of
    them, else 0 ([CLS])."""
    example = extras["example"]
    starts, ends = extras["char_starts"], extras["char_ends"]
    s = tf.cast(tf.gather(answer_starts, example), tf.int64)[:, None]
    e = tf.cast(tf.gather(answer_ends, example), tf.int64)[:, None]
    overlap = (starts >= 0) & (ends > s) & (starts < e)
    answer_s = tf.cast(answer_starts, tf.int64)[:, None]
    answer_e = tf.cast(answer_ends, tf.int64)[:, None]
    in_doc = tf.reduce_sum(tf.cast((doc_ends > answer_s) & (doc_starts < answer_e), tf.int32),
                           axis=1)
    count = tf.reduce_sum(tf.cast(overlap, tf.int32), axis=1)
    whole = (count > 0) & (count == tf.gather(in_doc, example))
    positions = tf.range(tf.shape(starts, out_type=tf.int64)[1])[None, :]
    first = tf.reduce_min(tf.where(overlap, positions, positions[:, -1:] + 1), axis=1)
    last = tf.reduce_max(tf.where(overlap, positions, -1), axis=1)
    return {"start_positions": tf.cast(tf.where(whole, first, 0), tf.int32),
            "end_positions": tf.cast(tf.where(whole, last, 0), tf.int32)}
