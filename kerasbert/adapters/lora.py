"""LoRA adapters on a task model's encoder: train a few low-rank matrices, keep the base.

Keras 3's `Dense.enable_lora(rank)` freezes a layer's kernel and adds the
trainable pair `lora_kernel_a` `[in, rank]`, `lora_kernel_b` `[rank, out]`;
the layer then computes with `kernel + (alpha / rank) * a @ b`. It leaves the
bias, the layer norms and the embeddings trainable, so `enable_lora` below
freezes every encoder variable that is not an adapter matrix: what trains is
the adapters and the task head, nothing else.

An adapter file (safetensors) holds those matrices and the head, with the
rank, alpha and targets in its metadata: a small fraction of the model.
"""

import json

import numpy as np
import tensorflow as tf

ATTENTION = ("query", "key", "value", "output")
FEED_FORWARD = ("intermediate", "output")
HEAD_LAYER = "logits"


def lora_targets(encoder, feed_forward=False):
    """{name: Dense} of the projections LoRA adapts, e.g. `layer_0/attention/query`."""
    targets = {}
    for i, block in enumerate(encoder.transformer_layers):
        attention = block.attention
        for name, dense in zip(ATTENTION, (attention.query, attention.key, attention.value,
                                           attention.output_dense)):
            targets[f"layer_{i}/attention/{name}"] = dense
        if feed_forward:
            for name, dense in zip(FEED_FORWARD, (block.intermediate, block.output_dense)):
                targets[f"layer_{i}/feed_forward/{name}"] = dense
    return targets


def enable_lora(model, rank, alpha=None, feed_forward=False):
    """Add rank-`rank` adapters to `model.encoder` and freeze the rest of the encoder.

    Args:
        model: a `BertTaskModel` (its `logits` head stays trainable).
        rank: the adapters' rank r.
        alpha: LoRA's scale numerator (the update is scaled by alpha / r); default r.
        feed_forward: adapt the feed-forward projections too, not only attention.

    Returns:
        The adapter settings, a dict to save with the adapters (with the
        model's pooling, which a bank needs to rebuild the model).
    """
    if rank < 1:
        raise ValueError(f"lora rank must be >= 1, got {rank}")
    alpha = rank if alpha is None else alpha
    targets = lora_targets(model.encoder, feed_forward)
    for dense in targets.values():
        dense.enable_lora(rank, lora_alpha=alpha)
    adapters = {id(v) for v in adapter_variables(model).values()}
    for variable in model.encoder.variables:
        if id(variable) not in adapters:
            variable.trainable = False
    return {"rank": rank, "alpha": alpha, "feed_forward": feed_forward,
            "pooling": model.pooling}


def adapter_variables(model):
    """{name: variable} of the adapter matrices and the task head, in a fixed order."""
    variables = {}
    for name, dense in lora_targets(model.encoder, feed_forward=True).items():
        if dense.lora_enabled:
            variables[f"{name}/lora_a"] = dense.lora_kernel_a
            variables[f"{name}/lora_b"] = dense.lora_kernel_b
    head = model.get_layer(HEAD_LAYER)
    variables[f"{HEAD_LAYER}/kernel"], variables[f"{HEAD_LAYER}/bias"] = head.kernel, head.bias
    return variables


def save_adapter(model, path, settings):
    """Write the adapters and head of `model` to `path` (safetensors), settings as metadata."""
    from safetensors.numpy import save

    arrays = {name: np.asarray(v.numpy()) for name, v in adapter_variables(model).items()}
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(save(arrays, metadata={"kerasbert_lora": json.dumps(settings)}))


def read_adapter(path):
    """(arrays, settings) of an adapter file."""
    from safetensors.numpy import load

    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    arrays = load(data)
    # The safetensors header: 8 bytes of length, then JSON with "__metadata__".
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    metadata = header.get("__metadata__") or {}
    if "kerasbert_lora" not in metadata:
        raise ValueError(f"{path} is not a kerasbert LoRA adapter file (no kerasbert_lora metadata)")
    return arrays, json.loads(metadata["kerasbert_lora"])


def assign_adapter(model, arrays, path="<adapter>"):
    """Load adapter `arrays` into a model whose LoRA is enabled with the same settings.

    Raises:
        CheckpointMismatchError (a ValueError) listing every missing,
        unexpected and mis-shaped matrix, before any variable is changed.
    """
    from kerasbert.checkpoints.assign import CheckpointMismatchError, check_and_assign

    try:
        check_and_assign(adapter_variables(model), arrays, f"adapter {path}")
    except CheckpointMismatchError as err:
        raise CheckpointMismatchError(
            f"{err}\n(an adapter fits a model whose LoRA is enabled with the rank and "
            f"targets it was saved with, on an encoder of the same shape)") from None
