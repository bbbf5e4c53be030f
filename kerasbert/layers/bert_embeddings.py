"""BERT input embeddings: word + position + segment, then LayerNorm and dropout."""

import keras
from keras import ops

from kerasbert.layers.layer_norm import BertLayerNorm


class BertEmbeddings(keras.layers.Layer):
    """Sums token, absolute-position and segment embeddings.

    Args:
        vocab_size, type_vocab_size, max_position_embeddings, hidden_size: table sizes.
        hidden_dropout_prob: dropout after the LayerNorm.
        layer_norm_eps: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.

    Call: `token_ids`, `segment_ids` int32 `[batch, seq]` -> float `[batch, seq, hidden]`.
    """

    def __init__(self, vocab_size, type_vocab_size, max_position_embeddings, hidden_size,
                 hidden_dropout_prob=0.1, layer_norm_eps=1e-12, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.max_position_embeddings = max_position_embeddings
        self.word_embeddings = keras.layers.Embedding(
            vocab_size, hidden_size, embeddings_initializer=init, dtype=self.dtype_policy,
            name="word_embeddings")
        self.token_type_embeddings = keras.layers.Embedding(
            type_vocab_size, hidden_size, embeddings_initializer=init,
            dtype=self.dtype_policy, name="token_type_embeddings")
        self.hidden_size = hidden_size
        self.initializer = init
        self.layer_norm = BertLayerNorm(
            epsilon=layer_norm_eps, dtype="float32", name="layer_norm")
        self.dropout = keras.layers.Dropout(hidden_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.word_embeddings.build(None)
        self.token_type_embeddings.build(None)
        self.position_embeddings = self.add_weight(
            name="position_embeddings", shape=(self.max_position_embeddings, self.hidden_size),
            initializer=self.initializer)
        self.layer_norm.build((None, None, self.hidden_size))

    def call(self, token_ids, segment_ids, training=None):
        seq_len = ops.shape(token_ids)[1]
        positions = ops.cast(self.position_embeddings[:seq_len], self.compute_dtype)
        x = self.word_embeddings(token_ids) + self.token_type_embeddings(segment_ids)
        x = x + positions[None]
        x = self.layer_norm(x)
        return self.dropout(ops.cast(x, self.compute_dtype), training=training)
