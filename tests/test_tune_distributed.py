"""Distributed search: a chief and two workers on 127.0.0.1, as subprocesses; the launch script.

The chief serves the oracle over gRPC; workers tuner0 and tuner1 run trials.
The chief is killed once a trial has finished and started again: the search
goes on with both workers and no finished trial is lost or run twice.
"""

import json
import shlex
import signal
import socket
import subprocess
from pathlib import Path

from tests.test_tuning import (make_sst2_slice, make_tiny_model, start_tune, stop_all, trials,
                               tune_args, wait_until)

LAUNCH = Path(__file__).resolve().parent.parent / "launch"
SPACE = """\
learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, sampling: log}
batch_size: [8, 16]
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exit_code(process, timeout):
    """The process's exit code, or "still running" after `timeout` seconds."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return "still running"


def _tails(logs):
    """The end of each process's log, whole (a dict in an assert message is cut short)."""
    return "\n".join(f"--- {name}\n{path.read_text()[-3000:]}" for name, path in logs.items())


def test_chief_and_two_workers_share_the_search_and_survive_a_chief_restart(
        tmp_path, test_data):
    data = make_sst2_slice(test_data, tmp_path)
    model = make_tiny_model(str(tmp_path / "tiny_encoder"))
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out_dir = tmp_path / "search"
    args = tune_args(data, model, out_dir, "--tuner=bayesian", "--max_trials=3",
                     f"--search_space={space}")
    oracle = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    logs = {name: tmp_path / f"{name}.log" for name in ("chief", "tuner0", "tuner1")}
    chief = start_tune(args, logs["chief"], KERASTUNER_TUNER_ID="chief", **oracle)
    workers = [start_tune(args, logs[name], KERASTUNER_TUNER_ID=name, **oracle)
               for name in ("tuner0", "tuner1")]
    try:
        wait_until(lambda: any(t["status"] == "COMPLETED" for t, _, _ in trials(out_dir).values()),
                   timeout=300, processes=[chief, *workers], what="a completed trial")
        chief.send_signal(signal.SIGKILL)
        chief.wait(timeout=30)
        finished = {tid: (t, record) for tid, (t, record, _) in trials(out_dir).items()
                    if t["status"] == "COMPLETED"}
        chief = start_tune(args, logs["chief"], KERASTUNER_TUNER_ID="chief", **oracle)
        for process in (*workers, chief):
            assert _exit_code(process, timeout=400) == 0, _tails(logs)
    finally:
        stop_all([chief, *workers])

    done = trials(out_dir)
    assert len(done) == 3 and all(t["status"] == "COMPLETED" for t, _, _ in done.values())
    for trial_id, (trial, record) in finished.items():
        assert done[trial_id][0]["score"] == trial["score"]
        assert done[trial_id][1]["finished"] == record["finished"]
    # Every trial ran once, on the worker its record names.
    assert all(len(runs) == 1 for _, _, runs in done.values())
    tuners = {record["tuner_id"] for _, record, _ in done.values()}
    assert tuners == {"tuner0", "tuner1"}
    for name in ("tuner0", "tuner1"):
        ran = [tid for tid, (_, record, _) in done.items() if record["tuner_id"] == name]
        log = logs[name].read_text()
        assert all(f"trial {tid} [{name}] completed" in log for tid in ran), log[-2000:]
    # In parallel: a trial of one worker overlaps in time with a trial of the other.
    spans = [(r["tuner_id"], r["started"], r["finished"]) for _, r, _ in done.values()]
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in spans for b in spans)
    assert "Reloading Tuner" in logs["chief"].read_text()
    table = json.loads((out_dir / "results.json").read_text())
    assert sorted(r["trial_id"] for r in table["trials"]) == sorted(done)
    assert (out_dir / "best_config.yaml").exists() and (out_dir / "best_model").is_dir()


