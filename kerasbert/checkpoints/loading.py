"""Load and save encoders in every supported format.

A model is named by a preset, an `hf://ORG/NAME[@REVISION]` handle, a
`tf.io.gfile` URL (gs://, ...) or a local directory (`sources.resolve`).
Formats, detected from the files in the directory:
- `kerasbert`: kerasbert_encoder.json + encoder.safetensors
- `hf`: Hugging Face config.json + model.safetensors (or tf_model.h5;
  pytorch_model.bin on opt-in)
- `tf1`: Google's bert_config.json + bert_model.ckpt.{index,data-*}
"""

import os

import numpy as np
import tensorflow as tf

from kerasbert import presets
from kerasbert.checkpoints import hf_checkpoint, native_format, sources, tf1_checkpoint
from kerasbert.checkpoints.assign import CheckpointMismatchError, check_and_assign
from kerasbert.checkpoints.name_map import encoder_variable_names, encoder_variables, hf_name

_FORMATS = {
    "kerasbert": native_format.is_native_dir,
    "hf": hf_checkpoint.is_hf_dir,
    "tf1": tf1_checkpoint.is_tf1_dir,
}


def detect_format(directory):
    """"kerasbert", "hf" or "tf1" for a checkpoint directory; a clear error otherwise."""
    directory = str(directory)
    if not tf.io.gfile.isdir(directory):
        raise FileNotFoundError(f"{directory} is neither a preset name, an hf://ORG/NAME handle "
                                f"nor a directory; presets: {', '.join(presets.list_presets())}")
    for name, matches in _FORMATS.items():
        if matches(directory):
            return name
    raise ValueError(
        f"{directory} is not a BERT checkpoint directory: expected kerasbert_encoder.json, "
        "config.json + model.safetensors (Hugging Face), or bert_config.json + "
        "bert_model.ckpt.index (TF1)")


def read_checkpoint(directory, allow_pickle=False):
    """(bert_config, {TF1 name: array}) of the encoder in `directory`, any format."""
    directory = str(directory)
    fmt = detect_format(directory)
    if fmt == "kerasbert":
        config = native_format.read_config(directory)
        return config, native_format.read_arrays(directory)
    if fmt == "tf1":
        config = tf1_checkpoint.read_config(directory)
        names = [n for n in tf1_checkpoint.list_variables(directory) if n.startswith("bert/")]
        return config, tf1_checkpoint.read_arrays(directory, names)
    config = hf_checkpoint.read_config(directory)
    return config, _hf_to_tf1(hf_checkpoint.read_arrays(directory, allow_pickle), config)


def _hf_to_tf1(hf_arrays, config):
    """Rename HF arrays to TF1 names, transposing dense kernels. HF names with no
    TF1 counterpart are kept under a `<hf>` prefix so they are reported."""
    hf_arrays = {k.replace("LayerNorm.gamma", "LayerNorm.weight")
                  .replace("LayerNorm.beta", "LayerNorm.bias"): v for k, v in hf_arrays.items()}
    tf1 = {}
    for name in encoder_variable_names(config["num_hidden_layers"]):
        hf, transpose = hf_name(name)
        if hf in hf_arrays:
            array = hf_arrays.pop(hf)
            tf1[name] = array.T if transpose else array
    tf1.update({f"<hf>{k}": v for k, v in hf_arrays.items()})
    return tf1


def _check_vocabulary(directory, config):
    path = os.path.join(directory, "vocab.txt")
    if not tf.io.gfile.exists(path):
        return
    with tf.io.gfile.GFile(path) as f:
        size = sum(1 for _ in f)
    if size > config["vocab_size"]:
        raise CheckpointMismatchError(
            f"{path} has {size} tokens but the config's vocab_size is {config['vocab_size']}: "
            "token ids past the embedding table would fail")


def read_encoder(name_or_path, load_weights=True, allow_pickle=False):
    """(bert_config, {TF1 name: array} or None, directory or None) of the encoder
    a preset, handle or checkpoint directory names (see module doc); the
    encoder itself is built by `BertEncoder.from_preset`.

    `load_weights=False` reads the config only: a preset's published shape (no
    download), or the checkpoint's config.
    """
    name = str(name_or_path)
    if not load_weights and presets.is_preset(name):
        return dict(presets.get_preset(name)["config"]), None, None
    directory = sources.resolve(name, allow_pickle)
    fmt = detect_format(directory)
    if not load_weights:
        return _read_config(directory, fmt), None, directory
    config, arrays = read_checkpoint(directory, allow_pickle)
    _check_vocabulary(directory, config)
    return config, arrays, directory


def assign_encoder(encoder, arrays, directory):
    """Assign `arrays` ({TF1 name: array}) to `encoder`'s variables; every name
    must match (`CheckpointMismatchError` naming `directory` otherwise)."""
    check_and_assign(encoder_variables(encoder), arrays, directory)


def _read_config(directory, fmt):
    return {"kerasbert": native_format.read_config, "hf": hf_checkpoint.read_config,
            "tf1": tf1_checkpoint.read_config}[fmt](directory)


def encoder_arrays(encoder):
    """{TF1 name: np.ndarray} of all encoder weights."""
    return {name: np.asarray(v.numpy()) for name, v in encoder_variables(encoder).items()}


def save_encoder(encoder, directory):
    """Save in kerasbert's own format."""
    config = encoder.get_config()
    config.pop("lora", None)  # the directory holds the merged weights: a plain encoder
    native_format.write_directory(str(directory), encoder_arrays(encoder), config)


def export_tf1_checkpoint(encoder, directory, extra_arrays=None):
    """Write a TF1 checkpoint with the original variable names. `extra_arrays`
    ({TF1 name: array}, e.g. the pretraining heads) are written beside them."""
    arrays = {**encoder_arrays(encoder), **(extra_arrays or {})}
    tf1_checkpoint.write_checkpoint(str(directory), arrays, encoder.bert_config)


def export_hf_checkpoint(encoder, directory):
    """Write a Hugging Face BertModel directory (safetensors) that transformers loads."""
    arrays = {}
    for name, array in encoder_arrays(encoder).items():
        hf, transpose = hf_name(name)
        arrays[hf] = array.T if transpose else array
    hf_checkpoint.write_directory(str(directory), arrays, encoder.bert_config)
