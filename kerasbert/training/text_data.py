"""Data of the text tasks (classification, regression, multi-label) for `fine_tune`.

The train and dev sources stream (`data.streaming.TextSource`): a first pass
checks every record, counts them and collects the training labels (unless
they are given), and the input pipelines read the files again on each epoch,
so memory stays flat in the data size.
"""

from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.pipeline import classification_dataset
from kerasbert.tasks import get_task
from kerasbert.training.inputs import label_type_of, text_source
from kerasbert.training.predictions import predict_logits
from kerasbert.training.task_data import TaskData, TaskInputs


class TextData(TaskData):
    """A train and an optional dev `TextSource` with their first-pass
    summaries, and the label vocabulary: given, or inferred from train (none
    for regression)."""

    def __init__(self, task_name, train, dev, vocabulary, text_pair, train_summary=None,
                 dev_summary=None):
        self.task_name, self.train, self.dev = task_name, train, dev
        self.vocabulary, self.text_pair = vocabulary, text_pair
        self.train_summary = train_summary or train.scan(vocabulary)
        self.dev_summary = dev_summary or (dev.scan(vocabulary) if dev else None)
        self.task = get_task(task_name, vocabulary.labels if vocabulary else None)

    @classmethod
    def read_for_task(cls, task, train_data, eval_data=None, *, encoding="utf-8",
                      task_settings=None, **sources):
        if task_settings:
            raise ValueError(f"task {task!r} has no settings, got {sorted(task_settings)}")
        return cls.read(task, train_data, eval_data, encoding=encoding, **sources)

    @classmethod
    def read(cls, task, train_data, eval_data=None, *, text_column="text", text_pair_column=None,
             label_column="label", data_dir=None, encoding="utf-8", header="auto", labels=None):
        """Scan `train_data` (and `eval_data`): every record checked, in constant memory.

        Args:
            labels: the label vocabulary in id order (classification,
                multilabel); a label outside it is a DataError naming the
                file, line and field. Default: the labels of `train_data`,
                integer-like ones by value, the rest by text.
        """
        label_type = label_type_of(task)
        multi = label_type == "multi_label"
        if labels is not None:
            if label_type == "regression":
                from kerasbert.tasks.registry import listing, tasks_with

                raise ValueError(f"labels apply to the {listing(tasks_with('accepts_label_list'))}"
                                 f" tasks, not {task}")
            vocabulary = LabelVocabulary(labels, multi, unknown=LabelVocabulary.NOT_GIVEN)
        else:
            vocabulary = None

        def source(path, split):
            return text_source(path, task, text_column, label_column, text_pair_column,
                               split=split, data_dir=data_dir, encoding=encoding, header=header)

        train = source(train_data, "train")
        train_summary = train.scan(vocabulary)
        if vocabulary is None and label_type != "regression":
            vocabulary = LabelVocabulary.from_label_set(train_summary.labels, multi)
        dev = source(eval_data, "validation") if eval_data else None
        dev_summary = dev.scan(vocabulary) if dev else None
        return cls(task, train, dev, vocabulary, text_pair_column is not None, train_summary,
                   dev_summary)

    def inputs(self, tokenizer, *, batch_size, seed, batch_mode):
        label_type = self.task.label_type

        def train_dataset_fn(epoch, input_context):
            return classification_dataset(
                self.train, tokenizer, batch_size=batch_size, label_vocabulary=self.vocabulary,
                label_type=label_type, mode=batch_mode, shuffle=True, seed=seed + epoch,
                input_context=input_context, summary=self.train_summary)

        evaluate_fn = None
        if self.dev:
            eval_dataset = classification_dataset(
                self.dev, tokenizer, batch_size=batch_size, label_vocabulary=self.vocabulary,
                label_type=label_type, mode="bucket", summary=self.dev_summary)

            def evaluate_fn(model):
                return self.task.compute_metrics(*predict_logits(model, eval_dataset))

        return TaskInputs(train_dataset_fn, self.train_summary.num_examples, evaluate_fn)
