"""One SavedModel (or one Python predictor) for many users' LoRA adapters, mixed users per batch.

    export_adapter_bank({"alice": "runs/alice", "bob": "runs/bob"}, "exported/bank")

    # anywhere, with only TensorFlow and tensorflow-text installed:
    serve = tf.saved_model.load("exported/bank").signatures["serving_default"]
    serve(text=tf.constant(["great film", "dull"]), user=tf.constant(["alice", "bob"]))
    # each row: what that user's own export (`export_saved_model`) returns

`serving_default` takes the users' single-model inputs (`text`, plus
`text_pair` for pair models) and `user` (1-D string, one per row), and
returns the single-model outputs (the same signature's `serving_outputs`). A user
id the bank does not hold fails the request with an error naming it.
`metadata` adds `users` (the ids served) to the task and label names.
See `kerasbert.adapters.bank_model` for the per-row LoRA computation.
"""

import json
import os

import tensorflow as tf

from kerasbert.serving.model_info import TASK_FILE
from kerasbert.serving.task_io import check_inputs, get_task_io

BANK_FILE = "kerasbert_adapter_bank.json"


class _RowsModel:
    """The bank bound to a batch's user rows: the `model` a TaskIO calls."""

    def __init__(self, bank, rows):
        self.bank, self.rows = bank, rows

    def __call__(self, features, training=False):
        return self.bank(features, self.rows)


def _task_io(bank):
    from kerasbert.tasks import get_task
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

    info = bank.info
    tokenizer = BertTokenizer.from_preset(bank.tokenizer_source,
                                          sequence_length=info["max_seq_length"])
    task = get_task(info["task"], info.get("labels"), **info.get("settings", {}))
    return get_task_io(task, tokenizer, info)


def load_bank(users, base=None):
    """(LoraBankModel, TaskIO) of `{user: model directory}`; `base` overrides
    where the shared base encoder is read (default: where the users' adapter
    files say; see `kerasbert.adapters.bank_model.load_base`)."""
    from kerasbert.adapters.bank_model import LoraBankModel

    bank = LoraBankModel.from_model_dirs(users, base)
    return bank, _task_io(bank)


class BankServingModel(tf.Module):
    """Tokenizer, the bank and the task's postprocessing as one `tf.Module`."""

    def __init__(self, bank, task_io):
        super().__init__(name="kerasbert_adapter_bank")
        self.bank, self.tokenizer, self._task_io = bank, task_io.tokenizer, task_io
        signature = task_io.input_signature() + [tf.TensorSpec([None], tf.string, name="user")]
        self.serve = tf.function(self._serve, input_signature=signature, autograph=False)
        self.metadata = tf.function(self._metadata, input_signature=[], autograph=False)

    @property
    def input_names(self):
        return tuple(self._task_io.input_names) + ("user",)

    def logits(self, *inputs):
        """(logits, extras) of 1-D string tensors in `input_names` order (user last)."""
        io = self._task_io
        *texts, user = inputs
        rows = self.bank.user_rows(user)
        return io.logits(_RowsModel(self.bank, rows), dict(zip(io.input_names, texts)))

    def _serve(self, *inputs):
        return self._task_io.serving_outputs(*self.logits(*inputs))

    def _metadata(self):
        return {**self._task_io.metadata(), "users": self.bank.users}

    def signatures(self):
        """{signature name: tf.function}, traced by `tf.saved_model.save` itself
        (see `ServingModel.signatures`)."""
        return {"serving_default": self.serve, "metadata": self.metadata}


def export_adapter_bank(users, export_dir, base=None):
    """Write the SavedModel of the bank of `users` (`{user: model directory}`).

    Only each user's task config and `adapter.safetensors` are read, and the
    base encoder once, so adding a user is a re-export in seconds.

    Returns:
        The `BankServingModel` that was saved.
    """
    bank, io = load_bank(users, base)
    module = BankServingModel(bank, io)
    tf.saved_model.save(module, str(export_dir), signatures=module.signatures())
    extra = os.path.join(str(export_dir), "assets.extra")
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, TASK_FILE), "w") as f:
        json.dump(bank.info, f, indent=2)
    with tf.io.gfile.GFile(os.path.join(extra, BANK_FILE), "w") as f:
        json.dump({"users": {u: str(p) for u, p in users.items()}, "base": bank.base_source,
                   "rank": bank.rank,
                   "targets": bank.targets, **bank.memory_bytes()}, f, indent=2)
    return module


class BankPredictor:
    """`Predictor.predict` for a bank: every row with its `user`.

        predictor = BankPredictor.from_users({"alice": "runs/alice", "bob": "runs/bob"})
        predictor.predict({"text": ["great", "dull"]}, users=["alice", "bob"])
    """

    def __init__(self, bank, task_io):
        self.bank, self.io = bank, task_io
        self.module = BankServingModel(bank, task_io)
        signature = self.module.serve.input_signature
        self._logits = tf.function(self.module.logits, input_signature=signature,
                                   autograph=False)

    @classmethod
    def from_users(cls, users, base=None):
        """The predictor of `{user: model directory}` (`base`: see `load_bank`)."""
        return cls(*load_bank(users, base))

    @property
    def input_names(self):
        return self.io.input_names

    @property
    def users(self):
        return list(self.bank.user_names)

    def predict(self, inputs, users, batch_size=32):
        """One prediction record per row of `inputs` (`{input name: [str]}`);
        `users`: the row's user id (a list as long as the inputs, or one id for all)."""
        count = check_inputs(inputs, self.io.input_names)
        users = [users] * count if isinstance(users, str) else list(users)
        if len(users) != count:
            raise ValueError(f"{len(users)} user ids for {count} rows: give one per row")
        unknown = sorted(set(users) - set(self.bank.user_names))
        if unknown:
            raise KeyError(f"unknown user {unknown[0]!r}: the adapter bank serves "
                           f"{', '.join(self.bank.user_names)}")
        records = []
        for start in range(0, count, batch_size):
            batch = [tf.constant(inputs[n][start:start + batch_size], tf.string)
                     for n in self.io.input_names]
            batch.append(tf.constant(users[start:start + batch_size], tf.string))
            logits, extras = self._logits(*batch)
            records.extend(self.io.postprocess(
                logits.numpy(), tf.nest.map_structure(lambda t: t.numpy(), extras)))
        return records
