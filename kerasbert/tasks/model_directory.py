"""A fine-tuned model on disk: what `kerasbert.train` writes into --output_dir
and what evaluate / predict / export / train --model read back.

    kerasbert_task.json   task name, labels, task settings (QA), max_seq_length,
                          whether pairs are used
    encoder/              the encoder in kerasbert's format, with its vocabulary
    head.safetensors      the task head's weights (a CRF head's transition
                          scores too: `crf_transitions`, ...)
    model.keras           only for LoRA adapters saved by `save_to_preset`: the
                          model with its adapters apart from their base (encoder/
                          holds the merged weights), so that they stay trainable

Each weight is there once. It is also the preset format of the Keras task
models: `save_to_preset` writes it and `from_preset` reads it
(`kerasbert.BertClassifier.from_preset("runs/sentiment")`); `model.save(
"sentiment.keras")` writes a file for `keras.models.load_model`.
"""

import io
import json
import os

import numpy as np
import tensorflow as tf

from kerasbert.checkpoints.safetensors_file import read_arrays, write_safetensors
from kerasbert.outputs import write_file, write_json

TASK_FILE = "kerasbert_task.json"
ENCODER_DIR = "encoder"
HEAD_FILE = "head.safetensors"
KERAS_FILE = "model.keras"


def is_model_directory(path):
    from kerasbert.checkpoints.sources import is_hub_handle

    if is_hub_handle(path):  # hf:// is no tf.io.gfile scheme: asking it raises
        return False
    return tf.io.gfile.exists(os.path.join(str(path), TASK_FILE))


def save_model_directory(directory, model, task, tokenizer, max_seq_length, text_pair,
                         keras_file=True):
    """Write `model` (a `BertTask`), the task's labels and the tokenizer;
    with LoRA adapters and `keras_file`, also `model.keras` (the adapters
    apart; `kerasbert.train` keeps them in adapter.safetensors instead)."""
    from kerasbert.checkpoints.loading import save_encoder

    encoder_dir = os.path.join(directory, ENCODER_DIR)
    save_encoder(model.encoder, encoder_dir)
    tokenizer.save_to_dir(encoder_dir)
    write_safetensors(os.path.join(directory, HEAD_FILE), head_arrays(model))
    meta = task_info(model, task, max_seq_length, text_pair)
    write_json(os.path.join(directory, TASK_FILE), meta)
    keras_path = os.path.join(directory, KERAS_FILE)
    if keras_file and "lora" in meta and getattr(model, "preprocessor", None) is not None:
        write_file(keras_path, keras_file_bytes(model))
    elif tf.io.gfile.exists(keras_path):
        tf.io.gfile.remove(keras_path)  # an earlier model's: it is not this one


def keras_file_bytes(model):
    """`model` as a `.keras` file's bytes, built in memory (so that a full disk is
    met by `write_file`, not inside h5py, which crashes on it)."""
    from keras.src.saving import saving_lib  # Keras' own saver; it takes a file object

    buffer = io.BytesIO()
    saving_lib.save_model(model, buffer)
    return buffer.getvalue()


def task_info(model, task, max_seq_length, text_pair):
    """What `kerasbert_task.json` holds for `model` (a task model) of `task`."""
    info = {**task.config(), "max_seq_length": max_seq_length, "text_pair": text_pair,
            "head": model.head, "pooling": model.pooling, "num_outputs": model.num_outputs}
    lora = getattr(model.encoder, "lora", None)
    if lora is not None:  # encoder/ holds the merged weights; model.keras the adapters
        info["lora"] = dict(lora)
    return info


def load_keras_task(directory):
    """The Keras task model of a directory as `model.keras` holds it (LoRA
    adapters apart from their base, trainable as before); None when the
    directory has no `model.keras`."""
    from keras.src.saving import saving_lib  # Keras' own loader; it takes a file object

    path = os.path.join(str(directory), KERAS_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as f:  # local or gs://
        return saving_lib.load_model(io.BytesIO(f.read()))


def read_task_config(directory):
    path = os.path.join(str(directory), TASK_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{directory} is not a kerasbert model directory (no {TASK_FILE})")
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def load_model_directory(directory):
    """(model, task, tokenizer, task_config) from a model directory; the model
    is the task's Keras model (`kerasbert.tasks.registry.model_class`) with
    its preprocessor."""
    from kerasbert.encoder.bert_encoder import BertEncoder
    from kerasbert.tasks.registry import get_task
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

    directory = str(directory)
    meta = read_task_config(directory)
    encoder_dir = os.path.join(directory, ENCODER_DIR)
    tokenizer = BertTokenizer.from_preset(encoder_dir, sequence_length=meta["max_seq_length"])
    model = _keras_task(BertEncoder.from_preset(encoder_dir), tokenizer, meta)
    assign_head(model, read_arrays(os.path.join(directory, HEAD_FILE)))
    task = get_task(meta["task"], meta["labels"], **meta.get("settings", {}))
    task.bind(model)
    return model, task, tokenizer, meta


def head_arrays(model):
    """{name: numpy array} of a task model's head: the logits layer's
    `kernel` and `bias`, and a CRF's `crf_<weight>` (`heads.crf_layer`)."""
    from kerasbert.tasks.heads import crf_layer

    head = model.get_layer("logits")
    arrays = {"kernel": np.asarray(head.kernel.numpy()), "bias": np.asarray(head.bias.numpy())}
    crf = crf_layer(model)
    if crf is not None:
        arrays.update({f"crf_{v.name}": np.asarray(v.numpy()) for v in crf.weights})
    return arrays


def assign_head(model, arrays):
    """Set a task model's head from `head_arrays`' arrays."""
    from kerasbert.tasks.heads import crf_layer

    logits = model.get_layer("logits")
    logits.kernel.assign(arrays["kernel"])
    logits.bias.assign(arrays["bias"])
    crf = crf_layer(model)
    if crf is not None:
        for variable in crf.weights:
            variable.assign(arrays[f"crf_{variable.name}"])


def _keras_task(encoder, tokenizer, meta):
    """The Keras task model of `meta` (a kerasbert_task.json) on `encoder`."""
    from kerasbert.tasks.registry import model_class

    return model_class(meta["task"]).from_parts(
        encoder, tokenizer, meta["num_outputs"], labels=meta.get("labels"),
        pooling=meta.get("pooling", "cls"), task_name=meta["task"], **meta.get("settings", {}))