def test_a_killed_worker_restarts_and_finishes_its_own_trial(tmp_path, test_data):
    data = make_sst2_slice(test_data, tmp_path, train_rows=512)
    model = make_tiny_model(str(tmp_path / "tiny_encoder"))
    out_dir = tmp_path / "search"
    args = tune_args(data, model, out_dir, "--tuner=random", "--max_trials=3", "--epochs=4")
    oracle = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    logs = {name: tmp_path / f"{name}.log" for name in ("chief", "tuner0", "tuner1")}
    chief = start_tune(args, logs["chief"], KERASTUNER_TUNER_ID="chief", **oracle)
    workers = {name: start_tune(args, logs[name], KERASTUNER_TUNER_ID=name, **oracle)
               for name in ("tuner0", "tuner1")}

    def running_on_tuner0():
        return [tid for tid, (t, _, runs) in trials(out_dir).items()
                if t["status"] == "RUNNING" and runs and runs[-1]["tuner_id"] == "tuner0"]

    try:
        wait_until(running_on_tuner0, timeout=300, processes=[chief, *workers.values()],
                   what="a trial running on tuner0")
        workers["tuner0"].send_signal(signal.SIGKILL)
        workers["tuner0"].wait(timeout=30)
        killed = running_on_tuner0()
        finished = {tid: t["score"] for tid, (t, _, _) in trials(out_dir).items()
                    if t["status"] == "COMPLETED"}
        workers["tuner0"] = start_tune(args, logs["tuner0"], KERASTUNER_TUNER_ID="tuner0",
                                       **oracle)
        for process in (*workers.values(), chief):
            assert _exit_code(process, timeout=400) == 0, _tails(logs)
    finally:
        stop_all([chief, *workers.values()])

    done = trials(out_dir)
    assert len(done) == 3 and all(t["status"] == "COMPLETED" for t, _, _ in done.values())
    assert all(done[tid][0]["score"] == score for tid, score in finished.items())
    # The killed trial was started again by the restarted tuner0, and by nobody else;
    # every other trial ran once.
    assert len(killed) == 1
    assert [run["tuner_id"] for run in done[killed[0]][2]] == ["tuner0", "tuner0"]
    assert all(len(runs) == 1 for tid, (_, _, runs) in done.items() if tid != killed[0])


def _dry_run(*args):
    return subprocess.run([str(LAUNCH / "tune_distributed.sh"), *args], capture_output=True,
                          text=True, timeout=60)


def test_launch_script_starts_a_chief_and_n_workers_on_one_oracle():
    out = _dry_run("--workers=3", "--gpus_per_worker=2", "--dry-run", "--",
                   "--train_data=train.tsv", "--output_dir=runs/my search")
    assert out.returncode == 0, out.stderr
    commands = [shlex.split(line) for line in out.stdout.strip().splitlines()]
    envs = [dict(w.split("=", 1) for w in c if "=" in w and w.startswith(("KERAS", "CUDA")))
            for c in commands]
    assert [e["KERASTUNER_TUNER_ID"] for e in envs] == ["chief", "tuner0", "tuner1", "tuner2"]
    assert {e["KERASTUNER_ORACLE_IP"] for e in envs} == {"127.0.0.1"}
    port = {e["KERASTUNER_ORACLE_PORT"] for e in envs}
    assert len(port) == 1 and int(port.pop()) > 0
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["", "0,1", "2,3", "4,5"]
    for command in commands:
        assert command[-4:] == ["-m", "kerasbert.tune", "--train_data=train.tsv",
                                "--output_dir=runs/my search"]


def test_launch_script_one_process_per_host_and_bad_options():
    out = _dry_run("--role=worker", "--index=4", "--ip=10.0.0.1", "--port=8000", "--dry-run",
                   "--", "--max_trials=9")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["KERASTUNER_TUNER_ID=tuner4", "KERASTUNER_ORACLE_IP=10.0.0.1",
                                  "KERASTUNER_ORACLE_PORT=8000", "python", "-m",
                                  "kerasbert.tune", "--max_trials=9"]
    for args, message in ((["--", "--x=1"], "give --workers=N"),
                          (["--role=worker", "--port=1"], "needs --index"),
                          (["--role=chief"], "--role needs --port"),
                          (["--workers=0"], "positive number"),
                          (["--bogus"], "unknown option --bogus")):
        out = _dry_run(*args)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
        assert len(out.stderr.splitlines()) == 1
