"""Extractive question answering (SQuAD v1.1 and v2.0).

The head gives every position a start and an end logit; the answer is the
best-scoring valid context span (`data.qa_features.best_spans`). For
SQuAD v2.0, [CLS] (position 0) stands for "no answer", as in
google-research/bert `run_squad.py`: an example's null score is the lowest
`start[0] + end[0]` over its windows, and it gets the empty answer when
`null score - best span score > null_score_diff_threshold`.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasbert.data.qa_features import best_spans, question_windows
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
        logit; under v2.0 ("", null score) where no answer wins; ("", None)
        where no span is valid (`best_spans`, eagerly)."""
        spans = best_spans(tf.constant(np.asarray(logits, np.float32)), features.extras(),
                           **self.span_settings())
        scores = spans["scores"].numpy()
        return {example.qas_id: (answer.decode("utf-8"),
                                 None if np.isnan(score) else float(score))
                for example, answer, score in zip(features.examples, spans["answers"].numpy(),
                                                  scores)}

    def span_settings(self):
        """The keywords of `best_spans` this task sets."""
        return {"n_best_size": self.n_best_size, "max_answer_length": self.max_answer_length,
                "version_2_with_negative": self.version_2_with_negative,
                "null_score_diff_threshold": self.null_score_diff_threshold}

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

    def _batched(self, x, y, sample_weight, batch_size, seed=None, bucket=False):
        """Windows re-batched to `batch_size` windows (static shapes for TPU;
        windows are never bucketed)."""
        dataset = super()._batched(x, y, sample_weight, batch_size, seed)
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
    tokenizer's `tokenize_with_offsets`, cut into doc-stride windows after
    the question (`data.qa_features.question_windows`), and the best span
    (top `n_best_size` starts / ends, at most `max_answer_length` tokens,
    scored in the window that gives its start the most context) becomes the
    answer text, a slice of the original context (`best_spans`): the code
    that training, evaluation and Python prediction run eagerly.
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


def answer_spans(task, logits, extras):
    """`{"answers", "scores"}` of `best_spans` with `task`'s (a
    `QuestionAnsweringTask`) n-best size, answer length and SQuAD v2.0 settings."""
    spans = best_spans(logits, extras, **task.span_settings())
    return {"answers": spans["answers"], "scores": spans["scores"]}
