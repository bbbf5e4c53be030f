"""Distil a fine-tuned model into a smaller student of its own layers.

    python -m kerasbert.distill --teacher=runs/sentiment --num_layers=2 \\
        --train_data=train.tsv --eval_data=dev.tsv --text_column=sentence \\
        --unlabeled_data=more_sentences.txt --output_dir=runs/sentiment-2l

The student starts from the teacher's embeddings, head and every k-th layer
(`kerasbert.training.distill`), learns the teacher's soft labels at
--temperature with the gold labels at weight --alpha (and, with
--hidden_loss_weight, its mapped layers' outputs), and is written as an
ordinary model directory: evaluate, predict, export and train --model read
it. --unlabeled_data (a .txt file, one text a line, or a CSV / TSV / JSONL
file read by the text column(s)) adds rows the teacher labels. --hidden_size
below the teacher's makes a narrower student, initialised by truncating the
teacher's weights. Tasks: classification, multilabel, regression, ner.

Run again into the same --output_dir with the same flags, the run starts
over (it keeps no checkpoints); with other flags it is an error unless
--overwrite.
"""

import os
import sys

from absl import flags

from kerasbert.cli.flags import (UsageError, check_input_files, check_output_dir,
                                 check_ranges, define_reader_flags, output_dir_held, parse_argv,
                                 parse_column, quiet_tensorflow, run_main)

TASKS = ("classification", "multilabel", "regression", "ner")  # training.distill.TASKS
_RECIPE = ("batch_size", "epochs", "learning_rate", "warmup_ratio", "weight_decay", "clip_norm",
           "seed", "max_steps")


def define_flags(fv):
    flags.DEFINE_string("teacher", None, "the fine-tuned model directory to distil "
                        "(written by kerasbert.train)", flag_values=fv)
    flags.DEFINE_integer("num_layers", None, "the student's layers (fewer than the teacher's)",
                         flag_values=fv)
    flags.DEFINE_integer("hidden_size", None, "the student's width (default: the teacher's); "
                         "below it, a multiple of the attention head size, initialised by "
                         "truncating the teacher's weights", flag_values=fv)
    flags.DEFINE_string("train_data", None, "labelled training file, as kerasbert.train reads "
                        "it (ner: CoNLL file)", flag_values=fv)
    flags.DEFINE_string("eval_data", None, "labelled dev file: the teacher and the student are "
                        "scored on it", flag_values=fv)
    flags.DEFINE_string("unlabeled_data", None, "texts without labels that the teacher labels: "
                        ".txt (one a line) or CSV / TSV / JSONL (the text column(s))",
                        flag_values=fv)
    flags.DEFINE_string("output_dir", None, "where the student's model directory goes",
                        flag_values=fv)
    flags.DEFINE_float("temperature", 2.0, "temperature of the teacher's soft labels (the KL "
                       "is scaled by its square)", flag_values=fv)
    flags.DEFINE_float("alpha", 0.5, "weight of the gold labels' loss; the soft labels' is "
                       "1 - alpha", flag_values=fv)
    flags.DEFINE_float("hidden_loss_weight", 0.0, "weight of the mean squared error between "
                       "each student layer's output and its teacher layer's (0: off)",
                       flag_values=fv)
    flags.DEFINE_string("text_column", "text", "text column (name or 0-based index)",
                        flag_values=fv)
    flags.DEFINE_string("text_pair_column", None, "second text column (pair models)",
                        flag_values=fv)
    flags.DEFINE_string("label_column", "label", "label column", flag_values=fv)
    define_reader_flags(fv)
    flags.DEFINE_integer("batch_size", 32, "batch size", flag_values=fv)
    flags.DEFINE_integer("epochs", 3, "passes over the labelled and unlabelled rows",
                         flag_values=fv)
    flags.DEFINE_float("learning_rate", 1e-4, "peak learning rate", flag_values=fv)
    flags.DEFINE_float("warmup_ratio", 0.1, "share of updates spent warming up", flag_values=fv)
    flags.DEFINE_float("weight_decay", 0.01, "AdamW weight decay", flag_values=fv)
    flags.DEFINE_float("clip_norm", 1.0, "global-norm gradient clipping (0: off)", flag_values=fv)
    flags.DEFINE_integer("seed", 42, "seed for everything", flag_values=fv)
    flags.DEFINE_integer("max_steps", 0, "stop each epoch after this many updates (0: all "
                         "rows)", flag_values=fv)
    flags.DEFINE_enum("batch_mode", "bucket", ["bucket", "static"],
                      "length bucketing or static shapes", flag_values=fv)
    flags.DEFINE_integer("verbose", 1, "0: quiet, 1: progress bar", flag_values=fv)
    flags.DEFINE_boolean("overwrite", False, "start afresh in an --output_dir that holds a run "
                         "with other settings, removing that run's files", flag_values=fv)


