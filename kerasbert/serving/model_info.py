"""What a model directory holds, read without TensorFlow: the command-line
programs check `--model` (and the flags that depend on its task) before any
TensorFlow import."""

import json
import os
import re

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
    """`read_model_info` for a command-line flag: errors name the flag, and say
    how to make the fine-tuned model directory that evaluate, predict and export
    need when `directory` is something else (a preset, an encoder checkpoint, a
    file or nothing)."""
    if not directory:
        raise ValueError(f"{flag} is required: a model directory written by kerasbert.train")
    directory = str(directory)
    what = _not_a_model_directory(directory)
    if what:
        source = directory if what.endswith(("a preset", "encoder checkpoint")) else "PRESET"
        raise ValueError(
            f"{flag} needs a fine-tuned model directory, and {directory} {what}: make one with "
            f"python -m kerasbert.train --train_data=FILE --model={source} --output_dir=DIR, "
            f"then pass {flag}=DIR")
    try:
        return read_model_info(directory)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{flag}: {err}") from None
    except ValueError as err:
        raise ValueError(f"{flag}: {err}") from None


LITERT_TASKS = ("classification", "multilabel", "regression")  # what a .tflite file serves
LITERT_METADATA = "kerasbert_task"  # the task config's entry in a .tflite file's metadata


def is_litert_file(path):
    """Whether `path` names a LiteRT file (`.tflite`)."""
    return bool(path) and str(path).endswith(".tflite")


def read_litert_info(path, flag="--model"):
    """The task config that `kerasbert.export --format=litert` embeds in a
    `.tflite` file's metadata, read with the flatbuffers schema that
    ai-edge-litert ships (no TensorFlow). Errors name `flag` and the file."""
    import json

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{flag}: LiteRT file {path} does not exist")
    with open(path, "rb") as f:
        data = f.read()
    try:
        from ai_edge_litert import schema_py_generated as schema

        model = schema.Model.GetRootAs(data, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == LITERT_METADATA.encode():
                return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    except ImportError:
        raise ValueError(f"{flag}: reading {path} needs ai-edge-litert "
                         "(pip install ai-edge-litert)") from None
    except Exception as err:  # a file that is not a flatbuffer fails anywhere in the parser
        raise ValueError(f"{flag}: {path} is not a LiteRT model (unreadable as a TFLite "
                         f"flatbuffer: {err})") from None
    raise ValueError(f"{flag}: {path} has no {LITERT_METADATA} metadata: write it with "
                     "python -m kerasbert.export --format=litert")


def _not_a_model_directory(directory):
    """What a local `directory` is when it is not a kerasbert model directory
    (None when it is one, or is remote)."""
    if is_remote(directory) or os.path.isfile(os.path.join(directory, TASK_FILE)):
        return None
    if os.path.isfile(directory):
        return "is a file"
    if not os.path.isdir(directory):
        from kerasbert.presets import is_preset

        return "is a preset" if is_preset(directory) else "does not exist"
    encoder_files = ("config.json", "bert_config.json", "encoder.safetensors",
                     "model.safetensors", "pytorch_model.bin", "bert_model.ckpt.index")
    if any(os.path.exists(os.path.join(directory, name)) for name in encoder_files):
        return "is an encoder checkpoint"
    return f"has no {TASK_FILE}"


EVAL_DIR = "eval"


def evaluation_dir(model_dir, source):
    """Where `kerasbert.evaluate` writes its scores of `source` by default:
    MODEL_DIR/eval/<data name>/, beside (never over) the metrics of training."""
    name = str(source)
    name = name[len("tfds:"):] if name.startswith("tfds:") else \
        os.path.splitext(os.path.basename(name.rstrip("/")))[0]
    name = re.sub(r"[^A-Za-z0-9._=-]+", "_", name).strip("._") or "data"
    return os.path.join(str(model_dir), EVAL_DIR, name)


def input_names(info):
    """The raw inputs of a model's rows, from its task config, as its
    signature has them (`registry.row_inputs`, read without TensorFlow)."""
    from kerasbert.tasks.registry import row_inputs

    return row_inputs(info["task"], info.get("text_pair"))
