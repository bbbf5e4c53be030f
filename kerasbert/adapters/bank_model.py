"""Many users' LoRA adapters over one base encoder, each row of a batch with its own user.

    bank = LoraBankModel.from_model_dirs({"alice": "runs/alice", "bob": "runs/bob"})
    rows = bank.user_rows(tf.constant(["alice", "bob", "alice"]))   # unknown: an error
    logits = bank(features, rows)                                    # per-row adapters + head

The base encoder's weights are held once. For every adapted projection
(`layer_i/attention/query`, ...) the bank stacks the users' LoRA matrices,
`A [N, in, r]` and `B [N, r, out]` (the scale alpha / r folded into B; users
of a smaller rank, or without an adapter there, padded with zeros), and the
task heads as `[N, hidden, outputs]`. A projection then computes, for the
rows of a batch at once (the batched gather-and-multiply of S-LoRA / Punica):

    y = x @ W + b + (x @ A[user]) @ B[user]

which is what each user's merged model (`W + scale * A @ B`) computes, up to
float rounding.

A user is a model directory written by `kerasbert.train --adapter=lora`; the
bank reads its task config (`kerasbert_task.json`) and its small
`adapter.safetensors` (adapters and head), never its merged encoder. The base
is read once, from where the adapter files say it is (`"base"` in their
settings: a preset, `hf://` handle, checkpoint or model directory, resolved by
`kerasbert.checkpoints.sources`), and must hash to the SHA-256 of the frozen
base weights the files record (`kerasbert.adapters.lora.base_record`). When it
cannot be had (moved, offline, a `--random_init` base) the base is recovered
from the first user's merged encoder instead (merged kernel minus that user's
`scale * A @ B`; everything else LoRA leaves frozen). Adding a user to a bank
is therefore a rebuild from the files in seconds.

Every user must record the same base weights (SHA-256) and have the same task
config (task, labels, sequence length, pairs, head, pooling): a mismatch is a
ValueError naming the users. Adapter files written before the base was
recorded are checked the old way, by recovering their base from their merged
encoder and comparing it with the bank's.
"""

import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from kerasbert.adapters.lora import ARCHITECTURE_KEYS, tf1_name, weights_sha256

ADAPTER_FILE = "adapter.safetensors"  # = training.fine_tune.ADAPTER_FILE
# task config keys that users of one bank must share
SHARED_TASK_KEYS = ("task", "labels", "settings", "max_seq_length", "text_pair", "head",
                    "pooling", "num_outputs")
BASE_TOLERANCE = 1e-4  # max |difference| of two users' recovered base weights


def parse_bank_spec(spec):
    """`"alice=runs/alice,bob=runs/bob"` -> {"alice": "runs/alice", "bob": "runs/bob"}."""
    users = {}
    for item in [s.strip() for s in str(spec or "").split(",") if s.strip()]:
        user, sep, path = item.partition("=")
        user, path = user.strip(), path.strip()
        if not sep or not user or not path:
            raise ValueError(f"--adapter_bank: {item!r} is not USER=MODEL_DIR "
                             "(e.g. alice=runs/alice,bob=runs/bob)")
        if user in users:
            raise ValueError(f"--adapter_bank: user {user!r} is given twice")
        users[user] = path
    if not users:
        raise ValueError("--adapter_bank: no users given (USER=MODEL_DIR,...)")
    return users


