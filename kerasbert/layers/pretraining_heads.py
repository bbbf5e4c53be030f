"""The pretraining heads of BERT: masked-LM and next-sentence prediction."""

import keras
from keras import ops

from kerasbert.layers.activations import get_activation


@keras.saving.register_keras_serializable(package="kerasbert")
class MaskedLMHead(keras.layers.Layer):
    """Predicts token ids at masked positions with the output projection tied to
    the word-embedding table (as the reference does).

    Args:
        embedding_table: the encoder's word-embedding variable `[vocab, hidden]`.
    Call: `sequence_output` `[batch, seq, hidden]`, `masked_positions` int32
    `[batch, num_masked]` -> logits float32 `[batch, num_masked, vocab]`.
    """

    def __init__(self, embedding_table, hidden_act="gelu", layer_norm_eps=1e-12,
                 initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.embedding_table = embedding_table
        vocab_size, hidden_size = embedding_table.shape
        self.transform = keras.layers.Dense(
            hidden_size, activation=get_activation(hidden_act), name="transform",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range))
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_eps, dtype="float32", name="layer_norm")
        self.vocab_size, self.hidden_size = vocab_size, hidden_size

    @classmethod
    def for_encoder(cls, encoder, **kwargs):
        """The head of a `BertEncoder`, tied to its word embeddings, with its settings."""
        config = encoder.bert_config
        return cls(encoder.embeddings.word_embeddings.embeddings,
                   hidden_act=config["hidden_act"], layer_norm_eps=config["layer_norm_eps"],
                   initializer_range=config["initializer_range"], **kwargs)

    def build(self, input_shape=None):
        self.transform.build((None, None, self.hidden_size))
        self.layer_norm.build((None, None, self.hidden_size))
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.vocab_size,), initializer="zeros")

    def call(self, sequence_output, masked_positions):
        gathered = ops.take_along_axis(sequence_output, masked_positions[:, :, None], axis=1)
        hidden = self.layer_norm(self.transform(gathered))
        table = ops.cast(self.embedding_table, "float32")
        return ops.matmul(ops.cast(hidden, "float32"), ops.transpose(table)) + self.output_bias


@keras.saving.register_keras_serializable(package="kerasbert")
class NextSentenceHead(keras.layers.Layer):
    """Binary is-next classifier on the pooled output; its weight is stored as
    `[2, hidden]`, the checkpoint's `cls/seq_relationship/output_weights` layout.

    Call: `pooled_output` `[batch, hidden]` -> logits float32 `[batch, 2]`.
    """

    def __init__(self, hidden_size, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.initializer = keras.initializers.TruncatedNormal(stddev=initializer_range)

    def build(self, input_shape=None):
        self.output_weights = self.add_weight(
            name="output_weights", shape=(2, self.hidden_size), initializer=self.initializer)
        self.output_bias = self.add_weight(name="output_bias", shape=(2,), initializer="zeros")

    def call(self, pooled_output):
        pooled = ops.cast(pooled_output, "float32")
        return ops.matmul(pooled, ops.transpose(self.output_weights)) + self.output_bias
