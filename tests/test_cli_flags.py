"""Every program checks its numbers and paths before any work starts: a bad
value is one line on stderr and exit code 2, never a traceback later on."""

import importlib
import json
from pathlib import Path

import pytest
from absl import flags

from kerasbert.cli.flags import FLAG_RANGES, numeric_flags, run_main

SAMPLES = Path(__file__).resolve().parent.parent / "kerasbert" / "data" / "samples"
TRAIN, DEV = SAMPLES / "sentiment_train.csv", SAMPLES / "sentiment_dev.csv"
PROGRAMS = ("train", "evaluate", "predict", "export", "tune", "pretrain", "customize", "convert",
            "explain", "distill")


def _program_flags(program):
    module = importlib.import_module(f"kerasbert.cli.{program}")
    if hasattr(module, "new_flags"):
        return module.new_flags()
    return getattr(module, "FLAGS", flags.FlagValues())  # convert: argparse, no numbers


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_numeric_flag_of_every_program_has_a_range(program):
    missing = [name for name in numeric_flags(_program_flags(program)) if name not in FLAG_RANGES]
    assert not missing, f"kerasbert.{program}: add the range of {missing} to FLAG_RANGES"


@pytest.fixture
def places(tmp_path):
    """A file, a folder, a fake model directory (only its task config, which is all
    that the flag checks read), a run without recorded settings, and a config file."""
    (tmp_path / "file.txt").write_text("not a folder\n")
    (tmp_path / "folder").mkdir()
    model = tmp_path / "model"
    model.mkdir()
    (model / "kerasbert_task.json").write_text(json.dumps(
        {"task": "classification", "labels": ["negative", "positive"], "max_seq_length": 32}))
    (tmp_path / "old_run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "old_run" / "history.json").write_text("[]\n")
    (tmp_path / "zero_accumulation.yaml").write_text("gradient_accumulation_steps: 0\n")
    yield {"tmp": tmp_path, "file": tmp_path / "file.txt", "folder": tmp_path / "folder",
           "model": model, "train": TRAIN, "dev": DEV}


TRAIN_ARGS = ["--train_data={train}", "--eval_data={dev}", "--output_dir={tmp}/out"]
CASES = [
    # numbers, from the command line and from --config, in every program
    ("train", TRAIN_ARGS + ["--gradient_accumulation_steps=0"],
     "--gradient_accumulation_steps must be >= 1, got 0"),
    ("train", TRAIN_ARGS + ["--config={tmp}/zero_accumulation.yaml"],
     "--gradient_accumulation_steps must be >= 1, got 0"),
    ("train", TRAIN_ARGS + ["--batch_size=6", "--gradient_accumulation_steps=4"],
     "--batch_size 6 is not divisible by --gradient_accumulation_steps 4"),
    ("train", TRAIN_ARGS + ["--warmup_ratio=1"], "--warmup_ratio must be in [0, 1), got 1.0"),
    ("train", TRAIN_ARGS + ["--log_every_steps=0"], "--log_every_steps must be >= 1, got 0"),
    ("train", TRAIN_ARGS + ["--doc_stride=0"], "--doc_stride must be >= 1, got 0"),
    ("train", TRAIN_ARGS + ["--cpu_replicas=0"], "--cpu_replicas must be >= 1, got 0"),
    ("train", TRAIN_ARGS + ["--dropout=1.5"], "--dropout must be in [0, 1), got 1.5"),
    ("tune", TRAIN_ARGS + ["--max_trials=0"], "--max_trials must be >= 1, got 0"),
    ("tune", TRAIN_ARGS + ["--gradient_accumulation_steps=0"],
     "--gradient_accumulation_steps must be >= 1"),
    ("pretrain", ["--train_data={train}", "--output_dir={tmp}/out",
                  "--gradient_accumulation_steps=0"], "--gradient_accumulation_steps must be >= 1"),
    ("pretrain", ["--train_data={train}", "--output_dir={tmp}/out", "--eval_fraction=1"],
     "--eval_fraction must be in (0, 1), got 1.0"),
    ("customize", TRAIN_ARGS + ["--time_budget=0"], "--time_budget must be > 0, got 0.0"),
    ("evaluate", ["--model={model}", "--eval_data={dev}", "--batch_size=0"],
     "--batch_size must be >= 1, got 0"),
    ("predict", ["--model={model}", "--batch_size=-3", "a text"],
     "--batch_size must be >= 1, got -3"),
    # the kind of every path
    ("train", ["--train_data={train}", "--output_dir={file}"],
     "--output_dir: {file} is a file, not a folder"),
    ("train", ["--train_data={train}", "--output_dir={file}/run"],
     "--output_dir: {file} is a file, so {file}/run cannot be a folder"),
    ("train", ["--train_data={folder}", "--output_dir={tmp}/out"],
     "--train_data: {folder} is a folder, not a file"),
    ("train", TRAIN_ARGS + ["--config={folder}"], "--config: {folder} is a folder, not a file"),
    ("train", TRAIN_ARGS + ["--data_dir={file}"], "--data_dir: {file} is a file, not a folder"),
    ("tune", ["--train_data={train}", "--eval_data={dev}", "--output_dir={file}"],
     "--output_dir: {file} is a file"),
    ("tune", TRAIN_ARGS + ["--search_space={tmp}/space.yaml"],
     "--search_space: file {tmp}/space.yaml does not exist"),
    ("tune", ["--summary={file}"], "--summary: {file} is a file, not a folder"),
    ("pretrain", ["--train_data={train}", "--output_dir={file}"], "--output_dir: {file} is a file"),
    ("customize", ["--train_data={train}", "--eval_data={dev}", "--output_dir={file}"],
     "--output_dir: {file} is a file"),
    ("evaluate", ["--model={model}", "--eval_data={dev}", "--output_dir={file}"],
     "--output_dir: {file} is a file"),
    ("predict", ["--model={model}", "--output_file={folder}", "a text"],
     "--output_file: {folder} is a folder, not a file"),
    ("export", ["--model={model}", "--export_dir={file}"], "--export_dir: {file} is a file"),
    ("export", ["--model={file}", "--export_dir={tmp}/out"],
     "--model needs a fine-tuned model directory, and {file} is a file"),
    ("convert", ["--model=all_minilm_l6_v2", "--to=hf", "--output_dir={file}"],
     "--output_dir: {file} is a file"),
    # a run already in --output_dir whose settings were not recorded is kept
    ("train", ["--train_data={train}", "--output_dir={tmp}/old_run"],
     "holds a run whose settings were not recorded"),
]


@pytest.mark.parametrize("program,args,message", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_numbers_and_paths_are_one_line_errors_before_any_work(places, capsys, program,
                                                                   args, message):
    main = importlib.import_module(f"kerasbert.cli.{program}").main
    argv = [a.format(**places) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, [program, *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"kerasbert.{program}: error:"), err
    assert message.format(**places) in err[0]
    assert not (places["tmp"] / "out").exists()
    assert sorted(p.name for p in (places["tmp"] / "old_run").iterdir()) == [
        "checkpoints", "history.json"]


@pytest.mark.parametrize("program,args", [
    ("predict", ["a text"]),
    ("evaluate", ["--eval_data={dev}"]),
    ("export", ["--export_dir={tmp}/out"]),
])
def test_a_preset_as_model_says_how_to_make_a_model_directory(places, capsys, program, args):
    main = importlib.import_module(f"kerasbert.cli.{program}").main
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, [program, "--model=all_minilm_l6_v2", *(a.format(**places) for a in args)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0] == (
        f"kerasbert.{program}: error: --model needs a fine-tuned model directory, and "
        "all_minilm_l6_v2 is a preset: make one with python -m kerasbert.train "
        "--train_data=FILE --model=all_minilm_l6_v2 --output_dir=DIR, then pass --model=DIR")
