"""Data of the text tasks (classification, regression, multi-label) for `fine_tune`."""

from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.pipeline import classification_dataset
from kerasbert.tasks import get_task
from kerasbert.training.inputs import LABEL_TYPES, read_text_examples
from kerasbert.training.predictions import predict_logits
from kerasbert.training.task_data import TaskData, TaskInputs


class TextData(TaskData):
    """TextExamples of a train and an optional dev source, with the label
    vocabulary inferred from train (none for regression)."""

    def __init__(self, task_name, train, dev, vocabulary, text_pair):
        self.task_name, self.train, self.dev = task_name, train, dev
        self.vocabulary, self.text_pair = vocabulary, text_pair
        self.task = get_task(task_name, vocabulary.labels if vocabulary else None)

    @classmethod
    def read(cls, task, train_data, eval_data=None, *, text_column="text", text_pair_column=None,
             label_column="label", data_dir=None, encoding="utf-8", header="auto"):
        train = read_text_examples(train_data, task, text_column, label_column, text_pair_column,
                                   data_dir=data_dir, encoding=encoding, header=header)
        multi = LABEL_TYPES[task] == "multi_label"
        vocabulary = None if task == "regression" else LabelVocabulary.from_examples(train, multi)
        dev = (read_text_examples(eval_data, task, text_column, label_column, text_pair_column,
                                  vocabulary, split="validation", data_dir=data_dir,
                                  encoding=encoding, header=header) if eval_data else None)
        return cls(task, train, dev, vocabulary, text_pair_column is not None)

    def inputs(self, tokenizer, *, batch_size, seed, batch_mode):
        label_type = LABEL_TYPES[self.task_name]

        def train_dataset_fn(epoch, input_context):
            return classification_dataset(
                self.train, tokenizer, batch_size=batch_size, label_vocabulary=self.vocabulary,
                label_type=label_type, mode=batch_mode, shuffle=True, seed=seed + epoch,
                input_context=input_context)

        evaluate_fn = None
        if self.dev:
            eval_dataset = classification_dataset(
                self.dev, tokenizer, batch_size=batch_size, label_vocabulary=self.vocabulary,
                label_type=label_type, mode="bucket")

            def evaluate_fn(model):
                return self.task.compute_metrics(*predict_logits(model, eval_dataset))

        return TaskInputs(train_dataset_fn, len(self.train), evaluate_fn)
