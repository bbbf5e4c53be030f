"""Extractive question answering (SQuAD v1.1 and v2.0).

The head gives every position a start and an end logit; the answer is the
best-scoring valid context span (`data.qa_features.best_answers`). For
SQuAD v2.0, [CLS] (position 0) stands for "no answer", as in
google-research/bert `run_squad.py`: an example's null score is the lowest
`start[0] + end[0]` over its windows, and it gets the empty answer when
`null score - best span score > null_score_diff_threshold`.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasbert.data.qa_features import best_answers
from kerasbert.metrics.squad import squad_metrics
from kerasbert.tasks.keras_task import BertPreprocessor, BertTask
from kerasbert.tasks.registry import register_task
from kerasbert.tasks.signature import TaskSignature
from kerasbert.tasks.task import Task, masked_sum


@register_task("qa")
class QuestionAnsweringTask(Task):
    """Labels `{"start_positions", "end_positions"}` int32 `[batch]` (0 = [CLS]
    when the window holds no answer); logits `[batch, seq, 2]` (start, end).

    Args:
        labels: unused (QA has no label set); kept for `get_task`.
        version_2_with_negative: SQuAD v2.0 (questions may have no answer).
        null_score_diff_threshold: v2.0 predicts no answer above this margin.
        n_best_size: start / end candidates per window.
        max_answer_length: longest answer, in tokens.
        doc_stride, max_query_length: how contexts and questions become
            windows (`data.qa_features.squad_features`), kept with the model.
    """

    head = "sequence"
    main_metric = "f1"

    def __init__(self, labels=None, version_2_with_negative=False, null_score_diff_threshold=0.0,
                 n_best_size=20, max_answer_length=30, doc_stride=128, max_query_length=64):
        super().__init__(None)
        self.version_2_with_negative = bool(version_2_with_negative)
        self.null_score_diff_threshold = float(null_score_diff_threshold)
        self.n_best_size, self.max_answer_length = int(n_best_size), int(max_answer_length)
        self.doc_stride, self.max_query_length = int(doc_stride), int(max_query_length)

    @property
    def num_outputs(self):
        return 2

    def loss(self, labels, logits):
        """Per window, the mean of the start and end cross-entropies; summed,
        with the number of windows."""
        start = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels["start_positions"], logits[..., 0])
        end = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels["end_positions"], logits[..., 1])
        return masked_sum((start + end) / 2.0, tf.ones_like(start, tf.bool))

    def predictions(self, logits, features):
        """`{qas_id: (text, score)}`: the best span's text and its start + end
        logit; under v2.0 ("", null score) where no answer wins."""
        logits = np.asarray(logits, np.float32)
        spans = best_answers(features, logits[..., 0], logits[..., 1], self.n_best_size,
                             self.max_answer_length, with_scores=True)
        if not self.version_2_with_negative:
            return spans
        null = np.full(len(features.examples), np.inf, np.float32)
        np.minimum.at(null, features.example_index, logits[:, 0, 0] + logits[:, 0, 1])
        answers = {}
        for example, null_score in zip(features.examples, null):
            text, score = spans[example.qas_id]
            no_answer = score is None or null_score - score > self.null_score_diff_threshold
            answers[example.qas_id] = ("", float(null_score)) if no_answer else (text, score)
        return answers

    def compute_metrics(self, logits, features):
        """Official SQuAD exact match and F1 (percent) of the predicted answers.

        Args:
            logits: `[n, seq, 2]` over the n windows of `features`.
            features: the `QaFeatures` the logits were computed on; their
                examples hold the gold answers.
        """
        predictions = {qid: text for qid, (text, _) in self.predictions(logits, features).items()}
        gold = {e.qas_id: [a.text for a in e.answers] for e in features.examples}
        return squad_metrics(predictions, gold, self.version_2_with_negative)

    def postprocess(self, logits, features):
        """Per example, `{"id", "answer", "score"}` (answer "" for none)."""
        return [{"id": qid, "answer": text, "score": score}
                for qid, (text, score) in self.predictions(logits, features).items()]

    def config(self):
        return {**super().config(), "settings": {
            "version_2_with_negative": self.version_2_with_negative,
            "null_score_diff_threshold": self.null_score_diff_threshold,
            "n_best_size": self.n_best_size, "max_answer_length": self.max_answer_length,
            "doc_stride": self.doc_stride, "max_query_length": self.max_query_length}}


@keras.saving.register_keras_serializable(package="kerasbert")
def span_loss(y_true, y_pred):
    """Cross-entropy of the start and end positions y_true int `[windows, 2]`
    over the positions' logits y_pred `[windows, seq, 2]`, per window and end
    `[windows, 2]` (Keras averages: the mean of start and end, as the task)."""
    logits = keras.ops.transpose(y_pred, (0, 2, 1))
    return keras.losses.sparse_categorical_crossentropy(y_true, logits, from_logits=True)


@keras.saving.register_keras_serializable(package="kerasbert")
class BertQuestionAnswererPreprocessor(BertPreprocessor):
    """(questions, contexts) -> doc-stride windows of the encoder's inputs.

    Call: `x = (questions, contexts)`, 1-D strings; for training `y =
    (answer_starts, answer_texts)`: each answer's first character in its
    context and its text ("" for none, SQuAD v2.0). Returns the windows'
    features int32 `[windows, sequence_length]` and, with `y`, int32
    `[windows, 2]` start / end positions (0, 0 where the window does not
    hold the whole answer): one example gives as many windows as its context
    needs (`question_windows`).
    """

    def __init__(self, tokenizer, doc_stride=128, max_query_length=64, **kwargs):
        super().__init__(tokenizer, **kwargs)
        self.doc_stride, self.max_query_length = int(doc_stride), int(max_query_length)
        if tokenizer.sequence_length < self.max_query_length + 4:
            raise ValueError(f"sequence_length {tokenizer.sequence_length} leaves no room for "
                             f"the context after a question of max_query_length "
                             f"{self.max_query_length}")

    def windows(self, x, y=None):
        """(features, extras) of `question_windows` for x = (questions, contexts)."""
        if not isinstance(x, tuple) or len(x) != 2:
            raise ValueError("question answering takes x = (questions, contexts)")
        questions, contexts = (tf.convert_to_tensor(part, tf.string) for part in x)
        answer_starts = answer_ends = None
        if y is not None:
            answer_starts, texts = y
            answer_starts = tf.cast(answer_starts, tf.int64)
            answer_ends = answer_starts + tf.cast(tf.strings.length(texts, unit="UTF8_CHAR"),
                                                  tf.int64)
        return question_windows(self.tokenizer, questions, contexts, self.doc_stride,
                                self.max_query_length, answer_starts, answer_ends)

    def call(self, x, y=None, sample_weight=None):
        if isinstance(x, dict):
            return keras.utils.pack_x_y_sample_weight(self.features(x), y, sample_weight)
        if sample_weight is not None:
            raise ValueError("question answering takes no sample_weight")
        features, extras = self.windows(x, y)
        if y is None:
            return features
        return features, tf.stack([extras["start_positions"], extras["end_positions"]], -1)

    def get_config(self):
        return {**super().get_config(), "doc_stride": self.doc_stride,
                "max_query_length": self.max_query_length}


@keras.saving.register_keras_serializable(package="kerasbert")
class BertQuestionAnswerer(BertTask):
    """Extractive question answering: the answer to a question, a span of its context.

        model = kerasbert.BertQuestionAnswerer.from_preset("bert_base_en", sequence_length=384)
        model.compile()
        model.fit(x=(questions, contexts), y=(answer_starts, answer_texts), epochs=2)
        model.predict((["Who wrote it?"], ["It was written by Ann."]))
        # {"answers": array(["Ann"]), "scores": array([...])}

    Contexts longer than a window are cut into windows `doc_stride` tokens
    apart; the model gives each position a start and an end logit
    `[windows, sequence_length, 2]`; `predict` returns each example's best
    span over its windows (as `run_squad.py`: top `n_best_size` starts and
    ends, at most `max_answer_length` tokens; SQuAD v2.0 answers "" when the
    null score beats the best span by `null_score_diff_threshold`).

    Args:
        encoder: a `BertEncoder`.
        preprocessor: a `BertQuestionAnswererPreprocessor`, or None (features in).
        version_2_with_negative, null_score_diff_threshold, n_best_size,
        max_answer_length: the answer search (see `QuestionAnsweringTask`).
        dropout: dropout before the head.
    """

    task_name = "qa"
    preprocessor_class = BertQuestionAnswererPreprocessor
    preprocessor_arguments = ("doc_stride", "max_query_length")

    def __init__(self, encoder, preprocessor=None, version_2_with_negative=False,
                 null_score_diff_threshold=0.0, n_best_size=20, max_answer_length=30,
                 dropout=None, **kwargs):
        kwargs.pop("pooling", None)
        kwargs.pop("labels", None)
        super().__init__(encoder, 2, "sequence", preprocessor, None, dropout, **kwargs)
        self.version_2_with_negative = bool(version_2_with_negative)
        self.null_score_diff_threshold = float(null_score_diff_threshold)
        self.n_best_size, self.max_answer_length = int(n_best_size), int(max_answer_length)

    @classmethod
    def from_parts(cls, encoder, tokenizer, num_outputs=2, labels=None, pooling="cls",
                   task_name="qa", doc_stride=128, max_query_length=64, **settings):
        return cls(encoder, BertQuestionAnswererPreprocessor(tokenizer, doc_stride,
                                                             max_query_length), **settings)

    def task_config(self):
        return {"dropout": self.dropout,
                "version_2_with_negative": self.version_2_with_negative,
                "null_score_diff_threshold": self.null_score_diff_threshold,
                "n_best_size": self.n_best_size, "max_answer_length": self.max_answer_length}

    def task_spec(self):
        from kerasbert.tasks.registry import get_task

        preprocessor = self.preprocessor
        return get_task("qa", None, version_2_with_negative=self.version_2_with_negative,
                        null_score_diff_threshold=self.null_score_diff_threshold,
                        n_best_size=self.n_best_size, max_answer_length=self.max_answer_length,
                        doc_stride=getattr(preprocessor, "doc_stride", 128),
                        max_query_length=getattr(preprocessor, "max_query_length", 64))

    def default_loss(self):
        return span_loss

    def default_metrics(self):
        return []

    def _batched(self, x, y, sample_weight, batch_size, shuffle):
        """Windows re-batched to `batch_size` windows (static shapes for TPU)."""
        dataset = super()._batched(x, y, sample_weight, batch_size, shuffle)
        if isinstance(x, tf.data.Dataset) or self.preprocessor is None:
            return dataset
        return dataset.unbatch().batch(batch_size or 32).prefetch(tf.data.AUTOTUNE)

    def predict(self, x, batch_size=None, **kwargs):
        """`{"answers": strings [n], "scores": float32 [n]}` of x = (questions, contexts)."""
        if self.preprocessor is None or isinstance(x, dict):
            return super().predict(x, batch_size, **kwargs)
        questions, contexts = (np.asarray(part, dtype=object) for part in x)
        examples = tf.data.Dataset.from_tensor_slices((questions, contexts)).batch(
            batch_size or 32)
        spec = self.task_spec()
        answers, scores = [], []
        for batch in examples:
            features, extras = self.preprocessor.windows(batch)
            logits = self.predict_on_batch(features)
            spans = answer_spans(spec, tf.convert_to_tensor(logits), extras)
            answers.extend(a.decode("utf-8") for a in spans["answers"].numpy())
            scores.append(spans["scores"].numpy())
        return {"answers": np.asarray(answers, dtype=object),
                "scores": np.concatenate(scores) if scores else np.zeros([0], np.float32)}


class QuestionAnsweringSignature(TaskSignature):
    """Inputs `question` and `context` (1-D strings). Outputs `answers`
    string `[batch]` ("" for no answer) and `scores` float32 `[batch]` (start +
    end logit of the answer; under SQuAD v2.0 the null score when no answer
    wins; NaN when no span is valid).

    In the graph, the context is WordPiece'd with character offsets by the
    tokenizer's `tokenize_with_offsets` (the one training's `qa_features`
    uses, so tokens and offsets are the same), cut into doc-stride windows
    after the question (`question_windows`), and the best span (top
    `n_best_size` starts / ends, at most `max_answer_length` tokens, scored in
    the window that gives its start the most context) becomes the answer text,
    a slice of the original context (`answer_spans`). Python prediction and
    evaluation take training's reference path instead (the data reader's
    `squad_features` windows and `QuestionAnsweringTask.postprocess`).
    """

    trim = False  # the top-n candidates are taken over all sequence_length positions

    def __init__(self, task, tokenizer, info):
        super().__init__(task, tokenizer, info)
        if tokenizer.sequence_length < task.max_query_length + 4:
            raise ValueError(f"max_seq_length {tokenizer.sequence_length} leaves no room for "
                             f"the context after a question of max_query_length "
                             f"{task.max_query_length}")

    def model_inputs(self, inputs):
        """Windows of every example and their extras (`question_windows`)."""
        return question_windows(self.tokenizer, inputs["question"], inputs["context"],
                                self.task.doc_stride, self.task.max_query_length)

    def serving_outputs(self, logits, extras):
        return answer_spans(self.task, logits, extras)

    def postprocess(self, logits, extras):
        """The records of the SavedModel's outputs, computed eagerly."""
        outputs = self.serving_outputs(tf.constant(logits),
                                       tf.nest.map_structure(tf.constant, extras))
        return self.decode_outputs(tf.nest.map_structure(lambda t: t.numpy(), outputs))

    def decode_outputs(self, outputs):
        return [{"answer": answer.decode("utf-8"),
                 "score": None if np.isnan(score) else float(score)}
                for answer, score in zip(outputs["answers"], outputs["scores"])]


