"""The BERT encoder (backbone) as a Keras functional model."""

import keras
from keras import ops

from kerasbert.checkpoints.loading import assign_encoder, read_encoder
from kerasbert.layers.bert_embeddings import BertEmbeddings
from kerasbert.layers.transformer_block import BertTransformerBlock

INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")
# The projections LoRA adapts, by name within a layer (`layer_0/attention/query`).
LORA_ATTENTION = ("query", "key", "value", "output")
LORA_FEED_FORWARD = ("intermediate", "output")


@keras.saving.register_keras_serializable(package="kerasbert")
class BertEncoder(keras.Model):
    """BERT: embeddings, a stack of transformer layers and the [CLS] pooler.

    The constructor arguments are the keys of Google's `bert_config.json`, so
    `BertEncoder(**bert_config)` builds the published architecture.

    Inputs (a dict), all int32 `[batch, seq]`: `token_ids`, `segment_ids`,
    `padding_mask` (1 for real tokens, 0 for padding).
    Outputs (a dict): `sequence_output` `[batch, seq, hidden_size]`,
    `pooled_output` `[batch, hidden_size]` (tanh dense on [CLS]) and, with
    `output_hidden_states=True`, `hidden_states`: the embedding output and every
    layer's output, `num_hidden_layers + 1` tensors `[batch, seq, hidden_size]`.
    """

    def __init__(self, vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
                 hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                 max_position_embeddings=512, type_vocab_size=2, initializer_range=0.02,
                 layer_norm_eps=1e-12, output_hidden_states=False, dtype=None, lora=None,
                 **kwargs):
        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in INPUT_NAMES}
        embeddings = BertEmbeddings(
            vocab_size, type_vocab_size, max_position_embeddings, hidden_size,
            hidden_dropout_prob, layer_norm_eps, initializer_range, dtype=dtype, name="embeddings")
        hidden = embeddings(inputs["token_ids"], inputs["segment_ids"])
        attention_bias = AttentionBias(name="attention_bias")(inputs["padding_mask"])
        hidden_states = [hidden]
        blocks = []
        for i in range(num_hidden_layers):
            block = BertTransformerBlock(
                hidden_size, num_attention_heads, intermediate_size, hidden_act,
                hidden_dropout_prob, attention_probs_dropout_prob, layer_norm_eps,
                initializer_range, dtype=dtype, name=f"transformer_layer_{i}")
            hidden = block(hidden, attention_bias)
            hidden_states.append(hidden)
            blocks.append(block)
        pooler = keras.layers.Dense(
            hidden_size, activation="tanh", dtype=dtype, name="pooler",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range))
        pooled = pooler(hidden[:, 0, :])
        outputs = {"sequence_output": hidden, "pooled_output": pooled}
        if output_hidden_states:
            outputs["hidden_states"] = hidden_states
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        self.embeddings, self.transformer_layers, self.pooler = embeddings, blocks, pooler
        # The policy every sublayer got (a functional model keeps none of its own).
        self._layers_dtype = embeddings.dtype_policy
        self._config = dict(
            vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads, intermediate_size=intermediate_size,
            hidden_act=hidden_act, hidden_dropout_prob=hidden_dropout_prob,
            attention_probs_dropout_prob=attention_probs_dropout_prob,
            max_position_embeddings=max_position_embeddings, type_vocab_size=type_vocab_size,
            initializer_range=initializer_range, layer_norm_eps=layer_norm_eps,
            output_hidden_states=output_hidden_states)
        self.lora = None
        if lora is not None:  # a saved encoder's adapters: enabled before its weights load
            self.enable_lora(**lora)

    # -- LoRA -------------------------------------------------------------------------------

    def lora_targets(self, feed_forward=False):
        """{name: Dense} of the projections LoRA adapts, e.g.
        `layer_0/attention/query` (and the feed-forward ones with `feed_forward`)."""
        targets = {}
        for i, block in enumerate(self.transformer_layers):
            attention = block.attention
            for name, dense in zip(LORA_ATTENTION, (attention.query, attention.key,
                                                    attention.value, attention.output_dense)):
                targets[f"layer_{i}/attention/{name}"] = dense
            if feed_forward:
                for name, dense in zip(LORA_FEED_FORWARD, (block.intermediate,
                                                           block.output_dense)):
                    targets[f"layer_{i}/feed_forward/{name}"] = dense
        return targets

    def enable_lora(self, rank, alpha=None, feed_forward=False):
        """Add rank-`rank` LoRA adapters (Keras' `Dense.enable_lora`) to the
        attention projections (and the feed-forward ones with
        `feed_forward`) and freeze every other weight of the encoder: what
        trains is the adapter matrices. `alpha` scales the update by
        alpha / rank (default rank). The settings go into `get_config` and
        the base kernels and adapters into `.keras` files, so a saved encoder
        loads with the same adapters, trainable as before.

        Returns the settings: `{"rank", "alpha", "feed_forward"}`."""
        if self.lora is not None:
            raise ValueError(f"LoRA is already enabled on this encoder (rank {self.lora['rank']})")
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f"lora rank must be an integer >= 1, got {rank!r}")
        alpha = rank if alpha is None else alpha
        targets = self.lora_targets(feed_forward)
        for dense in targets.values():
            dense.enable_lora(rank, lora_alpha=alpha)
        adapters = {id(v) for dense in targets.values()
                    for v in (dense.lora_kernel_a, dense.lora_kernel_b)}
        for variable in self.variables:
            if id(variable) not in adapters:
                variable.trainable = False
        self.lora = {"rank": rank, "alpha": alpha, "feed_forward": bool(feed_forward)}
        self.lora_weights = LoraWeights(self.lora_targets, name="lora_weights")
        return dict(self.lora)

    # -- configuration ----------------------------------------------------------------------

    @property
    def bert_config(self):
        """The architecture as a `bert_config.json` dict."""
        config = dict(self._config)
        config.pop("output_hidden_states")
        return config

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, **self._config,
                  "dtype": keras.dtype_policies.serialize(self._layers_dtype)}
        if self.lora is not None:
            config["lora"] = dict(self.lora)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    @classmethod
    def from_preset(cls, name_or_path, load_weights=True, allow_pickle=False, **overrides):
        """An encoder from a preset name or a checkpoint directory.

        `name_or_path`: a preset name (`kerasbert.list_presets()`), or a directory
        in kerasbert's own layout, the Hugging Face layout (`config.json` +
        `model.safetensors`) or the TF1 layout (`bert_config.json` +
        `bert_model.ckpt.*`), detected from the files present. `overrides`
        replace config values (e.g. dropout rates, `output_hidden_states`).
        """
        config, arrays, directory = read_encoder(name_or_path, load_weights, allow_pickle)
        encoder = cls(**{**config, **overrides})
        if arrays is not None:
            assign_encoder(encoder, arrays, directory)
        return encoder