def new_flags():
    """A fresh FlagValues with this program's flags (one per run)."""
    fv = flags.FlagValues()
    define_flags(fv)
    return fv


def parse(argv, fv):
    parse_argv(fv, argv, __doc__, positional=False)
    return check_flags(fv)


def check_flags(fv):
    """Every flag checked before any work starts; returns the teacher's task config."""
    from kerasbert.serving.model_info import check_model_flag

    for name in ("teacher", "num_layers", "train_data", "output_dir"):
        if fv[name].value is None:
            raise UsageError(f"--{name} is required")
    check_ranges(fv)
    info = check_model_flag(fv.teacher, "--teacher")
    task = info["task"]
    if task not in TASKS:
        raise UsageError(f"--teacher: distillation covers the {', '.join(TASKS)} tasks, "
                         f"not {task}")
    check_input_files(fv, ("train_data", "eval_data", "unlabeled_data"))
    check_output_dir(fv.output_dir)
    if os.path.abspath(fv.output_dir) == os.path.abspath(fv.teacher):
        raise UsageError("--output_dir must not be the --teacher directory")
    config = _teacher_config(fv.teacher)
    layers = config["num_hidden_layers"]
    if fv.num_layers >= layers:
        raise UsageError(f"--num_layers must be below the teacher's {layers} layers, "
                         f"got {fv.num_layers}")
    if fv.hidden_size is not None:
        from kerasbert.training.distill import student_config

        try:
            student_config(config, fv.num_layers, fv.hidden_size)
        except ValueError as err:
            raise UsageError(f"--{err}") from None
        if fv.hidden_size != config["hidden_size"] and fv.hidden_loss_weight:
            raise UsageError("--hidden_loss_weight needs a student of the teacher's width: "
                             "drop --hidden_size or --hidden_loss_weight")
    return info


def _teacher_config(directory):
    """The teacher encoder's bert_config (its encoder/config.json)."""
    import json

    # = checkpoints.native_format.CONFIG_FILE (which imports TensorFlow)
    path = os.path.join(directory, "encoder", "kerasbert_encoder.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as err:
        raise UsageError(f"--teacher: cannot read {path}: {err}") from None
    return config.get("config", config)


def run_settings(fv):
    """{flag: value} of what defines a run (kept in run_settings.json)."""
    skip = {"output_dir", "overwrite", "verbose"}
    return {name: fv[name].value for name in fv if fv[name].name == name and name not in skip}


def main(argv=None):
    fv = new_flags()
    parse(argv or sys.argv, fv)
    with output_dir_held(fv.output_dir, "kerasbert.distill"):
        return _distill(fv)


def _distill(fv):
    from kerasbert.training import run_settings as settings_file

    settings = run_settings(fv)
    defaults = {name: fv[name].default for name in settings}
    if settings_file.check_settings(fv.output_dir, settings, defaults, fv.overwrite) == "resume":
        print(f"{fv.output_dir} holds a distillation with these settings: starting it again "
              "(no checkpoints are kept)", flush=True)
    quiet_tensorflow()
    from kerasbert.training.distill import DISTILL_FILE, distill

    if fv.overwrite:
        settings_file.remove_outputs(fv.output_dir, (DISTILL_FILE,))
    settings_file.start_run(fv.output_dir, settings, fv.overwrite)
    result = distill(
        fv.teacher, fv.num_layers, fv.train_data, fv.eval_data, fv.output_dir,
        unlabeled_data=fv.unlabeled_data, temperature=fv.temperature, alpha=fv.alpha,
        hidden_loss_weight=fv.hidden_loss_weight, hidden_size=fv.hidden_size,
        text_column=parse_column(fv.text_column),
        text_pair_column=parse_column(fv.text_pair_column),
        label_column=parse_column(fv.label_column), encoding=fv.encoding, header=fv.header,
        batch_mode=fv.batch_mode, verbose=fv.verbose,
        **{name: fv[name].value for name in _RECIPE})
    print(f"student layers from teacher layers {result['layer_map']}; "
          f"{result['labelled_rows']} labelled and {result['unlabelled_rows']} unlabelled rows "
          "seen")
    for name in sorted(result["student"]):
        value = result["student"][name]
        if isinstance(value, float):
            teacher = result["teacher"].get(name)
            print(f"  {name:<12}  student {value:.4f}  teacher {teacher:.4f}")
    print(f"model written to {fv.output_dir}")
    return 0


if __name__ == "__main__":
    run_main(main)
