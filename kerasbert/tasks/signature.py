"""A task's serving signature: raw strings in, the task's outputs out.

A `TaskSignature` turns a batch of raw strings into model features *in
graph* (`model_inputs`), so that Python prediction and the exported
SavedModel run the very same tokenization. The SavedModel's outputs are
`serving_outputs` (TF ops); `postprocess` gives Python records of a batch
(numpy), and `decode_outputs` turns the SavedModel's tensors back into those
records, so the two can be compared.

Each task module holds its signature beside its task, model and
preprocessor, and the task names it (`Task.signature`, "module:Class"):
`ClassificationSignature` in `classification.py`, `TaggingSignature` in
`token_classification.py`, and so on. Reading files and scoring labelled
files is the data reader's work (`Task.data_reader`); `serving.task_io`
joins the two.
"""

import tensorflow as tf


def trim_padding(features, extra_sequences=None):
    """Cut `[batch, seq]` features (and `extra_sequences`, a dict of more
    `[batch, seq]` tensors) to the longest real sequence of the batch: less
    work, and the same numbers as padding to `sequence_length` (padded keys
    get zero attention)."""
    length = tf.reduce_max(tf.reduce_sum(features["padding_mask"], axis=1))
    length = tf.maximum(length, 1)
    return ({k: v[:, :length] for k, v in features.items()},
            {k: v[:, :length] for k, v in (extra_sequences or {}).items()})


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


class TaskSignature:
    """Raw inputs in, predictions out, for one model.

    Args:
        task: the model's `kerasbert.tasks.Task` (labels, settings).
        tokenizer: its BertTokenizer (`sequence_length` = the model's max_seq_length).
        info: the model's task config (`kerasbert_task.json`).
    """

    def __init__(self, task, tokenizer, info):
        self.task, self.tokenizer, self.info = task, tokenizer, dict(info)
        self._logits_functions = {}

    @property
    def input_names(self):
        """Names of the 1-D string inputs, in signature order
        (`registry.row_inputs`)."""
        from kerasbert.tasks.registry import row_inputs

        return row_inputs(self.task.name, self.info.get("text_pair"))

    def input_signature(self):
        return [tf.TensorSpec([None], tf.string, name=name) for name in self.input_names]

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
        """Prediction records of one batch (numpy in), by default the Task's
        own (`Task.postprocess`)."""
        return self.task.postprocess(logits)

    def decode_outputs(self, outputs):
        """The SavedModel's outputs of one batch (numpy) as `postprocess` records."""
        raise NotImplementedError

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


class TextSignature(TaskSignature):
    """Inputs `text` (and `text_pair` for pair models): 1-D string tensors;
    the signature of the sentence-level tasks."""

    def model_inputs(self, inputs):
        return self.tokenizer(inputs["text"], inputs.get("text_pair")), {}
