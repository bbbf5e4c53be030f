"""What a model directory holds, read without TensorFlow: the command-line
programs check `--model` (and the flags that depend on its task) before any
TensorFlow import."""

import json
import os

from kerasbert.paths import is_remote

TASK_FILE = "kerasbert_task.json"  # = tasks.model_directory.TASK_FILE (which imports TF)


def read_model_info(directory):
    """The task config saved with a model directory (`kerasbert_task.json`):
    `task`, `labels`, `max_seq_length`, `text_pair`, `head`, `num_outputs`
    (and `settings` for QA).

    Raises:
        FileNotFoundError: `directory` does not exist.
        ValueError: it is not a kerasbert model directory, or its config is unreadable.
    """
    directory = str(directory)
    path = os.path.join(directory, TASK_FILE)
    if is_remote(directory):
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            raise ValueError(f"{directory} is not a kerasbert model directory (no {TASK_FILE})")
        with tf.io.gfile.GFile(path) as f:
            text = f.read()
    else:
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"model directory {directory} does not exist")
        if not os.path.isfile(path):
            raise ValueError(f"{directory} is not a kerasbert model directory (no {TASK_FILE}; "
                             "write one with python -m kerasbert.train --output_dir=...)")
        with open(path, encoding="utf-8") as f:
            text = f.read()
    try:
        info = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    for key in ("task", "max_seq_length"):
        if key not in info:
            raise ValueError(f"{path}: field {key!r} is missing")
    return info


def check_model_flag(directory, flag="--model"):
    """`read_model_info` for a command-line flag: errors name the flag."""
    if not directory:
        raise ValueError(f"{flag} is required: a model directory written by kerasbert.train")
    try:
        return read_model_info(directory)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{flag}: {err}") from None
    except ValueError as err:
        raise ValueError(f"{flag}: {err}") from None


def input_names(info):
    """The raw inputs of a model's rows, from its task config (as its TaskIO has them)."""
    if info["task"] == "qa":
        return ("question", "context")
    if info["task"] == "ner":
        return ("text",)
    return ("text", "text_pair") if info.get("text_pair") else ("text",)
