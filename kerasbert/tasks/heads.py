"""Task models: a head on the encoder, each a Keras functional model.

Every model takes the encoder's input dict (`token_ids`, `segment_ids`,
`padding_mask`, int32 `[batch, seq]`) and returns float32 logits, so losses
and softmax stay in float32 under mixed precision.
"""

import keras

from kerasbert.encoder.bert_encoder import BertEncoder


def _dense(units, initializer_range, name):
    return keras.layers.Dense(
        units, dtype="float32", name=name,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range))


@keras.saving.register_keras_serializable(package="kerasbert")
class BertTaskModel(keras.Model):
    """Encoder + dropout + dense head.

    Args:
        encoder: a `BertEncoder`.
        num_outputs: logits per position (`pooled` heads: classes, 1 for
            regression, labels for multi-label; `sequence` heads: tags, 2 for
            span start/end).
        head: "pooled" (logits `[batch, num_outputs]` from the [CLS] pooler) or
            "sequence" (logits `[batch, seq, num_outputs]`).
        dropout: dropout before the head (the encoder's hidden dropout by default).
    """

    def __init__(self, encoder, num_outputs, head="pooled", dropout=None, **kwargs):
        if head not in ("pooled", "sequence"):
            raise ValueError(f"head must be 'pooled' or 'sequence', got {head!r}")
        config = encoder.bert_config
        dropout = config["hidden_dropout_prob"] if dropout is None else dropout
        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
                  for name in ("token_ids", "segment_ids", "padding_mask")}
        encoded = encoder(inputs)
        x = encoded["pooled_output"] if head == "pooled" else encoded["sequence_output"]
        if head == "sequence":
            # The pooler feeds nothing here: it gets no gradient, so it is kept
            # out of training (as run_squad / NER leave it untouched).
            encoder.pooler.trainable = False
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        logits = _dense(num_outputs, config["initializer_range"], "logits")(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_outputs, self.head, self.dropout = num_outputs, head, dropout

    def get_config(self):
        return {"name": self.name, "encoder": keras.saving.serialize_keras_object(self.encoder),
                "num_outputs": self.num_outputs, "head": self.head, "dropout": self.dropout}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(
            config["encoder"], custom_objects={"BertEncoder": BertEncoder})
        return cls(**config)