class UserAdapter:
    """What a bank reads of one user's model directory: its task config and its
    adapter file (arrays `{target/lora_a: [in, r], target/lora_b: [r, out],
    logits/kernel: [hidden, outputs], logits/bias: [outputs]}`, settings, base
    record). The merged encoder is read only by `recovered_base`."""

    def __init__(self, user, directory):
        from kerasbert.adapters.lora import read_adapter_file
        from kerasbert.tasks.model_directory import ENCODER_DIR, read_task_config

        self.user, self.directory = user, str(directory)
        self.info = read_task_config(self.directory)
        path = os.path.join(self.directory, ADAPTER_FILE)
        if not tf.io.gfile.exists(path):
            raise ValueError(f"user {user!r}: {self.directory} has no {ADAPTER_FILE}; a bank "
                             "serves models trained with kerasbert.train --adapter=lora")
        self.arrays, self.settings, self.base_record = read_adapter_file(path)
        self.encoder_dir = os.path.join(self.directory, ENCODER_DIR)
        self.scale = float(self.settings["alpha"]) / float(self.settings["rank"])
        self._vocabulary = False  # not read yet

    @property
    def targets(self):
        return sorted(k[:-len("/lora_a")] for k in self.arrays if k.endswith("/lora_a"))

    @property
    def base_sha256(self):
        return (self.base_record or {}).get("sha256")

    def recovered_base(self):
        """(config, {TF1 name: array}) of the base: this user's merged encoder
        minus its `scale * A @ B` (reads the whole merged encoder)."""
        from kerasbert.checkpoints.loading import read_checkpoint

        if not tf.io.gfile.exists(os.path.join(self.encoder_dir, "kerasbert_encoder.json")):
            raise FileNotFoundError(f"user {self.user!r}: {self.encoder_dir} (the merged "
                                    "encoder) is missing")
        config, merged = read_checkpoint(self.encoder_dir)
        base = dict(merged)
        for target in self.targets:
            name = tf1_name(target)
            delta = self.arrays[f"{target}/lora_a"] @ self.arrays[f"{target}/lora_b"]
            base[name] = (merged[name] - np.float32(self.scale) * delta).astype(np.float32)
        return config, base

    def vocabulary(self):
        """The text of the user's saved vocab.txt, None when it kept none."""
        if self._vocabulary is False:
            path = os.path.join(self.encoder_dir, "vocab.txt")
            self._vocabulary = None
            if tf.io.gfile.exists(path):
                with tf.io.gfile.GFile(path) as f:
                    self._vocabulary = f.read()
        return self._vocabulary


@dataclass
class BaseEncoder:
    """The base a bank's users share: `config` (bert_config dict), `weights`
    ({TF1 name: float32 array}), `source` (where it was read, for messages)
    and `tokenizer` (a preset, handle or directory `BertTokenizer.from_preset` reads)."""

    config: dict
    weights: dict
    source: str
    tokenizer: str


def _trained_from(first, other):
    bases = [u.settings.get("base") for u in (first, other)]
    return f" (trained from {bases[0]} and {bases[1]})" if all(bases) else ""


def check_users_match(users):
    """ValueError unless every `UserAdapter` shares the first one's task and
    recorded base (weights SHA-256 and architecture). Reads nothing."""
    first = users[0]
    for other in users[1:]:
        for key in SHARED_TASK_KEYS:
            if first.info.get(key) != other.info.get(key):
                raise ValueError(
                    f"users {first.user!r} and {other.user!r} differ in their task's {key} "
                    f"({first.info.get(key)!r} vs {other.info.get(key)!r}): a bank serves users "
                    "of one task")
    recorded = [u for u in users if u.base_record]
    for other in recorded[1:]:
        mine, theirs = recorded[0].base_record["config"], other.base_record["config"]
        diff = [k for k in ARCHITECTURE_KEYS if mine.get(k) != theirs.get(k)]
        if diff:
            raise ValueError(f"users {recorded[0].user!r} and {other.user!r} have different "
                             f"base encoders: their configs differ in {', '.join(diff)}")
        if other.base_sha256 != recorded[0].base_sha256:
            raise ValueError(
                f"users {recorded[0].user!r} and {other.user!r} were not trained from the same "
                f"base encoder{_trained_from(recorded[0], other)}: their adapter files record "
                "different base weights; a bank serves LoRA adapters of one base")


def _read_base(name):
    """(config, weights, tokenizer source) of a base named as `fine_tune` records it."""
    from kerasbert.checkpoints.loading import read_checkpoint
    from kerasbert.checkpoints.sources import resolve
    from kerasbert.tasks.model_directory import ENCODER_DIR, is_model_directory

    name = str(name)
    if is_model_directory(name):  # train --model=<a fine-tuned model directory>
        name = os.path.join(name, ENCODER_DIR)
    config, weights = read_checkpoint(resolve(name))
    return config, weights, name


