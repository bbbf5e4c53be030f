"""One BERT transformer layer (post-LayerNorm, as the original)."""

import keras
from keras import ops

from kerasbert.layers.activations import get_activation
from kerasbert.layers.layer_norm import BertLayerNorm
from kerasbert.layers.self_attention import BertSelfAttention


class BertTransformerBlock(keras.layers.Layer):
    """Self-attention and feed-forward sub-layers, each followed by dropout,
    a residual add and LayerNorm.

    Call: `hidden` `[batch, seq, hidden]`, `attention_bias` `[batch, 1, 1, seq]`
    -> `[batch, seq, hidden]`.
    """

    def __init__(self, hidden_size, num_attention_heads, intermediate_size, hidden_act="gelu",
                 hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, layer_norm_eps=1e-12,
                 initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.hidden_size = hidden_size
        self.attention = BertSelfAttention(
            hidden_size, num_attention_heads, attention_probs_dropout_prob, initializer_range,
            dtype=self.dtype_policy, name="attention")
        self.attention_dropout = keras.layers.Dropout(hidden_dropout_prob, dtype=self.dtype_policy)
        self.attention_layer_norm = BertLayerNorm(
            epsilon=layer_norm_eps, dtype="float32", name="attention_layer_norm")
        self.intermediate = keras.layers.Dense(
            intermediate_size, activation=get_activation(hidden_act), kernel_initializer=init,
            dtype=self.dtype_policy, name="intermediate")
        self.output_dense = keras.layers.Dense(hidden_size, kernel_initializer=init,
                                               dtype=self.dtype_policy, name="output")
        self.output_dropout = keras.layers.Dropout(hidden_dropout_prob, dtype=self.dtype_policy)
        self.output_layer_norm = BertLayerNorm(
            epsilon=layer_norm_eps, dtype="float32", name="output_layer_norm")

    def build(self, input_shape):
        shape = (None, None, self.hidden_size)
        self.attention.build(shape)
        self.attention_layer_norm.build(shape)
        self.intermediate.build(shape)
        self.output_dense.build(shape[:-1] + (self.intermediate.units,))
        self.output_layer_norm.build(shape)

    def call(self, hidden, attention_bias, training=None):
        # On rows `[batch * seq, hidden]`: each dense layer is one 2-D matrix
        # product (BertSelfAttention.attend).
        shape = ops.shape(hidden)
        rows = ops.reshape(hidden, (-1, self.hidden_size))
        attended = self.attention.attend(rows, attention_bias, shape[0], shape[1],
                                         training=training)
        attended = self.attention_dropout(attended, training=training)
        rows = ops.cast(self.attention_layer_norm(rows + attended), self.compute_dtype)
        ffn = self.output_dense(self.intermediate(rows))
        ffn = self.output_dropout(ffn, training=training)
        rows = ops.cast(self.output_layer_norm(rows + ffn), self.compute_dtype)
        return ops.reshape(rows, (shape[0], shape[1], self.hidden_size))
