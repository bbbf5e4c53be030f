"""LoRA adapters on a task model's encoder: train a few low-rank matrices, keep the base.

Keras 3's `Dense.enable_lora(rank)` freezes a layer's kernel and adds the
trainable pair `lora_kernel_a` `[in, rank]`, `lora_kernel_b` `[rank, out]`;
the layer then computes with `kernel + (alpha / rank) * a @ b`. It leaves the
bias, the layer norms and the embeddings trainable, so `enable_lora` below
freezes every encoder variable that is not an adapter matrix: what trains is
the adapters and the task head, nothing else.

An adapter file (safetensors) holds those matrices and the head, with the
rank, alpha and targets in its metadata: a small fraction of the model. Its
metadata also records the base the adapters apply to (`read_adapter_base`):
the SHA-256 of the frozen base encoder weights and the encoder's architecture,
so that an adapter bank finds the base and checks users against it without
reading any merged model.
"""

import hashlib
import json

import numpy as np

from kerasbert.checkpoints.safetensors_file import read_safetensors, write_safetensors

HEAD_LAYER = "logits"
# adapter target suffix -> TF1 name of the projection inside `bert/encoder/layer_i/`
TF1_DENSE = {"attention/query": "attention/self/query", "attention/key": "attention/self/key",
             "attention/value": "attention/self/value",
             "attention/output": "attention/output/dense",
             "feed_forward/intermediate": "intermediate/dense",
             "feed_forward/output": "output/dense"}
# the encoder config keys that fix the inference math
ARCHITECTURE_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "hidden_act", "max_position_embeddings",
                     "type_vocab_size", "layer_norm_eps")
_METADATA, _BASE_METADATA = "kerasbert_lora", "kerasbert_lora_base"


def tf1_name(target, what="kernel"):
    """TF1 name of an adapter target's kernel / bias: `layer_0/attention/query` ->
    `bert/encoder/layer_0/attention/self/query/kernel`."""
    layer, rest = target.split("/", 1)
    return f"bert/encoder/{layer}/{TF1_DENSE[rest]}/{what}"


def enable_lora(model, rank, alpha=None, feed_forward=False):
    """Add rank-`rank` adapters to `model.encoder` and freeze the rest of the
    encoder (`BertEncoder.enable_lora`, the one implementation).

    Args:
        model: a task model (a `BertTask`; its `logits` head stays trainable).
        rank: the adapters' rank r.
        alpha: LoRA's scale numerator (the update is scaled by alpha / r); default r.
        feed_forward: adapt the feed-forward projections too, not only attention.

    Returns:
        The adapter settings, a dict to save with the adapters (with the
        model's pooling, which a bank needs to rebuild the model).
    """
    settings = model.encoder.enable_lora(rank, alpha=alpha, feed_forward=feed_forward)
    return {**settings, "pooling": model.pooling}


def adapter_variables(model):
    """{name: variable} of the adapter matrices and the task head, in a fixed order."""
    variables = {}
    for name, dense in model.encoder.lora_targets(feed_forward=True).items():
        if dense.lora_enabled:
            variables[f"{name}/lora_a"] = dense.lora_kernel_a
            variables[f"{name}/lora_b"] = dense.lora_kernel_b
    head = model.get_layer(HEAD_LAYER)
    variables[f"{HEAD_LAYER}/kernel"], variables[f"{HEAD_LAYER}/bias"] = head.kernel, head.bias
    return variables


def base_weights(encoder):
    """{TF1 name: float32 array} of the encoder's base weights: for a projection
    with LoRA enabled its frozen kernel, not the merged `kernel + scale * A @ B`."""
    from kerasbert.checkpoints.name_map import encoder_variables

    weights = {name: np.asarray(v.numpy(), np.float32)
               for name, v in encoder_variables(encoder).items()}
    for target, dense in encoder.lora_targets(feed_forward=True).items():
        if dense.lora_enabled:
            weights[tf1_name(target)] = np.asarray(dense._kernel.numpy(), np.float32)
    return weights


def weights_sha256(weights, num_layers):
    """Hex SHA-256 of an encoder's weights `{TF1 name: array}` (names, shapes and
    float32 bytes, in checkpoint order); KeyError when one is missing."""
    from kerasbert.checkpoints.name_map import encoder_variable_names

    digest = hashlib.sha256()
    for name in encoder_variable_names(num_layers):
        array = np.ascontiguousarray(weights[name], np.float32)
        digest.update(f"{name}{list(array.shape)};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def base_record(encoder):
    """{"sha256": of the base weights, "config": the architecture}: what an
    adapter file records of its base (see `read_adapter_base`)."""
    config = encoder.bert_config
    return {"sha256": weights_sha256(base_weights(encoder), config["num_hidden_layers"]),
            "config": {k: config[k] for k in ARCHITECTURE_KEYS if k in config}}


def save_adapter(model, path, settings):
    """Write the adapters and head of `model` to `path` (safetensors): settings
    and the base's record (`base_record`) as metadata."""
    arrays = {name: np.asarray(v.numpy()) for name, v in adapter_variables(model).items()}
    metadata = {_METADATA: json.dumps(settings),
                _BASE_METADATA: json.dumps(base_record(model.encoder))}
    write_safetensors(path, arrays, metadata)


def read_adapter_file(path):
    """(arrays, settings, base record or None for files written before it was
    recorded) of an adapter file."""
    arrays, metadata = read_safetensors(path)
    if _METADATA not in metadata:
        raise ValueError(f"{path} is not a kerasbert LoRA adapter file (no {_METADATA} metadata)")
    base = json.loads(metadata[_BASE_METADATA]) if _BASE_METADATA in metadata else None
    return arrays, json.loads(metadata[_METADATA]), base


def read_adapter(path):
    """(arrays, settings) of an adapter file."""
    arrays, settings, _ = read_adapter_file(path)
    return arrays, settings


def read_adapter_base(path):
    """The base record of an adapter file (`base_record`), None if it has none."""
    return read_adapter_file(path)[2]


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
