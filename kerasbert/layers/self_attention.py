"""Multi-head self-attention as in BERT, with a float32 softmax."""

import keras
from keras import ops


class BertSelfAttention(keras.layers.Layer):
    """Scaled dot-product self-attention with separate query/key/value projections
    (the checkpoint layout) and an output projection.

    Call: `hidden` float `[batch, seq, hidden]`, `attention_bias` float
    `[batch, 1, 1, seq]` (0 for tokens to attend to, a large negative number for
    padding) -> `[batch, seq, hidden]`. The softmax runs in float32 under mixed
    precision.
    """

    def __init__(self, hidden_size, num_attention_heads, attention_probs_dropout_prob=0.1,
                 initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of "
                             f"num_attention_heads {num_attention_heads}")
        self.num_heads = num_attention_heads
        self.head_size = hidden_size // num_attention_heads
        self.hidden_size = hidden_size

        def dense(name):
            return keras.layers.Dense(
                hidden_size, name=name, dtype=self.dtype_policy,
                kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range))

        self.query, self.key, self.value = dense("query"), dense("key"), dense("value")
        self.output_dense = dense("output")
        self.dropout = keras.layers.Dropout(attention_probs_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape):
        for layer in (self.query, self.key, self.value, self.output_dense):
            layer.build((None, None, self.hidden_size))

    def _split_heads(self, rows, shape):
        """`rows` `[batch * seq, hidden]` -> `[batch, heads, seq, head_size]`;
        `shape` is `(batch, seq, heads, head_size)`."""
        return ops.transpose(ops.reshape(rows, shape), (0, 2, 1, 3))

    def _head_shape(self, batch, seq):
        return (batch, seq, self.num_heads, self.head_size)

    def attention_probabilities(self, hidden, attention_bias):
        """The attention weights, float32 `[batch, heads, seq (queries), seq
        (keys)]`, each query's row summing to 1 (before dropout): what `call`
        mixes the values with. `hidden` is this layer's input, `[batch, seq,
        hidden]`."""
        shape = ops.shape(hidden)
        return self._probabilities(ops.reshape(hidden, (-1, self.hidden_size)), attention_bias,
                                   self._head_shape(shape[0], shape[1]))

    def _probabilities(self, rows, attention_bias, head_shape):
        # Scaling the queries rather than the scores: the same product, on a
        # tensor seq / head_size times smaller.
        q = self._split_heads(self.query(rows) * (1.0 / self.head_size ** 0.5), head_shape)
        k = self._split_heads(self.key(rows), head_shape)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
        scores = ops.cast(scores, "float32") + ops.cast(attention_bias, "float32")
        return ops.softmax(scores, axis=-1)

    def call(self, hidden, attention_bias, training=None):
        shape = ops.shape(hidden)
        rows = self.attend(ops.reshape(hidden, (-1, self.hidden_size)), attention_bias,
                           shape[0], shape[1], training)
        return ops.reshape(rows, (shape[0], shape[1], self.hidden_size))

    def attend(self, rows, attention_bias, batch, seq, training=None):
        """`call` on rows: `rows` `[batch * seq, hidden]` (the sequences'
        positions one after another) -> the same. Each projection is then one
        2-D matrix product with its bias fused in; on a 3-D input Keras makes
        it a tensordot, with shape arithmetic around it and the bias added
        apart (a quarter of a short request's time in LiteRT float32)."""
        head_shape = self._head_shape(batch, seq)
        probs = ops.cast(self._probabilities(rows, attention_bias, head_shape), self.compute_dtype)
        v = self._split_heads(self.value(rows), head_shape)
        probs = self.dropout(probs, training=training)
        context = ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3))
        return self.output_dense(ops.reshape(context, (-1, self.hidden_size)))
