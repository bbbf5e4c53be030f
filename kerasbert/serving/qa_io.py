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

from kerasbert.serving.task_io import Evaluation, TaskIO, check_inputs
from kerasbert.tasks.question_answering import answer_spans, question_windows


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
        """Windows of every example and their extras (`tasks.question_answering.
        question_windows`)."""
        return question_windows(self.tokenizer, inputs["question"], inputs["context"],
                                self.task.doc_stride, self.task.max_query_length)

    def serving_outputs(self, logits, extras):
        return answer_spans(self.task, logits, extras)