def load_base(users, base=None):
    """The `BaseEncoder` of the checked `users`, read once.

    Tried in turn: `base` (a preset, handle or directory) when given, else the
    bases the users' adapter files name; the first whose weights hash to what
    the files record is taken. Else (no given `base`) the first user's merged
    encoder minus its adapters. Users whose files record no base are then
    compared with it weight by weight (their merged encoders are read).
    """
    from kerasbert.checkpoints.sources import describe

    reference = next((u for u in users if u.base_record), None)
    if base:
        candidates = [base]
    elif reference:  # only a recorded hash tells whether a named base is still the one
        candidates = list(dict.fromkeys(u.settings["base"] for u in users
                                        if u.settings.get("base")))
    else:
        candidates = []
    found, reasons = None, []
    for name in candidates:
        try:
            config, weights, tokenizer = _read_base(name)
        except (OSError, ValueError, KeyError) as err:  # missing, offline, not a checkpoint
            reasons.append(f"{name}: {str(err).splitlines()[0]}")
            continue
        mismatch = reference and _base_mismatch(config, weights, reference)
        if mismatch:
            reasons.append(f"{name}: {mismatch}")
            continue
        found = BaseEncoder(config, weights, describe(name), tokenizer)
        break
    if found is None and base:
        raise ValueError(f"base {base} does not fit the users' adapters: {'; '.join(reasons)}")
    recovered_from = None
    if found is None:
        recovered_from = reference or users[0]
        try:
            config, weights = recovered_from.recovered_base()
        except (OSError, ValueError) as err:
            tried = f" (tried {'; '.join(reasons)})" if reasons else ""
            raise ValueError(f"cannot find the base encoder of the bank's users{tried}, nor "
                             f"recover it: {err}") from None
        found = BaseEncoder(config, weights, f"user {recovered_from.user!r}'s merged encoder "
                            "minus its adapters", recovered_from.encoder_dir)
    for user in users:
        if user.base_record is None and user is not recovered_from:
            _check_recovered_base(user, found)
    return found


def _base_mismatch(config, weights, user):
    """Why the base (`config`, `weights`) is not the one `user`'s adapters were
    trained on (their file's record), or None when it is."""
    recorded = user.base_record["config"]
    diff = [k for k in ARCHITECTURE_KEYS if k in recorded and config.get(k) != recorded[k]]
    if diff:
        return f"its config differs from the one {user.user!r}'s adapters record in " \
               f"{', '.join(diff)}"
    try:
        digest = weights_sha256(weights, config["num_hidden_layers"])
    except KeyError as err:
        return f"it has no {err.args[0]}"
    if digest != user.base_sha256:
        return f"its weights are not the ones {user.user!r}'s adapters were trained on"
    return None


def _check_recovered_base(user, base):
    """ValueError unless `user`'s merged encoder minus its adapters is `base`."""
    config, weights = user.recovered_base()
    diff = [k for k in ARCHITECTURE_KEYS if base.config.get(k) != config.get(k)]
    if diff:
        raise ValueError(f"user {user.user!r} has a different base encoder than "
                         f"{base.source}: the configs differ in {', '.join(diff)}")
    for name, value in base.weights.items():
        if not name.startswith("bert/"):
            continue
        theirs = weights.get(name)
        if theirs is None or theirs.shape != value.shape or \
                float(np.max(np.abs(theirs - value))) > BASE_TOLERANCE:
            raise ValueError(
                f"user {user.user!r} was not trained from the same base encoder as the others "
                f"({base.source}): their base weights differ at {name}; a bank serves LoRA "
                "adapters of one base")


def tokenizer_source(users, base):
    """Where the bank's tokenizer is read: the first user's saved tokenizer
    (its exact settings), else the base's. ValueError unless every user's saved
    vocabulary (where it kept one) is the same."""
    kept = [u for u in users if u.vocabulary() is not None]
    for user in kept[1:]:
        if user.vocabulary() != kept[0].vocabulary():
            raise ValueError(f"users {kept[0].user!r} and {user.user!r} have different "
                             "vocabularies: a bank serves users of one base encoder")
    return kept[0].encoder_dir if kept else base.tokenizer


def _gelu(name):
    if name in ("gelu", "gelu_python"):
        return lambda x: x * (0.5 * (1.0 + tf.math.erf(x * 0.7071067811865476)))
    from kerasbert.layers.activations import get_activation

    return get_activation(name)


