"""kerasbert's own encoder format: `kerasbert_encoder.json` (the constructor
config) and `encoder.safetensors` (weights under their TF1 names)."""

import json
import os

import numpy as np
import tensorflow as tf

CONFIG_FILE = "kerasbert_encoder.json"
WEIGHTS_FILE = "encoder.safetensors"
FORMAT_VERSION = 1


def is_native_dir(directory):
    return tf.io.gfile.exists(os.path.join(directory, CONFIG_FILE))


def read_config(directory):
    path = os.path.join(directory, CONFIG_FILE)
    with tf.io.gfile.GFile(path) as f:
        meta = json.load(f)
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {meta['format_version']} is newer than this "
                         f"kerasbert reads ({FORMAT_VERSION}); upgrade kerasbert")
    return meta["config"]


def read_arrays(directory):
    from safetensors.numpy import load

    with tf.io.gfile.GFile(os.path.join(directory, WEIGHTS_FILE), "rb") as f:
        return load(f.read())


def write_directory(directory, arrays, config):
    from safetensors.numpy import save

    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(os.path.join(directory, WEIGHTS_FILE), "wb") as f:
        f.write(save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))
    with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILE), "w") as f:
        json.dump({"format_version": FORMAT_VERSION, "config": config}, f, indent=2,
                  sort_keys=True)
