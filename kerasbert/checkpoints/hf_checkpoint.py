"""Hugging Face BERT directories: `config.json` + `model.safetensors`, or the
Keras `tf_model.h5` that TF-only repositories carry (or, only when the caller
opts in, a pickled `pytorch_model.bin`)."""

import json
import os
import re

import tensorflow as tf

from kerasbert.checkpoints import safetensors_file
from kerasbert.outputs import write_json

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
H5_FILE = "tf_model.h5"
PICKLE_FILE = "pytorch_model.bin"
_BERT_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
              "intermediate_size", "hidden_act", "hidden_dropout_prob",
              "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
              "initializer_range", "layer_norm_eps")
# Buffers and heads that an encoder does not use.
_IGNORED_PREFIXES = ("embeddings.position_ids", "cls.", "classifier.", "qa_outputs.")


def is_hf_dir(directory):
    return tf.io.gfile.exists(os.path.join(directory, CONFIG_FILE)) and any(
        tf.io.gfile.exists(os.path.join(directory, f))
        for f in (SAFETENSORS_FILE, H5_FILE, PICKLE_FILE))


def read_config(directory):
    """The HF `config.json` as a bert_config dict (the keys BERT uses)."""
    with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILE)) as f:
        config = json.load(f)
    if config.get("model_type", "bert") != "bert":
        raise ValueError(f"{directory}/{CONFIG_FILE}: model_type is {config['model_type']!r}, "
                         "not 'bert'")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{directory}/{CONFIG_FILE}: position_embedding_type "
                         f"{config['position_embedding_type']!r} is not supported")
    return {k: config[k] for k in _BERT_KEYS if k in config}


def read_arrays(directory, allow_pickle=False, keep_heads=False):
    """{HF name: np.ndarray} with any `bert.` prefix removed.

    A pickled `pytorch_model.bin` is read only with `allow_pickle=True`: a
    pickle can run arbitrary code, so it is never loaded by default.
    """
    path = os.path.join(directory, SAFETENSORS_FILE)
    if tf.io.gfile.exists(path):
        arrays = _read_safetensors(path)
    elif tf.io.gfile.exists(os.path.join(directory, H5_FILE)):
        arrays = _read_h5(os.path.join(directory, H5_FILE))
    elif allow_pickle:
        arrays = _read_pickle(os.path.join(directory, PICKLE_FILE))
    else:
        raise ValueError(
            f"{directory} holds only {PICKLE_FILE}, a pickle, which can run code when loaded; "
            "convert it to model.safetensors, or pass allow_pickle=True "
            "(--allow_pickle) if you trust the file")
    arrays = {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in arrays.items()}
    if keep_heads:
        return arrays
    return {k: v for k, v in arrays.items() if not k.startswith(_IGNORED_PREFIXES)}


def _read_safetensors(path):
    return safetensors_file.read_arrays(path)


_H5_ENCODER_NAME = re.compile(r"(?:^|/)bert/((?:embeddings|encoder|pooler)/.*?)(?::0)?$")
_H5_LEAF = {"kernel": "weight", "gamma": "weight", "beta": "bias", "embeddings": "weight"}


def _read_h5(path):
    """The encoder arrays of a Keras `tf_model.h5` (transformers' TFBertModel
    weights: `.../bert/encoder/layer_._0/attention/self/query/kernel:0`) under
    their Hugging Face names, dense kernels transposed to the PyTorch layout.
    Heads outside `bert/` (MLM, NSP) are left out, as for the other formats."""
    import h5py

    arrays = {}

    def visit(name, item):
        match = _H5_ENCODER_NAME.search(name)
        if match is None or not isinstance(item, h5py.Dataset):
            return
        parts = re.sub(r"layer_\._(\d+)", r"layer/\1", match.group(1)).split("/")
        array = item[()]
        if parts[-1] == "kernel":
            array = array.T
        parts[-1] = _H5_LEAF.get(parts[-1], parts[-1])
        arrays[".".join(parts)] = array

    with tf.io.gfile.GFile(path, "rb") as f, h5py.File(f, "r") as h5:
        h5.visititems(visit)
    return arrays


def _read_pickle(path):
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float().numpy() for k, v in state.items()}


def write_directory(directory, arrays, bert_config, architecture="BertModel"):
    """Write `arrays` ({HF name: array}) as `model.safetensors` and a
    `config.json` of `architecture` that transformers loads (`bert_config`
    may carry the architecture's own keys, e.g. a classifier's labels)."""
    tf.io.gfile.makedirs(directory)
    safetensors_file.write_safetensors(os.path.join(directory, SAFETENSORS_FILE), arrays,
                                       metadata={"format": "pt"})
    config = {"architectures": [architecture], "model_type": "bert",
              "position_embedding_type": "absolute", "pad_token_id": 0, **bert_config}
    write_json(os.path.join(directory, CONFIG_FILE), config, sort_keys=True)
