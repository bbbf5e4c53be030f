"""Masked mean pooling: one vector per sequence from its real tokens."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasbert")
class MaskedMeanPooling(keras.layers.Layer):
    """The mean of the token vectors where `padding_mask` is 1.

    Sentence-embedding checkpoints (sentence-transformers, e.g.
    all-MiniLM-L6-v2) are trained to be read this way rather than through the
    [CLS] pooler. Sums run in float32, so the mean is exact under mixed precision.

    Call: `sequence_output` `[batch, seq, hidden]`, `padding_mask` int32
    `[batch, seq]` -> `[batch, hidden]` in the layer's compute dtype.
    """

    def call(self, sequence_output, padding_mask):
        # expand_dims, not [:, :, None]: a new axis by slicing is a StridedSlice
        # that LiteRT has no builtin kernel for (the .tflite would not run).
        mask = ops.expand_dims(ops.cast(padding_mask, "float32"), -1)
        total = ops.sum(ops.cast(sequence_output, "float32") * mask, axis=1)
        count = ops.maximum(ops.sum(mask, axis=1), 1.0)
        return ops.cast(total / count, self.compute_dtype)

    def compute_output_shape(self, sequence_output_shape, padding_mask_shape):
        return (sequence_output_shape[0], sequence_output_shape[2])
