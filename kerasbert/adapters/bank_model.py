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

A user is a model directory written by `kerasbert.train --adapter=lora`: its
`adapter.safetensors` holds the adapters and head, and its `encoder/` the
merged weights, from which the base is recovered (merged kernel minus the
user's `scale * A @ B`; everything else LoRA leaves frozen). Every user's
recovered base must agree, and every user must have the same task config
(task, labels, sequence length, pairs, head, pooling) and vocabulary: a
mismatch is a ValueError naming the users.
"""

import os

import numpy as np
import tensorflow as tf

ADAPTER_FILE = "adapter.safetensors"  # = training.fine_tune.ADAPTER_FILE
# adapter name suffix -> TF1 name inside `bert/encoder/layer_i/`
_TF1_DENSE = {"attention/query": "attention/self/query", "attention/key": "attention/self/key",
              "attention/value": "attention/self/value",
              "attention/output": "attention/output/dense",
              "feed_forward/intermediate": "intermediate/dense",
              "feed_forward/output": "output/dense"}
# task config keys that users of one bank must share
SHARED_TASK_KEYS = ("task", "labels", "settings", "max_seq_length", "text_pair", "head",
                    "pooling", "num_outputs")
# the encoder config keys that fix the inference math
ARCHITECTURE_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "hidden_act", "max_position_embeddings",
                     "type_vocab_size", "layer_norm_eps")
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


def _tf1_name(target, what):
    """TF1 name of an adapter target's kernel / bias: `layer_0/attention/query` ->
    `bert/encoder/layer_0/attention/self/query/kernel`."""
    layer, rest = target.split("/", 1)
    return f"bert/encoder/{layer}/{_TF1_DENSE[rest]}/{what}"


class UserAdapter:
    """One user's model directory, read with numpy: task config, adapter
    settings and arrays, and the base encoder weights recovered from the merged ones."""

    def __init__(self, user, directory):
        from kerasbert.adapters.lora import read_adapter
        from kerasbert.checkpoints.loading import read_checkpoint
        from kerasbert.serving.model_info import read_model_info
        from kerasbert.tasks.model_directory import ENCODER_DIR

        self.user, self.directory = user, str(directory)
        self.info = read_model_info(self.directory)
        path = os.path.join(self.directory, ADAPTER_FILE)
        if not tf.io.gfile.exists(path):
            raise ValueError(f"user {user!r}: {self.directory} has no {ADAPTER_FILE}; a bank "
                             "serves models trained with kerasbert.train --adapter=lora")
        self.arrays, self.settings = read_adapter(path)
        self.encoder_dir = os.path.join(self.directory, ENCODER_DIR)
        self.config, merged = read_checkpoint(self.encoder_dir)
        self.scale = float(self.settings["alpha"]) / float(self.settings["rank"])
        self.base = dict(merged)
        for target in self.targets:
            name = _tf1_name(target, "kernel")
            delta = self.arrays[f"{target}/lora_a"] @ self.arrays[f"{target}/lora_b"]
            self.base[name] = (merged[name] - np.float32(self.scale) * delta).astype(np.float32)

    @property
    def targets(self):
        return sorted(k[:-len("/lora_a")] for k in self.arrays if k.endswith("/lora_a"))

    def vocabulary(self):
        path = os.path.join(self.encoder_dir, "vocab.txt")
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as f:
            return f.read()


def check_users_match(users):
    """ValueError unless every `UserAdapter` shares the first one's task, vocabulary and base."""
    first = users[0]
    for other in users[1:]:
        for key in SHARED_TASK_KEYS:
            if first.info.get(key) != other.info.get(key):
                raise ValueError(
                    f"users {first.user!r} and {other.user!r} differ in their task's {key} "
                    f"({first.info.get(key)!r} vs {other.info.get(key)!r}): a bank serves users "
                    "of one task")
        diff = [k for k in ARCHITECTURE_KEYS if first.config.get(k) != other.config.get(k)]
        if diff:
            raise ValueError(f"users {first.user!r} and {other.user!r} have different base "
                             f"encoders: their configs differ in {', '.join(diff)}")
        if first.vocabulary() != other.vocabulary():
            raise ValueError(f"users {first.user!r} and {other.user!r} have different "
                             "vocabularies: a bank serves users of one base encoder")
        for name, value in first.base.items():
            theirs = other.base.get(name)
            if theirs is None or theirs.shape != value.shape or \
                    float(np.max(np.abs(theirs - value))) > BASE_TOLERANCE:
                bases = [u.settings.get("base") for u in (first, other)]
                named = f" (trained from {bases[0]} and {bases[1]})" if all(bases) else ""
                raise ValueError(
                    f"users {first.user!r} and {other.user!r} were not trained from the same "
                    f"base encoder{named}: their base weights differ at {name}; a bank "
                    "serves LoRA adapters of one base")


def _gelu(name):
    if name in ("gelu", "gelu_python"):
        return lambda x: x * (0.5 * (1.0 + tf.math.erf(x * 0.7071067811865476)))
    from kerasbert.layers.activations import get_activation

    return get_activation(name)


class LoraBankModel(tf.Module):
    """The base encoder once, every user's adapters and head stacked; see the module doc.

    Args:
        users: a list of `UserAdapter` (checked with `check_users_match`).
    """

    def __init__(self, users, name="lora_bank"):
        super().__init__(name=name)
        check_users_match(users)
        first = users[0]
        self.user_names = [u.user for u in users]
        self.info, self.config = dict(first.info), dict(first.config)
        self.encoder_dir = first.encoder_dir  # its tokenizer (vocabulary) is every user's
        self.head_kind, self.pooling = self.info["head"], self.info.get("pooling", "cls")
        self.base = {name: tf.Variable(value, trainable=False, name=name.replace("/", "_"))
                     for name, value in first.base.items()}
        targets = sorted({t for u in users for t in u.targets})
        rank = max(int(u.settings["rank"]) for u in users)
        self.rank, self.targets = rank, targets
        self.lora_a, self.lora_b = {}, {}
        for target in targets:
            kernel = first.base[_tf1_name(target, "kernel")]
            a = np.zeros((len(users), kernel.shape[0], rank), np.float32)
            b = np.zeros((len(users), rank, kernel.shape[1]), np.float32)
            for i, u in enumerate(users):
                if f"{target}/lora_a" in u.arrays:
                    r = u.arrays[f"{target}/lora_a"].shape[1]
                    a[i, :, :r] = u.arrays[f"{target}/lora_a"]
                    b[i, :r, :] = np.float32(u.scale) * u.arrays[f"{target}/lora_b"]
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
    def from_model_dirs(cls, users):
        """A bank of `{user: model directory}` (directories written by
        `kerasbert.train --adapter=lora`)."""
        if not users:
            raise ValueError("an adapter bank needs at least one user")
        return cls([UserAdapter(user, path) for user, path in users.items()])

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
            f"{memory['base'] / 2 ** 20:.1f} MiB, {memory['per_user'] / 2 ** 10:.0f} KiB per user")

