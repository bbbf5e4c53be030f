"""A fine-tuned model on disk: what `kerasbert.train` writes into --output_dir
and what evaluate / predict / export / train --model read back.

    kerasbert_task.json   task name, labels, task settings (QA), max_seq_length,
                          whether pairs are used
    encoder/              the encoder in kerasbert's format, with its vocabulary
    head.safetensors      the task head's weights
"""

import json
import os

import numpy as np
import tensorflow as tf

TASK_FILE = "kerasbert_task.json"
ENCODER_DIR = "encoder"
HEAD_FILE = "head.safetensors"


def is_model_directory(path):
    return tf.io.gfile.exists(os.path.join(str(path), TASK_FILE))


def save_model_directory(directory, model, task, tokenizer, max_seq_length, text_pair):
    """Write `model` (a BertTaskModel), the task's labels and the tokenizer."""
    from safetensors.numpy import save

    from kerasbert.checkpoints.loading import save_encoder

    encoder_dir = os.path.join(directory, ENCODER_DIR)
    save_encoder(model.encoder, encoder_dir)
    tokenizer.save_to_dir(encoder_dir)
    head = model.get_layer("logits")
    arrays = {"kernel": np.asarray(head.kernel.numpy()), "bias": np.asarray(head.bias.numpy())}
    with tf.io.gfile.GFile(os.path.join(directory, HEAD_FILE), "wb") as f:
        f.write(save(arrays))
    meta = {**task.config(), "max_seq_length": max_seq_length, "text_pair": text_pair,
            "head": model.head, "pooling": model.pooling, "num_outputs": model.num_outputs}
    with tf.io.gfile.GFile(os.path.join(directory, TASK_FILE), "w") as f:
        json.dump(meta, f, indent=2)


def read_task_config(directory):
    path = os.path.join(str(directory), TASK_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{directory} is not a kerasbert model directory (no {TASK_FILE})")
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def load_model_directory(directory):
    """(model, task, tokenizer, task_config) from a model directory."""
    from safetensors.numpy import load

    from kerasbert.encoder.bert_encoder import BertEncoder
    from kerasbert.tasks import get_task
    from kerasbert.tasks.heads import BertTaskModel
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

    directory = str(directory)
    meta = read_task_config(directory)
    encoder_dir = os.path.join(directory, ENCODER_DIR)
    model = BertTaskModel(BertEncoder.from_preset(encoder_dir), meta["num_outputs"], meta["head"],
                          pooling=meta.get("pooling", "cls"))
    with tf.io.gfile.GFile(os.path.join(directory, HEAD_FILE), "rb") as f:
        head = load(f.read())
    logits = model.get_layer("logits")
    logits.kernel.assign(head["kernel"])
    logits.bias.assign(head["bias"])
    tokenizer = BertTokenizer.from_preset(encoder_dir, sequence_length=meta["max_seq_length"])
    task = get_task(meta["task"], meta["labels"], **meta.get("settings", {}))
    return model, task, tokenizer, meta
