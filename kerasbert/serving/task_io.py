"""How a model meets raw inputs and files: its task's serving signature
joined with its task's data reader.

The signature (`Task.signature`, a `tasks.signature.TaskSignature` kept in
the task's module) turns raw strings into features in the graph and logits
into the task's outputs, for `Predictor.predict` and the exported
SavedModel alike. The data reader (`Task.data_reader`, a
`training.task_data.TaskData`) scores labelled files as training scores its
dev set. A `TaskIO` holds both for one model, and reads the rows of a file
to predict.

A task can also be given another TaskIO by name,
`register_task_io("name", Cls)` (a TaskIO subclass, replacing the default).
"""

from kerasbert.tasks.signature import check_inputs, trim_padding  # noqa: F401 (re-exported)
from kerasbert.training.task_data import Columns, Evaluation  # noqa: F401 (re-exported)

_REGISTRY = {}  # task name -> TaskIO class given by register_task_io
PREDICT_CHUNK_ROWS = 10_000  # rows of a file held at once when predicting it


class TaskIO:
    """Raw inputs in, predictions out, and labelled files scored, for one
    model; built of the model's task, tokenizer and task config as its
    signature is (`tasks.signature.TaskSignature`)."""

    def __init__(self, task, tokenizer, info):
        from kerasbert.tasks.registry import load_declared

        if not task.signature:
            raise ValueError(f"task {task.name!r} has no serving signature: name one "
                             f"(Task.signature) or add a TaskIO with "
                             f"kerasbert.serving.register_task_io")
        self.task, self.tokenizer = task, tokenizer
        self.signature = load_declared(task.signature)(task, tokenizer, info)
        self.reader = load_declared(task.data_reader)

    @property
    def input_names(self):
        """Names of the 1-D string inputs, in signature order."""
        return self.signature.input_names

    def input_signature(self):
        return self.signature.input_signature()

    # -- the signature, in graph (ServingModel, the adapter bank) ----------------------------

    def logits(self, model, inputs):
        return self.signature.logits(model, inputs)

    def serving_outputs(self, logits, extras):
        return self.signature.serving_outputs(logits, extras)

    def metadata(self):
        return self.signature.metadata()

    def postprocess(self, logits, extras):
        return self.signature.postprocess(logits, extras)

    def decode_outputs(self, outputs):
        return self.signature.decode_outputs(outputs)

    # -- rows of a file ------------------------------------------------------------------------

    def read_inputs(self, path, columns, encoding="utf-8"):
        """`{input name: [str]}` from a CSV / TSV / JSONL file (unlabelled)."""
        texts = {name: [] for name in self.input_names}
        for chunk in self.iter_inputs(path, columns, encoding):
            for name in texts:
                texts[name].extend(chunk[name])
        return texts

    def iter_inputs(self, path, columns, encoding="utf-8", rows=None):
        """`read_inputs`'s rows, `rows` (default `PREDICT_CHUNK_ROWS`) at a
        time, as `{input name: [str]}`
        chunks in file order, reading the file a record at a time (a file
        larger than memory can be predicted chunk by chunk). A file without
        rows is a DataError ("no examples"), as `read_inputs`."""
        from kerasbert.data.errors import DataError
        from kerasbert.training.inputs import text_source

        names, rows = self.input_names, rows or PREDICT_CHUNK_ROWS
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

    # -- predictions and scores ----------------------------------------------------------------

    @property
    def supports_windows(self):
        """Whether long texts may be predicted over windows (`Task.stride_windows`)."""
        return bool(self.task.stride_windows)

    def predict(self, model, inputs, batch_size=32):
        """Prediction records, one per row of `inputs` (`{input name: [str]}`)."""
        return self.reader.predict_rows(self.signature, model, inputs, batch_size)

    def predict_windows(self, model, inputs, stride, batch_size=32):
        """Prediction records of texts longer than the model's sequence."""
        return self.reader.predict_windows(self.signature, model, inputs, stride, batch_size)

    def evaluate(self, model, path, columns, batch_size=32, encoding="utf-8", data_dir=None):
        """An `Evaluation` of `model` on a labelled file (`data_dir`: where a
        `tfds:NAME` source's local data is)."""
        return self.reader.evaluate_file(self.signature, model, path, columns, batch_size,
                                         encoding, data_dir)

    def evaluate_windows(self, model, path, columns, stride, batch_size=32, encoding="utf-8",
                         data_dir=None):
        """`evaluate` with each long text's prediction taken over its windows."""
        return self.reader.evaluate_windows(self.signature, model, path, columns, stride,
                                            batch_size, encoding, data_dir)


def register_task_io(task_name, cls):
    """Make `cls` (a TaskIO subclass) the inputs / outputs of task `task_name`
    (in place of the default one)."""
    _REGISTRY[task_name] = cls


def get_task_io(task, tokenizer, info):
    """The TaskIO of `task`: one registered for `task.name`, else the default
    (its signature and its data reader)."""
    return _REGISTRY.get(task.name, TaskIO)(task, tokenizer, info)
