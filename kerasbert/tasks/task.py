"""What a task is: its head, its loss, its metrics and its predictions."""

import tensorflow as tf


class Task:
    """Base of the task definitions.

    A task says how many logits its head has (`num_outputs`) and where
    (`head`: "pooled" or "sequence"), how to turn logits and labels into a loss
    (`loss`), how to score whole-dev-set predictions (`compute_metrics`) and
    how to present them (`postprocess`). Labels with value `ignore_label`
    (padding examples or positions) carry no loss and no metric.

    The class attributes below are what the rest of the package asks of a
    task (through `kerasbert.tasks.registry`); the defaults are those of a
    sentence-level text task. Keep them literals: the command-line programs
    read them from the source, without importing TensorFlow
    (`registry.task_attribute`). Classes are named "module:Class" and
    imported where they are used: the data reader (training's layer) and the
    serving signature (kept in the task's own module).
    """

    name = None
    head = "pooled"
    main_metric = None
    greater_is_better = True
    ignore_label = -100

    # Labels: "categorical", "multi_label" or "regression" for the text tasks
    # (`data.labels`), None where the data reader has its own (tags, spans).
    label_type = None
    # Whether a label vocabulary may be given (`--labels`).
    accepts_label_list = False
    # Whether the data is a CSV / TSV / JSONL file or tfds:NAME read by the
    # column flags (--text_column, --text_pair_column, --label_column).
    reads_text_columns = True
    # The `fine_tune` arguments (train flags) that are settings of the task:
    # they go to its constructor and are saved with the model.
    setting_names = ()
    # The raw inputs of one row in evaluate / predict / export, in signature
    # order; None: "text", and "text_pair" for models trained on pairs.
    input_names = None
    # Whether texts longer than the model's sequence may be predicted over
    # windows (evaluate / predict --stride).
    stride_windows = False
    # The training data's reader: a `training.task_data.TaskData` subclass.
    data_reader = "kerasbert.training.text_data:TextData"
    # Raw inputs in, predictions out: a `tasks.signature.TaskSignature`
    # subclass, kept in the task's module (None: the task is not served).
    signature = None
    # The default space of `kerasbert.tune` (see `tuning.search_space`): the
    # BERT paper's fine-tuning ranges (Devlin et al. 2019, appendix A.3),
    # widened around its learning rates on a log scale.
    search_space = {
        "learning_rate": {"type": "float", "min": 1e-5, "max": 1e-4, "sampling": "log"},
        "batch_size": {"type": "choice", "values": [16, 32]},
        "epochs": {"type": "int", "min": 2, "max": 4},
        "warmup_ratio": {"type": "choice", "values": [0.0, 0.06, 0.1]},
        "weight_decay": {"type": "choice", "values": [0.0, 0.01]},
        "dropout": {"type": "choice", "values": [0.0, 0.1]},
        "layer_decay": {"type": "choice", "values": [1.0, 0.9, 0.8]},
    }

    def __init__(self, labels=None):
        self.labels = list(labels) if labels is not None else None

    @property
    def num_outputs(self):
        return len(self.labels)

    def loss(self, labels, logits):
        """(sum of per-example losses, number of counted examples) for one
        replica's batch; the trainer divides by the global count."""
        raise NotImplementedError

    def compute_metrics(self, logits, labels):
        """{metric: value} over the whole dev set (numpy arrays)."""
        raise NotImplementedError

    def postprocess(self, logits):
        """Predictions as plain Python values, one per example."""
        raise NotImplementedError

    def confusion(self, logits, labels):
        """(confusion matrix `[k, k]`, its label names) over a dev set, or
        (None, None) where none applies."""
        return None, None

    def config(self):
        return {"task": self.name, "labels": self.labels}


def masked_sum(per_item_loss, mask):
    """(sum of `per_item_loss` where mask, count of mask) as float32 scalars."""
    mask = tf.cast(mask, tf.float32)
    return tf.reduce_sum(tf.cast(per_item_loss, tf.float32) * mask), tf.reduce_sum(mask)