class LoraBankModel(tf.Module):
    """The base encoder once, every user's adapters and head stacked; see the module doc.

    Args:
        users: a list of `UserAdapter` (checked with `check_users_match`).
        base: their `BaseEncoder` (`load_base`).
    """

    def __init__(self, users, base, name="lora_bank"):
        from kerasbert.checkpoints.name_map import encoder_variable_names

        super().__init__(name=name)
        check_users_match(users)
        first = users[0]
        self.user_names = [u.user for u in users]
        self.info, self.config = dict(first.info), dict(base.config)
        self.base_source = base.source
        self.tokenizer_source = tokenizer_source(users, base)
        self.head_kind, self.pooling = self.info["head"], self.info.get("pooling", "cls")
        weights = {name: np.asarray(base.weights[name], np.float32)
                   for name in encoder_variable_names(self.config["num_hidden_layers"])}
        self.base = {name: tf.Variable(value, trainable=False, name=name.replace("/", "_"))
                     for name, value in weights.items()}
        targets = sorted({t for u in users for t in u.targets})
        rank = max(int(u.settings["rank"]) for u in users)
        self.rank, self.targets = rank, targets
        self.lora_a, self.lora_b = {}, {}
        for target in targets:
            kernel = weights[tf1_name(target)]
            a = np.zeros((len(users), kernel.shape[0], rank), np.float32)
            b = np.zeros((len(users), rank, kernel.shape[1]), np.float32)
            for i, u in enumerate(users):
                if f"{target}/lora_a" in u.arrays:
                    lora_a, lora_b = u.arrays[f"{target}/lora_a"], u.arrays[f"{target}/lora_b"]
                    r = lora_a.shape[1]
                    if lora_a.shape[0] != kernel.shape[0] or lora_b.shape[1] != kernel.shape[1]:
                        raise ValueError(f"user {u.user!r}: the adapter of {target} does not fit "
                                         f"the base's {list(kernel.shape)} kernel")
                    a[i, :, :r] = lora_a
                    b[i, :r, :] = np.float32(u.scale) * lora_b
            key = target.replace("/", "_")
            self.lora_a[target] = tf.Variable(a, trainable=False, name=f"{key}_lora_a")
            self.lora_b[target] = tf.Variable(b, trainable=False, name=f"{key}_lora_b")
        self.head_kernel = tf.Variable(np.stack([u.arrays["logits/kernel"] for u in users]),
                                       trainable=False, name="head_kernel")
        self.head_bias = tf.Variable(np.stack([u.arrays["logits/bias"] for u in users]),
                                     trainable=False, name="head_bias")
        self.users = tf.constant(self.user_names)
        self.user_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(self.users, tf.range(len(users), dtype=tf.int32)),
            default_value=-1)
        self._activation = _gelu(self.config.get("hidden_act", "gelu"))

    @classmethod
    def from_model_dirs(cls, users, base=None):
        """A bank of `{user: model directory}` (directories written by
        `kerasbert.train --adapter=lora`); `base` overrides where the base
        encoder is read (see `load_base`)."""
        if not users:
            raise ValueError("an adapter bank needs at least one user")
        adapters = [UserAdapter(user, path) for user, path in users.items()]
        check_users_match(adapters)
        return cls(adapters, load_base(adapters, base))

    @property
    def num_users(self):
        return len(self.user_names)

    # -- routing ---------------------------------------------------------------------------

    def user_rows(self, user):
        """Bank indices `[batch]` int32 of user ids (1-D strings); an unknown id
        fails with an InvalidArgumentError that names it."""
        rows = self.user_table.lookup(user)
        unknown = rows < 0
        check = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(unknown)),
            ["unknown user id(s) (not in the adapter bank):", tf.boolean_mask(user, unknown)],
            summarize=10, name="unknown_user")
        with tf.control_dependencies([check]):
            return tf.identity(rows)

    # -- the encoder -----------------------------------------------------------------------

    def _dense(self, x, prefix, rows, target=None):
        """`x @ W + b` of TF1 weights `prefix/{kernel,bias}`, plus the rows' LoRA update."""
        y = tf.matmul(x, self.base[prefix + "/kernel"]) + self.base[prefix + "/bias"]
        if target in self.lora_a:
            a = tf.gather(self.lora_a[target], rows)   # [batch, in, r]
            b = tf.gather(self.lora_b[target], rows)   # [batch, r, out]
            y = y + tf.matmul(tf.matmul(x, a), b)      # batched per row
        return y

    def _layer_norm(self, x, prefix):
        eps = self.config.get("layer_norm_eps", 1e-12)
        centered = x - tf.reduce_mean(x, axis=-1, keepdims=True)
        inv_std = tf.math.rsqrt(tf.reduce_mean(tf.square(centered), axis=-1, keepdims=True) + eps)
        return centered * inv_std * self.base[prefix + "/gamma"] + self.base[prefix + "/beta"]

    def encode(self, features, rows):
        """(sequence_output, pooled_output) of int32 features with each row's adapters."""
        token_ids, segment_ids = features["token_ids"], features["segment_ids"]
        mask = tf.cast(features["padding_mask"], tf.float32)
        seq = tf.shape(token_ids)[1]
        w = self.base
        x = (tf.gather(w["bert/embeddings/word_embeddings"], token_ids)
             + tf.gather(w["bert/embeddings/token_type_embeddings"], segment_ids)
             + w["bert/embeddings/position_embeddings"][:seq][None])
        x = self._layer_norm(x, "bert/embeddings/LayerNorm")
        bias = (1.0 - mask)[:, None, None, :] * -10000.0
        heads = self.config["num_attention_heads"]
        hidden = self.config["hidden_size"]
        size = hidden // heads
        batch = tf.shape(x)[0]

        def split(t):
            return tf.transpose(tf.reshape(t, [batch, seq, heads, size]), [0, 2, 1, 3])

        for i in range(self.config["num_hidden_layers"]):
            p, t = f"bert/encoder/layer_{i}/", f"layer_{i}/"
            q = split(self._dense(x, p + "attention/self/query", rows, t + "attention/query")
                      * (1.0 / size ** 0.5))
            k = split(self._dense(x, p + "attention/self/key", rows, t + "attention/key"))
            v = split(self._dense(x, p + "attention/self/value", rows, t + "attention/value"))
            probs = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) + bias, axis=-1)
            context = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]),
                                 [batch, seq, hidden])
            attended = self._dense(context, p + "attention/output/dense", rows,
                                   t + "attention/output")
            x = self._layer_norm(x + attended, p + "attention/output/LayerNorm")
            inner = self._activation(self._dense(x, p + "intermediate/dense", rows,
                                                 t + "feed_forward/intermediate"))
            ffn = self._dense(inner, p + "output/dense", rows, t + "feed_forward/output")
            x = self._layer_norm(x + ffn, p + "output/LayerNorm")
        pooled = tf.tanh(tf.matmul(x[:, 0, :], w["bert/pooler/dense/kernel"])
                         + w["bert/pooler/dense/bias"])
        return x, pooled

    def __call__(self, features, rows):
        """float32 logits `[batch, outputs]` (`[batch, seq, outputs]` for sequence
        heads), each row through its user's adapters and head."""
        sequence, pooled = self.encode(features, rows)
        kernel = tf.gather(self.head_kernel, rows)     # [batch, hidden, outputs]
        bias = tf.gather(self.head_bias, rows)         # [batch, outputs]
        if self.head_kind == "sequence":
            return tf.matmul(sequence, kernel) + bias[:, None, :]
        if self.pooling == "mean":
            mask = tf.cast(features["padding_mask"], tf.float32)[:, :, None]
            pooled = tf.reduce_sum(sequence * mask, axis=1) / tf.maximum(
                tf.reduce_sum(mask, axis=1), 1.0)
        return tf.squeeze(tf.matmul(pooled[:, None, :], kernel), 1) + bias

    def memory_bytes(self):
        """{"base": bytes of the shared weights, "per_user": bytes of one user's
        adapters and head} as held by the bank."""
        base = sum(int(np.prod(v.shape)) * 4 for v in self.base.values())
        stacked = sum(int(np.prod(v.shape)) * 4 for v in
                      list(self.lora_a.values()) + list(self.lora_b.values())
                      + [self.head_kernel, self.head_bias])
        return {"base": base, "per_user": stacked // max(self.num_users, 1)}


def bank_summary(bank):
    """A one-line description of a bank, for command-line programs."""
    memory = bank.memory_bytes()
    return (f"{bank.num_users} users ({', '.join(bank.user_names[:8])}"
            f"{', ...' if bank.num_users > 8 else ''}) over one base of "
            f"{memory['base'] / 2 ** 20:.1f} MiB ({bank.base_source}), "
            f"{memory['per_user'] / 2 ** 10:.0f} KiB per user")

