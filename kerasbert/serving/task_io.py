"""How a task meets raw inputs: the base of the per-task prediction, evaluation
and serving code, and the registry that finds it by task name.

A `TaskIO` turns a batch of raw strings into model features *in graph*
(`model_inputs`), so that `Predictor.predict` and the exported SavedModel run
the very same tokenization; predictions are then made by the Task itself
(`Task.postprocess`, numpy) in Python, and by `serving_outputs` (TF ops) in
the SavedModel. `decode_outputs` turns the SavedModel's tensors back into
`postprocess`'s records, so the two can be compared.

A task names its TaskIO (`Task.task_io`, "module:Class"); a TaskIO can also be
given to a task by name, `register_task_io("name", Cls)` (replacing the one it
names).
"""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

_REGISTRY = {}  # task name -> TaskIO class given by register_task_io
PREDICT_CHUNK_ROWS = 10_000  # rows of a file held at once when predicting it


@dataclasses.dataclass
class Columns:
    """Where inputs sit in a CSV / TSV / JSONL file: a header name or a
    0-based index for each (None: not read), and whether a CSV / TSV file's
    first row is a header ("auto", "yes", "no": see `read_delimited`)."""

    text: object = "text"
    text_pair: object = None
    label: object = "label"
    header: object = "auto"


@dataclasses.dataclass
class Evaluation:
    """The result of `TaskIO.evaluate`.

    Attributes:
        metrics: `{name: value}` as the task's `compute_metrics` gives them.
        num_examples: examples (sentences, questions) scored.
        confusion: `[k, k]` counts (rows true, columns predicted) for
            single-label classification, else None.
        label_names: the names of the confusion matrix's rows.
    """

    metrics: dict
    num_examples: int
    confusion: Optional[np.ndarray] = None
    label_names: Optional[list] = None


def trim_padding(features, extra_sequences=None):
    """Cut `[batch, seq]` features (and `extra_sequences`, a dict of more
    `[batch, seq]` tensors) to the longest real sequence of the batch: less
    work, and the same numbers as padding to `sequence_length` (padded keys
    get zero attention)."""
    length = tf.reduce_max(tf.reduce_sum(features["padding_mask"], axis=1))
    length = tf.maximum(length, 1)
    return ({k: v[:, :length] for k, v in features.items()},
            {k: v[:, :length] for k, v in (extra_sequences or {}).items()})


