"""Data of extractive question answering (SQuAD v1.1 / v2.0) for `fine_tune`:
questions become doc-stride windows, and dev answers are scored with the
official SQuAD metrics from the windows' logits."""

import tensorflow as tf

from kerasbert.data.pipeline import FEATURES, distribute
from kerasbert.data.qa_features import qa_dataset, squad_features
from kerasbert.tasks import get_task
from kerasbert.training.inputs import read_squad_examples
from kerasbert.training.predictions import predict_logits
from kerasbert.training.task_data import Evaluation, TaskData, TaskInputs


class SquadData(TaskData):
    """SquadExamples of a train and an optional dev file, and the QA task
    (its settings: `version_2_with_negative`, `doc_stride`, ...)."""

    task_name = "qa"  # the task read by default (`read`)

    def __init__(self, train, dev, task):
        self.train, self.dev, self.task = train, dev, task

    @classmethod
    def read(cls, train_data, eval_data=None, *, encoding="utf-8", task_name=None, **settings):
        """Read the SQuAD files; `settings` are QuestionAnsweringTask arguments."""
        task = get_task(task_name or cls.task_name, None, **settings)
        if task.doc_stride < 1 or task.max_query_length < 1:
            raise ValueError(f"doc_stride and max_query_length must be >= 1, got "
                             f"{task.doc_stride} and {task.max_query_length}")
        v2 = task.version_2_with_negative
        train = read_squad_examples(train_data, v2, encoding=encoding)
        dev = read_squad_examples(eval_data, v2, encoding=encoding) if eval_data else None
        return cls(train, dev, task)

    def features(self, examples, tokenizer):
        """The doc-stride windows (`QaFeatures`) of `examples`."""
        length = tokenizer.sequence_length
        if length < self.task.max_query_length + 4:
            raise ValueError(f"max_seq_length {length} leaves no room for the context after a "
                             f"question of max_query_length {self.task.max_query_length} "
                             f"(needs max_seq_length >= max_query_length + 4)")
        return squad_features(examples, tokenizer, sequence_length=length,
                              doc_stride=self.task.doc_stride,
                              max_query_length=self.task.max_query_length)

    def inputs(self, tokenizer, *, batch_size, seed, batch_mode):
        """Windows are always `max_seq_length` long (`batch_mode` is not used)."""
        train = self.features(self.train, tokenizer)

        def train_dataset_fn(epoch, input_context):
            return window_dataset(train, batch_size, seed + epoch, input_context)

        evaluate_fn = None
        if self.dev:
            dev = self.features(self.dev, tokenizer)
            eval_dataset = qa_dataset(dev, batch_size=batch_size)

            def evaluate_fn(model):
                logits, _ = predict_logits(model, eval_dataset)
                return self.task.compute_metrics(logits, dev)

        return TaskInputs(train_dataset_fn, len(train), evaluate_fn)

    # -- a trained model on a file, or on raw questions: training's reference path -------------

    @classmethod
    def window_logits(cls, signature, model, examples, batch_size=32):
        """(start/end logits `[windows, seq, 2]`, QaFeatures) of SquadExamples,
        windowed as in training."""
        features = cls(None, None, signature.task).features(examples, signature.tokenizer)
        logits, _ = predict_logits(model, qa_dataset(features, batch_size=batch_size))
        return logits, features

    @classmethod
    def evaluate_file(cls, signature, model, path, columns=None, batch_size=32, encoding="utf-8",
                      data_dir=None):
        """Official SQuAD exact match and F1 over a SQuAD JSON file."""
        from kerasbert.data.errors import DataError

        task = signature.task
        examples = read_squad_examples(path, task.version_2_with_negative, encoding=encoding)
        if not examples:
            raise DataError(path, "no questions to evaluate")
        logits, features = cls.window_logits(signature, model, examples, batch_size)
        return Evaluation(task.compute_metrics(logits, features), len(examples))

    @classmethod
    def predict_rows(cls, signature, model, inputs, batch_size=32):
        """`{"answer", "score"}` of each (question, context) row, by
        training's windows and `QuestionAnsweringTask.postprocess`."""
        from kerasbert.data.squad import SquadExample
        from kerasbert.tasks.signature import check_inputs

        if not check_inputs(inputs, signature.input_names):
            return []
        examples = [SquadExample(str(i), question, context, ())
                    for i, (question, context) in enumerate(zip(inputs["question"],
                                                                inputs["context"]))]
        logits, features = cls.window_logits(signature, model, examples, batch_size)
        return [{"answer": record["answer"], "score": record["score"]}
                for record in signature.task.postprocess(logits, features)]


def window_dataset(features, batch_size, seed, input_context=None):
    """Shuffled, sharded training batches of QaFeatures with static shapes:
    `(inputs, {"start_positions", "end_positions"})`, the per-replica batch
    size under `input_context`, the remainder dropped."""
    inputs = {name: getattr(features, name) for name in FEATURES}
    targets = {"start_positions": features.start_positions,
               "end_positions": features.end_positions}
    dataset = distribute(tf.data.Dataset.from_tensor_slices((inputs, targets)), shuffle=True,
                         seed=seed, num_examples=len(features), input_context=input_context)
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
