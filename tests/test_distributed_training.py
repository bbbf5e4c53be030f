"""`python -m kerasbert.train` under several replicas and several workers, as users run it.

Every run fine-tunes the random-initialised BERT-Tiny preset on an SST-2 slice
with dropout off and static batches, so that a run split over replicas or
workers must reproduce the single-device run up to float rounding.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
LAUNCH = Path(__file__).resolve().parent.parent / "launch"


@pytest.fixture(scope="module")
def sst2_slice(test_data, tmp_path_factory):
    """192 train and 64 dev rows of GLUE SST-2, in its own TSV layout."""
    directory = tmp_path_factory.mktemp("sst2")
    for name, rows in (("train.tsv", 192), ("dev.tsv", 64)):
        with open(test_data / "glue" / "SST-2" / name, encoding="utf-8") as f:
            lines = f.readlines()[: rows + 1]
        (directory / name).write_text("".join(lines), encoding="utf-8")
    return directory


def _args(data, output_dir, *extra):
    return ["--train_data", str(data / "train.tsv"), "--eval_data", str(data / "dev.tsv"),
            "--text_column=sentence", "--model=bert_tiny_en_uncased", f"--output_dir={output_dir}",
            "--epochs=2", "--batch_size=16", "--max_seq_length=32", "--dropout=0",
            "--batch_mode=static", "--learning_rate=1e-3", "--log_every_steps=1",
            "--verbose=0", *extra]


def _start(args, tf_config=None):
    env = dict(ENV, TF_CONFIG=json.dumps(tf_config)) if tf_config else ENV
    return subprocess.Popen([sys.executable, "-m", "kerasbert.train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process, timeout=600):  # beside the other test process on 2 cores
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def _cluster(num_workers):
    ports = []
    for _ in range(num_workers):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    workers = [f"127.0.0.1:{port}" for port in ports]
    return [{"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
            for i in range(num_workers)]


def _losses(output_dir):
    """The per-update training losses from the run's TensorBoard log."""
    losses = {}
    for path in glob.glob(os.path.join(output_dir, "logs", "train", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "loss":
                    losses[event.step] = float(tf.make_ndarray(value.tensor))
    return np.array([losses[step] for step in sorted(losses)])


def _weights(model_dir):
    arrays = load_file(os.path.join(model_dir, "encoder", "encoder.safetensors"))
    arrays.update(load_file(os.path.join(model_dir, "head.safetensors")))
    return arrays


def _assert_same_weights(a, b, atol):
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst <= atol, f"weights differ by {worst}"


@pytest.fixture(scope="module")
def single_run(sst2_slice, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("single")
    code, out, err = _finish(_start(_args(sst2_slice, output_dir)))
    assert code == 0, err[-3000:]
    assert "default strategy (cpu), 1 replica" in out
    return output_dir


def test_four_cpu_replicas_train_like_one_device(sst2_slice, single_run, tmp_path):
    code, out, err = _finish(_start(_args(sst2_slice, tmp_path, "--cpu_replicas=4")))
    assert code == 0, err[-3000:]
    assert ("MirroredStrategy (mirrored), 4 replicas, precision float32, XLA off, "
            "global batch 16 (4 per replica)") in out
    single, mirrored = _losses(single_run), _losses(tmp_path)
    assert len(single) == len(mirrored) == 24
    np.testing.assert_allclose(mirrored, single, rtol=1e-5, atol=1e-5)
    assert single.std() > 1e-3, "batches of different losses make the comparison mean something"
    _assert_same_weights(_weights(tmp_path), _weights(single_run), atol=1e-4)


def test_two_workers_on_loopback_match_one_process(sst2_slice, single_run, tmp_path):
    """Through the launch script, as a user starts a multi-worker job on one machine."""
    out = subprocess.run([str(LAUNCH / "multi_worker.sh"), "--local=2", "--",
                          *_args(sst2_slice, tmp_path)], capture_output=True, text=True,
                         env=dict(ENV, PYTHON=sys.executable), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("MultiWorkerMirroredStrategy (multi_worker), 2 replicas") == 2
    # The chief writes the run; the other worker keeps its own copy aside.
    worker_dir = tmp_path / "workers" / "worker_1"
    chief, worker = _weights(tmp_path), _weights(worker_dir)
    _assert_same_weights(chief, worker, atol=0.0)
    _assert_same_weights(chief, _weights(single_run), atol=1e-4)
    np.testing.assert_allclose(_losses(tmp_path), _losses(single_run), rtol=1e-5, atol=1e-5)
    ours = json.loads((tmp_path / "metrics.json").read_text())
    reference = json.loads((single_run / "metrics.json").read_text())
    assert ours["accuracy"] == pytest.approx(reference["accuracy"], abs=1 / 64)


# Worker 1 of the killed-worker test: `python -m kerasbert.train ARGS` with one
# Keras callback (the Trainer's own hook) that, before the first update after the
# checkpoint at update AFTER, waits for the chief's checkpoint file and then kills
# this process with SIGKILL, as a machine dies. The chief cannot run that update
# without it, so the job always fails there, whatever the speed of the machine.
_WORKER_KILLED_AFTER_CHECKPOINT = r"""
import os, runpy, signal, sys, time

import keras

from kerasbert.loop import trainer

CHIEF_CHECKPOINT, AFTER = sys.argv[1], int(sys.argv[2])


class KilledAfterTheChiefsCheckpoint(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch >= AFTER:
            deadline = time.monotonic() + 300
            while not os.path.exists(CHIEF_CHECKPOINT) and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)


fit = trainer.Trainer.fit


def fit_then_die(self, *args, callbacks=None, **kwargs):
    return fit(self, *args, callbacks=[*(callbacks or []), KilledAfterTheChiefsCheckpoint()],
               **kwargs)


trainer.Trainer.fit = fit_then_die
sys.argv = ["kerasbert.train", *sys.argv[3:]]
runpy.run_module("kerasbert.train", run_name="__main__", alter_sys=True)
"""


def test_killed_worker_fails_cleanly_and_the_job_resumes(sst2_slice, single_run, tmp_path):
    args = _args(sst2_slice, tmp_path, "--checkpoint_every_steps=5")
    configs = _cluster(2)
    checkpoint = tmp_path / "checkpoints" / "checkpoint"
    chief = _start(args, configs[0])
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER_KILLED_AFTER_CHECKPOINT, str(checkpoint), "5", *args],
        env=dict(ENV, TF_CONFIG=json.dumps(configs[1])), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        worker_code, _, worker_err = _finish(worker)
        assert worker_code == -signal.SIGKILL, worker_err[-2000:]
        killed = time.monotonic()
        # A lost peer is noticed within seconds; the kill guard is far beyond
        # the bound, so that a chief that waits on the dead worker fails on it.
        code, _, err = _finish(chief, timeout=400)
        waited = time.monotonic() - killed
    finally:
        for p in (chief, worker):
            if p.poll() is None:
                p.kill()
    assert waited < 120, f"the chief noticed the lost worker after {waited:.0f} s"
    assert "model_checkpoint_path: \"ckpt-5\"" in checkpoint.read_text()
    lines = err.strip().splitlines()
    assert code == 1 and lines[-1].startswith("kerasbert.train: error: a worker of this job "
                                              "stopped"), err[-2000:]
    assert "Traceback" not in err
    # The same command on both workers continues from the chief's last checkpoint.
    processes = [_start(args, config) for config in configs]
    try:
        (c0, out0, err0), (c1, _, err1) = [_finish(p) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    assert c0 == 0 and c1 == 0, (err0[-2000:], err1[-2000:])
    assert "resuming from" in out0 and "(epoch 1, update 5)" in out0, out0[-2000:]
    _assert_same_weights(_weights(tmp_path), _weights(single_run), atol=1e-4)


def test_tpu_flag_without_a_tpu_is_a_one_line_error(sst2_slice, tmp_path):
    # No TPU answers "local" at once (no wait for the 300 s connection deadline);
    # the bound is a generous multiple of the start-up, the kill guard beyond it.
    start = time.monotonic()
    code, out, err = _finish(_start(_args(sst2_slice, tmp_path, "--tpu=local")), timeout=400)
    assert time.monotonic() - start < 150, f"took {time.monotonic() - start:.0f} s"
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("kerasbert.train: error:") and "TPU" in lines[0]
    assert lines[0].endswith("run `python -m kerasbert.doctor` to see what this machine has "
                             "and what to change")
