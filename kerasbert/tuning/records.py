"""What each trial did, written by the process that ran it, beside KerasTuner's trial.json.

    SEARCH_DIR/trials/trial_03/
        trial.json            KerasTuner's: hyperparameters, score, status (the oracle writes it)
        kerasbert_trial.json  this record: tuner id, host, times, the recipe, each
                              execution's dev metrics, the objective, the failure reason
        runs.jsonl            one line per start of the trial (a resumed trial has two)
        execution_0/          the model directory `kerasbert.train` writes (per seed)

KerasTuner drops a trial's error message when a worker reports it over gRPC,
so the reason of a failure is kept here. Plain files, no TensorFlow: the
summary of a search reads them without starting TensorFlow.
"""

import json
import os
import socket
import time

from kerasbert.outputs import write_json

RECORD_FILE = "kerasbert_trial.json"
RUNS_FILE = "runs.jsonl"
EXECUTION_FILE = "kerasbert_execution.json"


def execution_dir(trial_dir, index):
    """The `kerasbert.train --output_dir` of execution `index` (seed + index) of a trial."""
    return os.path.join(trial_dir, f"execution_{index}")


def start(trial_dir, trial_id, tuner_id, recipe):
    """Record that `tuner_id` starts the trial (appends to runs.jsonl); returns the record."""
    os.makedirs(trial_dir, exist_ok=True)
    now = time.time()
    run = {"tuner_id": tuner_id, "host": socket.gethostname(), "pid": os.getpid(),
           "started": now}
    with open(os.path.join(trial_dir, RUNS_FILE), "a", encoding="utf-8") as f:
        f.write(json.dumps(run) + "\n")
    record = {"trial_id": trial_id, "status": "RUNNING", "recipe": recipe, **run,
              "finished": None, "seconds": None, "objective": None, "executions": [],
              "reason": None}
    _write(trial_dir, record)
    return record


def finish(trial_dir, record, status, objective=None, reason=None):
    """Close the record: status COMPLETED (with the objective) or FAILED (with the reason)."""
    record.update(status=status, finished=time.time(), objective=objective, reason=reason)
    record["seconds"] = round(record["finished"] - record["started"], 1)
    _write(trial_dir, record)
    return record


def add_execution(trial_dir, record, execution):
    """Append one execution's {index, seed, output_dir, metrics, seconds}, and mark its
    directory done so that a resumed trial does not train it again."""
    record["executions"].append(execution)
    _write(trial_dir, record)
    write_json_atomically(os.path.join(execution["output_dir"], EXECUTION_FILE), execution)


def finished_execution(output_dir):
    """The execution record of a directory trained to the end before, or None."""
    path = os.path.join(output_dir, EXECUTION_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read(trial_dir):
    """The trial's record, or None when no process started it."""
    path = os.path.join(trial_dir, RECORD_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def runs(trial_dir):
    """Every start of the trial: [{tuner_id, host, pid, started}, ...]."""
    path = os.path.join(trial_dir, RUNS_FILE)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _write(trial_dir, record):
    write_json_atomically(os.path.join(trial_dir, RECORD_FILE), record)


def write_json_atomically(path, obj):
    """Write `obj` as JSON to `path` whole (`kerasbert.outputs.write_json`): a reader,
    or a restarted process, never sees half a file, even if this one is killed
    mid-write or the disk fills."""
    write_json(path, obj, default=str)