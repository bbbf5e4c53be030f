"""`python -m kerasbert.train` as a user runs it: a subprocess, real files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "kerasbert" / "data" / "samples"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _train(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "kerasbert.train", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout)


def _files(folder):
    """{relative path: bytes} of every file below `folder`."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_rerun_resumes_only_with_the_same_settings(tmp_path):
    run = tmp_path / "run"
    args = [f"--train_data={SAMPLES / 'sentiment_train.csv'}",
            f"--eval_data={SAMPLES / 'sentiment_dev.csv'}", "--model=bert_tiny_en_uncased",
            f"--output_dir={run}", "--max_steps=2", "--batch_size=16", "--max_seq_length=32",
            "--verbose=0"]
    first = _train(*args)
    assert first.returncode == 0, first.stderr
    settings = json.loads((run / "run_settings.json").read_text())
    assert settings["learning_rate"] == 5e-5 and settings["max_steps"] == 2
    written = _files(run)

    # Other settings: refused in one line naming what differs, and nothing is touched.
    other = _train(*args, "--learning_rate=1e-3", "--epochs=2", timeout=120)
    assert other.returncode == 2, other.stderr
    lines = other.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"kerasbert.train: error: --output_dir {run} holds a run with other settings "
        "(--epochs=3 there, 2 now; --learning_rate=5e-05 there, 0.001 now)"), lines
    assert "--overwrite" in lines[0]
    assert _files(run) == written

    # The run ended: its training state is gone (the model directory holds each weight
    # once), and the same command finds it finished and touches nothing (a run killed
    # before its end resumes: test_distributed_training). --overwrite starts afresh with
    # the new settings.
    assert not (run / "checkpoints").exists() and not (run / "model.keras").exists()
    same = _train(*args[:-1], "--verbose=1")
    assert same.returncode == 0 and f"{run} holds this run, finished" in same.stdout, (
        same.stdout + same.stderr)
    assert _files(run) == written
    fresh = _train(*args, "--learning_rate=1e-3", "--overwrite")
    assert fresh.returncode == 0, fresh.stderr
    assert "resuming" not in fresh.stdout
    assert json.loads((run / "run_settings.json").read_text())["learning_rate"] == 1e-3
    assert [h["step"] for h in json.loads((run / "history.json").read_text())] == [2]


@pytest.mark.parametrize("flag,message", [
    ("--task=poetry", "--task"),
    ("--learning_rate=0", "--learning_rate must be > 0"),
    ("--max_seq_length=1024", "--max_seq_length must be in [8, 512]"),
    ("--train_data=/nope.csv", "file /nope.csv does not exist"),
])
def test_bad_flags_are_one_line_errors_with_exit_code_2(tmp_path, flag, message):
    args = [f"--train_data={SAMPLES / 'sentiment_train.csv'}", f"--output_dir={tmp_path}", flag]
    out = _train(*args, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerasbert.train: error:"), out.stderr
    assert message in lines[0]


def test_config_file_with_flag_override(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("learning_rate: -1\nepochs: 1\n")
    out = _train(f"--config={config}", f"--train_data={SAMPLES / 'sentiment_train.csv'}",
                 f"--output_dir={tmp_path}", timeout=60)
    assert out.returncode == 2 and "--learning_rate must be > 0, got -1" in out.stderr


@pytest.mark.parametrize("program", ["train", "evaluate", "predict", "export", "tune",
                                     "pretrain", "customize", "convert"])
def test_every_program_explains_itself_with_help(program):
    out = subprocess.run([sys.executable, "-m", f"kerasbert.{program}", "--help"],
                         capture_output=True, text=True, env=ENV, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].strip() and ("--model" in out.stdout or "--output_dir" in out.stdout), \
        out.stdout[:500]
    assert "Traceback" not in out.stderr


def test_a_train_file_with_only_a_header_is_a_one_line_error(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text,label\n", encoding="utf-8")
    out = _train(f"--train_data={train}", f"--output_dir={tmp_path / 'run'}", timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines == [f"kerasbert.train: error: {train}: no examples: the file holds only a "
                     f"header"], out.stderr


READER_PROGRAMS = ["train", "evaluate", "predict", "tune", "pretrain", "customize"]


@pytest.mark.parametrize("program", READER_PROGRAMS)
def test_every_program_that_reads_files_takes_the_reader_flags(program):
    import importlib

    from absl import flags

    from kerasbert.cli.flags import UsageError, parse_argv

    def program_flags(name):
        fv = flags.FlagValues()
        importlib.import_module(f"kerasbert.cli.{name}").define_flags(fv)
        return fv

    train, fv = program_flags("train"), program_flags(program)
    assert fv["encoding"].help == train["encoding"].help and fv["encoding"].default == "utf-8"
    if program == "pretrain":  # a plain-text corpus: no header
        assert "header" not in fv
    else:
        assert fv["header"].help == train["header"].help and fv["header"].default == "auto"
        parse_argv(fv, ["prog", "--encoding=latin-1", "--header=no"], "doc")
        assert (fv.encoding, fv.header) == ("latin-1", "no")
    with pytest.raises(UsageError, match="unknown encoding"):
        parse_argv(program_flags(program), ["prog", "--encoding=latin-99"], "doc")


def test_evaluate_and_predict_read_files_as_the_header_flag_says(tmp_path):
    from kerasbert.data.errors import DataError
    from kerasbert.serving.task_io import Columns, TaskIO
    from kerasbert.tasks import get_task
    from kerasbert.training.text_data import labelled_source

    path = tmp_path / "rows.tsv"
    path.write_text("review\tverdict\nA calm film.\tcalm\nA loud one.\tloud\n", encoding="utf-8")
    io = TaskIO(get_task("classification", ["calm", "loud"]), None, {"task": "classification"})
    inputs = io.read_inputs(str(path), Columns(0, None, None, "yes"))
    assert inputs == {"text": ["A calm film.", "A loud one."]}
    assert len(io.read_inputs(str(path), Columns(0, None, None, "no"))["text"]) == 3
    source, summary = labelled_source(io.signature, str(path), Columns(0, None, 1, "yes"))
    assert [e.label for e in source.examples()] == ["calm", "loud"]
    assert summary.num_examples == 2
    # kerasbert.predict reads a file a chunk of rows at a time, in file order.
    many = tmp_path / "many.tsv"
    rows = [f"Review number {i}.\tcalm" for i in range(5)]
    many.write_text("review\tverdict\n" + "\n".join(rows) + "\n", encoding="utf-8")
    chunks = list(io.iter_inputs(str(many), Columns(0, None, None, "yes"), rows=2))
    assert [len(c["text"]) for c in chunks] == [2, 2, 1]
    assert [t for c in chunks for t in c["text"]] == [r.split("\t")[0] for r in rows]
    assert io.read_inputs(str(many), Columns(0, None, None, "yes"))["text"] == [
        t for c in chunks for t in c["text"]]
    assert [len(c["text"]) for c in io.iter_inputs(str(many), Columns(0, None, None, "yes"),
                                                    rows=5)] == [5]
    many.write_text("review\tverdict\n", encoding="utf-8")
    with pytest.raises(DataError, match="no examples"):
        list(io.iter_inputs(str(many), Columns(0, None, None, "yes"), rows=2))
