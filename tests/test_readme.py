"""Every command of README.md runs as written, so the documentation cannot rot.

The two set-up commands at the top are what CI itself runs (`.ci/run` runs the
test command; this test runs the main job's `python -m kerasbert.train`). Then
every line of every `bash` block runs in order, then every `python` block, in a scratch directory where
`kerasbert/` and `launch/` point at this checkout, as a user would type them.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def readme_python_blocks():
    """The code of each `python` block of README.md, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S)]


def readme_commands():
    """(section title, command) of each bash line of README.md, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands, title = [], "top"
    for block in re.finditer(r"^(#+ [^\n]*)$|^```bash\n(.*?)^```", text, re.M | re.S):
        if block.group(1):
            title = block.group(1)
            continue
        body = block.group(2).replace("\\\n", " ")
        commands += [(title, line.strip()) for line in body.splitlines() if line.strip()]
    return commands


def _main_job(command):
    """The main job's training command, without its set-up part."""
    return command.split("&&")[-1].strip()


def test_readme_starts_with_the_two_set_up_commands():
    commands = readme_commands()
    setup, tests = commands[0][1], commands[1][1]
    assert setup.startswith("pip install") and "python -m kerasbert.train" in setup
    assert tests.startswith("pip install") and tests.endswith("python -m pytest -q")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci


def test_ci_runs_the_main_job_and_a_bayesian_search_before_the_test_extras():
    """`.ci/run`: the README's main job and a Bayesian search on the plain install,
    then the README's test command, each as the README writes it."""
    commands = readme_commands()
    setup, tests = commands[0][1], commands[1][1]
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    search = [i for i, line in enumerate(lines) if line.startswith("python -m kerasbert.tune")
              and "--tuner=bayesian" in line and "--max_trials=2" in line]
    assert setup in lines and tests in lines and search, lines
    assert lines.index(setup) < search[0] < lines.index(tests) == len(lines) - 1
    assert not any("[test]" in line for line in lines[:lines.index(tests)])


def main_job_writes_a_run_that_generalises(run, out):
    """The README's main job (MiniLM, 2 epochs on the shipped sample): the dev
    phrases never occur in training, so the pretrained encoder must generalise;
    the run holds its history, labels, vocabulary, report and confusion matrix."""
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.75, metrics
    assert [h["epoch"] for h in json.loads((run / "history.json").read_text())] == [1, 2]
    assert json.loads((run / "label_vocabulary.json").read_text())
    assert (run / "encoder" / "vocab.txt").exists()
    report = (run / "metrics_report.txt").read_text()
    assert f"{metrics['accuracy']:.4f}" in report and "negative" in report, report
    assert (run / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "dev metrics:" in out.stdout and "Traceback" not in out.stderr
    assert "cuda" not in out.stderr.lower()


def customize_kept_its_budget(run, out, elapsed, budget):
    """The README's `kerasbert.customize --time_budget=120` on the 240-row sample:
    its report, a budget kept by what the program recorded (not by this machine's
    wall clock: two test processes share two cores), and a second run into the
    same directory refused in one line (exit code 2) with the result untouched."""
    report = (run / "customization_report.md").read_text()
    for section in ("## What it saw", "## What it chose and why", "## Result"):
        assert section in report
    assert "240 training examples" in report and "accuracy" in report
    assert (run / "kerasbert_task.json").exists()
    # The final training stopped at its plan's cap (history.json counts the updates'
    # time only; the last loop may end a little past the cap) ...
    cap = float(re.search(r"training stops at (\d+) s if not", report).group(1))
    history = json.loads((run / "history.json").read_text())
    assert history and history[-1]["train_seconds"] <= cap + 10, (history[-1], cap)
    # ... a search ran only if planned, and at most its 3 trials ...
    if "a short search of 3 trials" in report:
        assert 1 <= len(list((run / "search" / "trials").glob("trial_*"))) <= 3
    else:
        assert not (run / "search").exists()
    # ... and the whole run (TensorFlow's start-up outside the budget) within a generous
    # multiple of the budget, which only a plan that ignored it, or a hang, would cross.
    assert elapsed < 5 * budget, f"took {elapsed:.0f} s for a {budget} s budget"
    stamps = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    again = subprocess.run(out.args, cwd=run.parent.parent, capture_output=True, text=True,
                           env=ENV, timeout=120)
    lines = again.stderr.strip().splitlines()
    assert again.returncode == 2 and len(lines) == 1, again.stderr[-2000:]
    assert lines[0].startswith("kerasbert.customize: error: --output_dir") and (
        "customization_report.md" in lines[0] and "--overwrite" in lines[0])
    assert stamps == {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}


def test_every_readme_command_runs(tmp_path):
    for name in ("kerasbert", "launch"):
        (tmp_path / name).symlink_to(ROOT / name)
    commands = readme_commands()
    runnable = [_main_job(commands[0][1])] + [command for _, command in commands[2:]]
    assert len(runnable) >= 12, runnable
    for command in runnable:
        argv = shlex.split(command)
        if argv[0] == "python":
            argv[0] = sys.executable
        start = time.monotonic()
        out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True,
                             env=dict(ENV, PYTHON=sys.executable), timeout=900)
        print(f"{time.monotonic() - start:5.0f} s  {command[:100]}")
        assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        if command == runnable[0]:
            main_job_writes_a_run_that_generalises(tmp_path / "runs" / "sentiment", out)
        if argv[1:3] == ["-m", "kerasbert.customize"]:
            budget = int(re.search(r"--time_budget=(\d+)", command).group(1))
            customize_kept_its_budget(tmp_path / "runs" / "auto", out,
                                      time.monotonic() - start, budget)
    for code in readme_python_blocks():
        start = time.monotonic()
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                             text=True, env=ENV, timeout=900)
        print(f"{time.monotonic() - start:5.0f} s  python block {code.splitlines()[0][:80]}")
        assert out.returncode == 0, f"{code}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    assert (tmp_path / "runs" / "api" / "metrics.json").exists()
    assert (tmp_path / "runs" / "sentiment_savedmodel" / "saved_model.pb").exists()
    assert (tmp_path / "runs" / "lora" / "adapter.safetensors").exists()
    assert json.loads((tmp_path / "runs" / "sentiment_2l" / "distill.json").read_text())[
        "layer_map"] == [2, 5]
    assert (tmp_path / "runs" / "lora_savedmodel" / "saved_model.pb").exists()
    assert (tmp_path / "runs" / "keras_sentiment_savedmodel" / "saved_model.pb").exists()


@pytest.mark.parametrize("path", ["colab", "launch", "bench/RESULTS.md"])
def test_readme_points_at_what_exists(path):
    assert (ROOT / path).exists()