def question_windows(tokenizer, questions, contexts, doc_stride, max_query_length,
                     answer_starts=None, answer_ends=None):
    """Windows `[CLS] question [SEP] context window [SEP]` of every example,
    in-graph, as `data.qa_features.squad_features` makes them.

    Args:
        tokenizer: a `BertTokenizer`; its `sequence_length` is the window length.
        questions, contexts: 1-D string tensors.
        doc_stride: tokens between the starts of consecutive windows.
        max_query_length: questions are cut to this many tokens.
        answer_starts, answer_ends: optional int `[batch]` character span
            `[start, end)` of each example's answer in its context, for
            training targets.

    Returns:
        (features, extras): features int32 `[windows, sequence_length]`
        (`token_ids`, `segment_ids`, `padding_mask`); extras: each position's
        character span in its context (`char_starts`, `char_ends`, -1 outside
        the context), `max_context`, the window's `example`, the `context`
        strings and, with answers, `start_positions` / `end_positions` int32
        `[windows]`: the answer's first and last token when the window holds
        all of it, else 0 ([CLS]), as `squad_features`.
    """
    length = tokenizer.sequence_length
    query = tokenizer.tokenize(questions)[:, :max_query_length]
    doc_ids, doc_starts, doc_ends = tokenizer.tokenize_with_offsets(contexts)
    # Windows as qa_features / long_text.sliding_windows: starts min(width,
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

