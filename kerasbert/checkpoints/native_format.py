"""kerasbert's own encoder format: `kerasbert_encoder.json` (the constructor
config) and `encoder.safetensors` (weights under their TF1 names)."""

import json
import os

import tensorflow as tf

from kerasbert.checkpoints import safetensors_file
from kerasbert.outputs import write_json

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
    return safetensors_file.read_arrays(os.path.join(directory, WEIGHTS_FILE))


def write_directory(directory, arrays, config):
    tf.io.gfile.makedirs(directory)
    safetensors_file.write_safetensors(os.path.join(directory, WEIGHTS_FILE), arrays)
    write_json(os.path.join(directory, CONFIG_FILE),
               {"format_version": FORMAT_VERSION, "config": config}, sort_keys=True)
