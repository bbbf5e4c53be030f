"""Extractive question answering on raw strings: a question and its context.

In Python, predictions and evaluation use the reference path of training
(`qa_features.squad_features` windows, `QuestionAnsweringTask.postprocess`).
The SavedModel does the same in the graph: the context is WordPiece'd with
character offsets by the tokenizer's `tokenize_with_offsets` (the one that
training's `qa_features` uses, so tokens and offsets are the same), cut into
doc-stride windows after the question, and the best span (top `n_best_size`
starts / ends, at most `max_answer_length` tokens, scored in the window that
gives its start the most context) becomes the answer text, a slice of the
original context.
"""

import numpy as np
import tensorflow as tf

from kerasbert.serving.task_io import Evaluation, TaskIO, check_inputs


class QuestionAnsweringIO(TaskIO):
    """Inputs `question` and `context` (1-D strings). Outputs `answers`
    string `[batch]` ("" for no answer) and `scores` float32 `[batch]` (start +
    end logit of the answer; under SQuAD v2.0 the null score when no answer
    wins; NaN when no span is valid)."""

    trim = False  # the top-n candidates are taken over all sequence_length positions

    def __init__(self, task, tokenizer, info):
        super().__init__(task, tokenizer, info)
        if tokenizer.sequence_length < task.max_query_length + 4:
            raise ValueError(f"max_seq_length {tokenizer.sequence_length} leaves no room for "
                             f"the context after a question of max_query_length "
                             f"{task.max_query_length}")

    # -- Python ----------------------------------------------------------------------------

    def features(self, examples):
        """The doc-stride windows (`QaFeatures`) of SquadExamples, as in training."""
        from kerasbert.data.qa_features import squad_features

        return squad_features(examples, self.tokenizer,
                              sequence_length=self.tokenizer.sequence_length,
                              doc_stride=self.task.doc_stride,
                              max_query_length=self.task.max_query_length)

    def window_logits(self, model, examples, batch_size):
        """(start/end logits `[windows, seq, 2]`, QaFeatures) of SquadExamples."""
        from kerasbert.data.qa_features import qa_dataset
        from kerasbert.training.predictions import predict_logits

        features = self.features(examples)
        logits, _ = predict_logits(model, qa_dataset(features, batch_size=batch_size))
        return logits, features

    def predict(self, model, inputs, batch_size=32):
        from kerasbert.data.squad import SquadExample

        if not check_inputs(inputs, self.input_names):
            return []
        examples = [SquadExample(str(i), question, context, ())
                    for i, (question, context) in enumerate(zip(inputs["question"],
                                                                inputs["context"]))]
        logits, features = self.window_logits(model, examples, batch_size)
        return [{"answer": record["answer"], "score": record["score"]}
                for record in self.task.postprocess(logits, features)]

    def decode_outputs(self, outputs):
        return [{"answer": answer.decode("utf-8"),
                 "score": None if np.isnan(score) else float(score)}
                for answer, score in zip(outputs["answers"], outputs["scores"])]

    def evaluate(self, model, path, columns, batch_size=32, encoding="utf-8", data_dir=None):
        """Official SQuAD exact match and F1 over a SQuAD JSON file."""
        from kerasbert.data.errors import DataError
        from kerasbert.training.inputs import read_squad_examples

        examples = read_squad_examples(path, self.task.version_2_with_negative,
                                       encoding=encoding)
        if not examples:
            raise DataError(path, "no questions to evaluate")
        logits, features = self.window_logits(model, examples, batch_size)
        return Evaluation(self.task.compute_metrics(logits, features), len(examples))

    # -- in graph --------------------------------------------------------------------------

    def model_inputs(self, inputs):
        """Windows `[CLS] question [SEP] context window [SEP]` of every example,
        `[windows, sequence_length]`, as `squad_features` makes them; extras:
        each position's character span in its context (-1 outside the context),
        `max_context`, and the window's example."""
        tokenizer, task = self.tokenizer, self.task
        length = tokenizer.sequence_length
        query = tokenizer.tokenize(inputs["question"])[:, :task.max_query_length]
        doc_ids, doc_starts, doc_ends = tokenizer.tokenize_with_offsets(inputs["context"])
        # Windows as qa_features / long_text.sliding_windows: starts min(width,
        # stride) apart, the last one ending at the context's end.
        width = length - query.row_lengths() - 3
        step = tf.minimum(width, task.doc_stride)
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
            "example": example, "context": inputs["context"],
        }
        return features, extras

    def serving_outputs(self, logits, extras):
        task = self.task
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        starts, ends = extras["char_starts"], extras["char_ends"]
        example, contexts = extras["example"], extras["context"]
        k = min(task.n_best_size, self.tokenizer.sequence_length)
        top_starts = tf.math.top_k(start_logits, k).indices  # [windows, k]
        top_ends = tf.math.top_k(end_logits, k).indices
        s, e = top_starts[:, :, None], top_ends[:, None, :]
        score = (tf.gather(start_logits, top_starts, batch_dims=1)[:, :, None]
                 + tf.gather(end_logits, top_ends, batch_dims=1)[:, None, :])
        valid = ((tf.gather(starts, top_starts, batch_dims=1)[:, :, None] >= 0)
                 & (tf.gather(starts, top_ends, batch_dims=1)[:, None, :] >= 0)
                 & (e >= s) & (e - s + 1 <= task.max_answer_length)
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
        if task.version_2_with_negative:
            null = tf.math.unsorted_segment_min(start_logits[:, 0] + end_logits[:, 0],
                                                example, batch)
            no_answer = ~found | (null - best > task.null_score_diff_threshold)
            answers = tf.where(no_answer, "", answers)
            scores = tf.where(no_answer, null, scores)
        return {"answers": answers, "scores": scores}


def _first_index(values, target, axis):
    """The first index along `axis` where `values == target` (int64)."""
    size = tf.shape(values, out_type=tf.int64)[axis]
    positions = tf.range(size)
    return tf.reduce_min(tf.where(values == target, positions, size), axis=axis)


def _max_context(start, size, step, width, doc_length, index, num_windows, offset, length):
    """`[windows, length]` bool: true where the window gives the doc token at
    that position its most context of all its example's windows (score
    min(left, right) + 0.01 * window length, the first best window winning),
    as `qa_features._is_max_context`. Every argument but `length` has one
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