class TaskIO:
    """Raw inputs in, predictions out, for one model directory.

    Args:
        task: the model's `kerasbert.tasks.Task` (labels, settings).
        tokenizer: its BertTokenizer (`sequence_length` = the model's max_seq_length).
        info: the model directory's task config (`kerasbert_task.json`).
    """

    def __init__(self, task, tokenizer, info):
        self.task, self.tokenizer, self.info = task, tokenizer, dict(info)
        self._logits_functions = {}

    # -- inputs ----------------------------------------------------------------------------

    @property
    def input_names(self):
        """Names of the 1-D string inputs, in signature order (by default as
        `model_info.input_names` has them for the built-in tasks)."""
        from kerasbert.serving.model_info import input_names

        return input_names(self.info)

    def input_signature(self):
        return [tf.TensorSpec([None], tf.string, name=name) for name in self.input_names]

    def read_inputs(self, path, columns, encoding="utf-8"):
        """`{input name: [str]}` from a CSV / TSV / JSONL file (unlabelled)."""
        texts = {name: [] for name in self.input_names}
        for chunk in self.iter_inputs(path, columns, encoding):
            for name in texts:
                texts[name].extend(chunk[name])
        return texts

    def iter_inputs(self, path, columns, encoding="utf-8", rows=PREDICT_CHUNK_ROWS):
        """`read_inputs`'s rows, `rows` at a time, as `{input name: [str]}`
        chunks in file order, reading the file a record at a time (a file
        larger than memory can be predicted chunk by chunk). A file without
        rows is a DataError ("no examples"), as `read_inputs`."""
        from kerasbert.data.errors import DataError
        from kerasbert.training.inputs import text_source

        names = self.input_names
        if len(names) > 1 and columns.text_pair is None:
            raise ValueError(f"this {self.task.name} model reads "
                             f"{' and '.join(names)}: give --text_pair_column")
        source = text_source(path, None, columns.text, None,
                             columns.text_pair if len(names) > 1 else None,
                             encoding=encoding, labelled=False, header=columns.header)
        chunk, empty = {name: [] for name in names}, True
        for example in source.examples():
            chunk[names[0]].append(example.text)
            if len(names) > 1:
                chunk[names[1]].append(example.text_pair)
            if len(chunk[names[0]]) == rows:
                yield chunk
                chunk, empty = {name: [] for name in names}, False
        if chunk[names[0]]:
            yield chunk
        elif empty:
            raise DataError(path, "no examples")

    # -- in graph --------------------------------------------------------------------------

    def model_inputs(self, inputs):
        """(features, extras) of a batch: `features` the model's int32
        `[batch, seq]` dict, `extras` a dict of whatever `postprocess` needs
        besides the logits (`[batch, seq]` entries are trimmed with the features)."""
        raise NotImplementedError

    # `[batch, seq]` extras cut with the features; `trim = False` keeps every
    # batch at `sequence_length` (when postprocessing looks at every position).
    sequence_extras = ()
    trim = True

    def logits(self, model, inputs):
        """(float32 logits, extras) of a batch of raw strings `{name: [batch]}`."""
        features, extras = self.model_inputs(inputs)
        if self.trim:
            sequences = {k: v for k, v in extras.items() if k in self.sequence_extras}
            features, sequences = trim_padding(features, sequences)
            extras = {**extras, **sequences}
        return model(features, training=False), extras

    def serving_outputs(self, logits, extras):
        """The SavedModel's output tensors (TF ops only)."""
        raise NotImplementedError

    def metadata(self):
        """Constant outputs of the SavedModel's `metadata` signature."""
        return {"task": tf.constant(self.task.name),
                "label_names": tf.constant(list(self.task.labels or []), tf.string)}

    # -- in Python -------------------------------------------------------------------------

    def postprocess(self, logits, extras):
        """Prediction records of one batch (numpy in), from `Task.postprocess`."""
        raise NotImplementedError

    def decode_outputs(self, outputs):
        """The SavedModel's outputs of one batch (numpy) as `postprocess` records."""
        raise NotImplementedError

    supports_windows = False  # `predict_windows` / `evaluate_windows` for long texts

    def logits_function(self, model):
        """The compiled `logits` of `model`: positional 1-D string tensors (in
        `input_names` order) -> (logits, extras); traced once per model."""
        functions = self._logits_functions
        if id(model) not in functions:  # the model is kept, so its id stays its own
            functions[id(model)] = (model, tf.function(
                lambda *args: self.logits(model, dict(zip(self.input_names, args))),
                input_signature=self.input_signature(), autograph=False))
        return functions[id(model)][1]

    def predict(self, model, inputs, batch_size=32):
        """Prediction records, one per input row.

        Args:
            model: the task model.
            inputs: `{input name: list of str}`, equally long.
            batch_size: rows per model call.
        """
        fn = self.logits_function(model)
        count = check_inputs(inputs, self.input_names)
        records = []
        for start in range(0, count, batch_size):
            batch = [tf.constant(inputs[name][start:start + batch_size], tf.string)
                     for name in self.input_names]
            logits, extras = fn(*batch)
            records.extend(self.postprocess(logits.numpy(),
                                            tf.nest.map_structure(lambda t: t.numpy(), extras)))
        return records

    def evaluate(self, model, path, columns, batch_size=32, encoding="utf-8", data_dir=None):
        """An `Evaluation` of `model` on a labelled file (`data_dir`: where a
        `tfds:NAME` source's local data is)."""
        raise NotImplementedError


def check_inputs(inputs, names):
    """The row count of `inputs` (`{name: list}`), after checking it has every
    input of `names`, all of one length."""
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ValueError(f"missing input {missing[0]!r}: this model reads {', '.join(names)}")
    counts = {n: len(inputs[n]) for n in names}
    if len(set(counts.values())) > 1:
        raise ValueError(f"inputs differ in length: {counts}")
    return counts[names[0]]


def register_task_io(task_name, cls):
    """Make `cls` (a TaskIO subclass) the inputs / outputs of task `task_name`
    (in place of the one its Task names, `Task.task_io`)."""
    _REGISTRY[task_name] = cls


def get_task_io(task, tokenizer, info):
    """The TaskIO of `task`: one registered for `task.name`, else the one its
    Task names (`Task.task_io`)."""
    cls = _REGISTRY.get(task.name)
    if cls is None and getattr(task, "task_io", None):
        from kerasbert.tasks.registry import load_declared

        cls = load_declared(task.task_io)
    if cls is None:
        raise ValueError(f"task {task.name!r} has no prediction / serving support yet; "
                         f"name its TaskIO (Task.task_io) or add one with "
                         f"kerasbert.serving.register_task_io")
    return cls(task, tokenizer, info)