@keras.saving.register_keras_serializable(package="kerasbert")
class AttentionBias(keras.layers.Layer):
    """`padding_mask` int `[batch, seq]` -> additive float32 bias `[batch, 1, 1, seq]`:
    0 where attended, -10000 (the reference's value) where padded."""

    def call(self, padding_mask):
        mask = ops.cast(padding_mask, "float32")
        # expand_dims, not indexing with new axes: LiteRT's strided slice has none.
        return ops.expand_dims(ops.expand_dims((1.0 - mask) * -10000.0, 1), 1)


class LoraWeights(keras.layers.Layer):
    """What a `.keras` file keeps of an encoder's LoRA: each adapted
    projection's base kernel and adapter matrices, apart. (Keras' `Dense`
    saves its kernel with the adapters merged in and, loading, zeroes them.)
    Keras saves and loads this layer after the encoder's own layers, so its
    values are the last written. It holds no variables of its own."""

    def __init__(self, targets, **kwargs):
        super().__init__(**kwargs)
        self._targets = targets  # () -> {name: Dense}: the encoder's `lora_targets`
        self.built = True

    def _lora_variables(self):
        variables = {}
        for name, dense in self._targets(feed_forward=True).items():
            if dense.lora_enabled:
                key = name.replace("/", ".")
                variables[f"{key}.kernel"] = dense._kernel
                variables[f"{key}.lora_a"] = dense.lora_kernel_a
                variables[f"{key}.lora_b"] = dense.lora_kernel_b
        return variables

    def save_own_variables(self, store):
        for key, variable in self._lora_variables().items():
            store[key] = variable.numpy()

    def load_own_variables(self, store):
        for key, variable in self._lora_variables().items():
            variable.assign(store[key])
