"""The original TF1 BERT checkpoint format: `bert_config.json` + `bert_model.ckpt.*`."""

import json
import os

import tensorflow as tf

from kerasbert.outputs import write_json

CONFIG_FILE = "bert_config.json"
CKPT_PREFIX = "bert_model.ckpt"


def checkpoint_prefix(directory):
    """The checkpoint prefix inside `directory`: the `checkpoint` state file's
    entry if present, else `bert_model.ckpt`."""
    latest = tf.train.latest_checkpoint(directory)
    return latest or os.path.join(directory, CKPT_PREFIX)


def is_tf1_dir(directory):
    return tf.io.gfile.exists(os.path.join(directory, CONFIG_FILE)) and bool(
        tf.io.gfile.glob(os.path.join(directory, "*.ckpt*.index")))


def read_config(directory):
    with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILE)) as f:
        return json.load(f)


def list_variables(directory):
    """{name: shape} of the checkpoint (reads the index only)."""
    return dict(tf.train.list_variables(checkpoint_prefix(directory)))


def read_arrays(directory, names=None):
    """{name: np.ndarray} for `names` (default all) of the checkpoint in `directory`."""
    reader = tf.train.load_checkpoint(checkpoint_prefix(directory))
    names = names if names is not None else reader.get_variable_to_shape_map().keys()
    return {name: reader.get_tensor(name) for name in names}


def write_checkpoint(directory, arrays, bert_config):
    """Write `arrays` ({TF1 name: array}) as `bert_model.ckpt` with the original
    variable names, plus `bert_config.json` and a `checkpoint` state file."""
    tf.io.gfile.makedirs(directory)
    prefix = os.path.join(directory, CKPT_PREFIX)
    names = sorted(arrays)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(arrays[n]) for n in names])
    with tf.io.gfile.GFile(os.path.join(directory, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "{CKPT_PREFIX}"\n'
                f'all_model_checkpoint_paths: "{CKPT_PREFIX}"\n')
    write_json(os.path.join(directory, CONFIG_FILE), bert_config, sort_keys=True)