def answer_spans(task, logits, extras):
    """The best answer of every example, in-graph: `{"answers": string
    [batch], "scores": float32 [batch]}` ("" for no answer; NaN score when no
    span is valid) from the windows' start / end `logits` `[windows, seq, 2]`
    and `question_windows`' extras, with `task`'s (a `QuestionAnsweringTask`)
    n-best size, answer length and SQuAD v2.0 settings."""
    spans = best_spans(task, logits, extras)
    return {"answers": spans["answers"], "scores": spans["scores"]}


def best_spans(task, logits, extras):
    """`answer_spans`' answers and scores, with where each answer is:
    `window` int64 `[batch]` (the window it was scored in), `first` / `last`
    int32 `[batch]` (its first and last token's position in that window) and
    `answered` bool `[batch]` (false where the answer is "": no valid span,
    or SQuAD v2.0's null score wins; `first` / `last` are then meaningless)."""
    start_logits, end_logits = logits[..., 0], logits[..., 1]
    starts, ends = extras["char_starts"], extras["char_ends"]
    example, contexts = extras["example"], extras["context"]
    k = min(task.n_best_size, logits.shape[1])
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
    answered = found
    if task.version_2_with_negative:
        null = tf.math.unsorted_segment_min(start_logits[:, 0] + end_logits[:, 0],
                                            example, batch)
        no_answer = ~found | (null - best > task.null_score_diff_threshold)
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


def _answer_positions(doc_starts, doc_ends, answer_starts, answer_ends, extras):
    """Training targets of every window: the first and last position of the
    tokens overlapping the answer's characters when the window holds all of
    them, else 0 ([CLS]) (`qa_features.answer_token_span` and `_add_window`)."""
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
