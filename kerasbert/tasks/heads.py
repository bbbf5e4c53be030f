"""The head of a task model on the encoder (`keras_task.BertTask` is the model).

Every task model takes the encoder's input dict (`token_ids`, `segment_ids`,
`padding_mask`, int32 `[batch, seq]`) and returns float32 logits, so losses
and softmax stay in float32 under mixed precision.
"""

import keras

from kerasbert.layers.crf import CRF
from kerasbert.layers.mean_pooling import MaskedMeanPooling

POOLINGS = ("cls", "mean")
# How much faster a CRF head's transition scores learn than the rest of the
# model (`layers.crf.CRF`): BERT-CRF taggers commonly give the CRF a
# learning rate tens to a hundred times BERT's fine-tuning rate.
CRF_LEARNING_RATE_MULTIPLIER = 100.0


def _dense(units, initializer_range, name):
    return keras.layers.Dense(
        units, dtype="float32", name=name,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range))


def task_head(encoder, num_outputs, head="pooled", dropout=None, pooling="cls", crf=False):
    """(inputs, logits) of a task model: the encoder's input dict and the
    float32 logits of a dense head on it (`BertTask` builds its model from them).

    Args:
        encoder: a `BertEncoder`.
        num_outputs: logits per position (`pooled` heads: classes, 1 for
            regression, labels for multi-label; `sequence` heads: tags, 2 for
            span start/end).
        head: "pooled" (logits `[batch, num_outputs]` from one vector per
            sequence) or "sequence" (logits `[batch, seq, num_outputs]`).
        dropout: dropout before the head.
        pooling: the vector of a "pooled" head: "cls" (BERT's tanh pooler on
            [CLS]) or "mean" (the mean of the real tokens' vectors, as
            sentence-embedding checkpoints are trained to be read).
        crf: a "sequence" head ends in a `layers.crf.CRF` layer (named "crf")
            of transition scores between the outputs (learning
            `CRF_LEARNING_RATE_MULTIPLIER` times faster than the rest): the
            logits pass through it unchanged, the task's loss and decoding
            read it.
    """
    if head not in ("pooled", "sequence"):
        raise ValueError(f"head must be 'pooled' or 'sequence', got {head!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if crf and head != "sequence":
        raise ValueError("a CRF needs a 'sequence' head")
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
              for name in ("token_ids", "segment_ids", "padding_mask")}
    encoded = encoder(inputs)
    if head == "sequence":
        x = encoded["sequence_output"]
    elif pooling == "mean":
        x = MaskedMeanPooling(name="mean_pooling")(encoded["sequence_output"],
                                                   inputs["padding_mask"])
    else:
        x = encoded["pooled_output"]
    if head == "sequence" or pooling == "mean":
        # The pooler feeds nothing here: it gets no gradient, so it is kept
        # out of training (as run_squad / NER leave it untouched).
        encoder.pooler.trainable = False
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    logits = _dense(num_outputs, encoder.bert_config["initializer_range"], "logits")(x)
    if crf:
        logits = CRF(num_outputs, CRF_LEARNING_RATE_MULTIPLIER, name="crf")(logits)
    return inputs, logits


def crf_layer(model):
    """The `CRF` layer of a task model, or None when its head has none."""
    return model.get_layer("crf") if getattr(model, "crf", False) else None
