"""The settings a run was started with, kept beside its checkpoints.

A training program writes `run_settings.json` into its output directory when
it starts. Run again into that directory, it resumes the run only when its
settings are the same (the same command after a crash); with other settings it
stops with a one-line error that names the differing flags, and nothing is
lost unless `--overwrite` asks to start afresh. No TensorFlow import for a
local directory: the programs check this before any work starts.
"""

import json
import os
import shutil

from kerasbert.loop.files import BEST_WEIGHTS_FILE, CHECKPOINTS_DIR
from kerasbert.outputs import write_json
from kerasbert.paths import is_remote

SETTINGS_FILE = "run_settings.json"
# What a finished run no longer needs (`remove_training_state`): its model
# directory (encoder/, head.safetensors) holds the final weights.
TRAINING_STATE = (BEST_WEIGHTS_FILE, CHECKPOINTS_DIR)
# What a fine-tuning run writes into its output directory; a directory holding
# any of them holds a run. --overwrite removes them (and nothing else).
RUN_OUTPUTS = (CHECKPOINTS_DIR, "history.json", BEST_WEIGHTS_FILE, "best.weights.h5", "logs",
               "workers", "kerasbert_task.json", "encoder", "head.safetensors", "label_vocabulary.json",
               "adapter.safetensors", "metrics.json", "metrics_report.txt",
               "confusion_matrix.png", "eval", "model.keras", SETTINGS_FILE)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def _exists(path):
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def read_settings(output_dir):
    """The settings stored in `output_dir`: a dict; {} when the directory holds a
    run without them; None when it holds no run."""
    path = os.path.join(output_dir, SETTINGS_FILE)
    if _exists(path):
        if is_remote(path):
            with _gfile().GFile(path) as f:
                return json.load(f)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    if any(_exists(os.path.join(output_dir, name)) for name in RUN_OUTPUTS):
        return {}
    return None


def check_settings(output_dir, settings, defaults, overwrite=False):
    """Whether a run with `settings` ({flag: value}) may start in `output_dir`.

    Returns "new" (nothing there, or `overwrite`), or "resume" (a run with the
    same settings). Raises ValueError naming the differing flags when the run
    there has other settings (a flag missing from the stored ones counts as at
    its default, from `defaults`), or has none stored.
    """
    stored = read_settings(output_dir)
    if stored is None or overwrite:
        return "new"
    if not stored:
        raise ValueError(f"--output_dir {output_dir} holds a run whose settings were not "
                         f"recorded (no {SETTINGS_FILE}): pass --overwrite to start afresh "
                         "there, or choose another --output_dir")
    current = json.loads(json.dumps(settings))
    differ = [f"--{name}={_shown(stored.get(name, defaults.get(name)))} there, "
              f"{_shown(current.get(name, defaults.get(name)))} now"
              for name in sorted(set(stored) | set(current))
              if stored.get(name, defaults.get(name)) != current.get(name, defaults.get(name))]
    if differ:
        raise ValueError(f"--output_dir {output_dir} holds a run with other settings "
                         f"({'; '.join(differ)}): run with its settings to resume it, pass "
                         "--overwrite to start afresh there, or choose another --output_dir")
    return "resume"


def _shown(value):
    return json.dumps(value) if value is None or isinstance(value, (bool, list)) else value


def existing_outputs(output_dir, names=RUN_OUTPUTS):
    """Which of `names` (a run's outputs by default) `output_dir` holds."""
    return [name for name in names if _exists(os.path.join(output_dir, name))]


def remove_outputs(output_dir, names=RUN_OUTPUTS):
    """Remove `names` (a run's outputs by default) from `output_dir`, and
    nothing else."""
    for name in names:
        path = os.path.join(output_dir, name)
        if is_remote(path):
            if _gfile().isdir(path):
                _gfile().rmtree(path)
            elif _gfile().exists(path):
                _gfile().remove(path)
        elif os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def remove_training_state(output_dir):
    """Remove a finished run's checkpoints and best weights (`TRAINING_STATE`).

    The checkpoints go last, and first under another name: a process killed
    midway leaves either every checkpoint, which a rerun resumes from, or
    none, and then `kerasbert_task.json` says the run finished."""
    for name in TRAINING_STATE:
        path = os.path.join(output_dir, name)
        if not _exists(path):
            continue
        if name == CHECKPOINTS_DIR:
            doomed = f"{path}.removing"
            if _exists(doomed):
                remove_outputs(output_dir, [os.path.basename(doomed)])
            _gfile().rename(path, doomed) if is_remote(path) else os.rename(path, doomed)
            name = os.path.basename(doomed)
        remove_outputs(output_dir, [name])


def start_run(output_dir, settings, overwrite=False):
    """Remove the outputs of the run in `output_dir` when `overwrite`, and record
    `settings` there (atomically: every worker of a job writes the same)."""
    if overwrite:
        remove_outputs(output_dir)
    if not is_remote(output_dir):
        os.makedirs(output_dir, exist_ok=True)
    else:
        _gfile().makedirs(output_dir)
    write_json(os.path.join(output_dir, SETTINGS_FILE), settings, sort_keys=True)
