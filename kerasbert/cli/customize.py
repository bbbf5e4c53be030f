"""Let kerasbert choose the recipe for your data and time budget, run it, and explain it.

    python -m kerasbert.customize --train_data=train.csv --eval_data=dev.csv \\
        --output_dir=runs/auto --time_budget=1800 [--unlabeled_data=corpus.txt] [--per_user]

It measures the token lengths and how the vocabulary splits your words, times
each candidate model on your data, then decides the max sequence length,
the model, full fine-tuning or LoRA adapters, continued pretraining on your
unlabeled text or not, the batch size and a short search, and trains within
the budget. `OUTPUT_DIR/customization_report.md` says what it saw, what it
chose and why, and the result.

With `--latency_budget_ms=N` it then measures, on this machine, the batch-1
latency (the median over a sample of your dev texts) and the dev accuracy of
candidate deployments: the trained model's SavedModel, its LiteRT float32
and int8 files, and students of half and a third of its layers distilled
from it in 30% of the time budget; the most accurate within N ms goes to
`OUTPUT_DIR/deployment/` (the fastest, with a note on stderr and in the
report, when none is), every candidate to `OUTPUT_DIR/deploy_candidates/`,
and the figures and the choice to the report and `deployment.json`.
"""

import os
import sys

from absl import flags

from kerasbert.cli.models import fetch_model
from kerasbert.cli.flags import (UsageError, check_input_files, check_output_dir, check_ranges,
                                 define_reader_flags, output_dir_held, parse_argv, parse_column,
                                 quiet_tensorflow)
from kerasbert.customization.customize import OUTPUTS
from kerasbert.tasks.registry import tasks_with
from kerasbert.training.run_settings import existing_outputs, remove_outputs

FLAGS = flags.FlagValues()
TASKS = tasks_with("reads_text_columns")  # the registry's tasks of text columns


def define_flags(fv):
    flags.DEFINE_enum("task", "classification", TASKS, "the task", flag_values=fv)
    flags.DEFINE_string("train_data", None, "labelled training file", flag_values=fv)
    flags.DEFINE_string("eval_data", None, "labelled dev file", flag_values=fv)
    flags.DEFINE_string("text_column", "text", "text column", flag_values=fv)
    flags.DEFINE_string("text_pair_column", None, "second text column", flag_values=fv)
    flags.DEFINE_string("label_column", "label", "label column", flag_values=fv)
    define_reader_flags(fv)
    flags.DEFINE_string("unlabeled_data", None, "plain text from your domain (one sentence per "
                        "line, blank lines between documents)", flag_values=fv)
    flags.DEFINE_string("output_dir", None, "where the model and the report go", flag_values=fv)
    flags.DEFINE_float("time_budget", 1800, "seconds for everything", flag_values=fv)
    flags.DEFINE_bool("per_user", False, "the model serves many users: train LoRA adapters",
                      flag_values=fv)
    flags.DEFINE_list("candidates", ["all_minilm_l6_v2"], "models to choose from, preferred "
                      "first (presets, hf:// handles or checkpoint directories)", flag_values=fv)
    flags.DEFINE_float("latency_budget_ms", None, "batch-1 latency the deployment may take, in "
                       "ms on this machine (classification): measures the model's SavedModel, "
                       "LiteRT float32 / int8 and distilled students of half and a third of "
                       "its layers, and delivers the most accurate within it to "
                       "OUTPUT_DIR/deployment/ (the fastest, with a note, if none is)",
                       flag_values=fv)
    flags.DEFINE_integer("seed", 42, "seed for everything", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "replace an earlier customization or training run "
                      "in --output_dir (else such a directory is refused)", flag_values=fv)
    flags.DEFINE_integer("verbose", 1, "0: quiet", flag_values=fv)


define_flags(FLAGS)


def check_flags(fv):
    for name in ("train_data", "eval_data", "output_dir"):
        if not fv[name].value:
            raise UsageError(f"--{name} is required")
    check_ranges(fv)
    if fv.latency_budget_ms is not None and fv.task != "classification":
        raise UsageError(f"--latency_budget_ms is supported for --task=classification, "
                         f"not {fv.task}")
    check_input_files(fv, ("train_data", "eval_data", "unlabeled_data"))
    check_output_dir(fv.output_dir)


def check_earlier_outputs(fv):
    """An earlier run's outputs are refused without --overwrite (checked while
    the directory is held, so that two runs cannot both pass)."""
    earlier = existing_outputs(fv.output_dir, OUTPUTS)
    if earlier and not fv.overwrite:
        raise UsageError(f"--output_dir {fv.output_dir} holds an earlier customization or run "
                         f"({', '.join(earlier[:3])}): pass --overwrite to replace it, or "
                         "choose another --output_dir")


def main(argv=None):
    parse_argv(FLAGS, argv or sys.argv, __doc__)
    check_flags(FLAGS)
    with output_dir_held(FLAGS.output_dir, "kerasbert.customize"):
        return _customize()


def _customize():
    check_earlier_outputs(FLAGS)
    for candidate in FLAGS.candidates:
        print(fetch_model(candidate), flush=True)
    quiet_tensorflow()
    from kerasbert.customization.customize import REPORT_FILE, customize

    if FLAGS.overwrite:
        remove_outputs(FLAGS.output_dir, OUTPUTS)

    result = customize(FLAGS.train_data, FLAGS.eval_data, FLAGS.output_dir, FLAGS.time_budget,
                       task=FLAGS.task, text_column=parse_column(FLAGS.text_column),
                       text_pair_column=parse_column(FLAGS.text_pair_column),
                       label_column=parse_column(FLAGS.label_column),
                       unlabeled_data=FLAGS.unlabeled_data, per_user=FLAGS.per_user,
                       candidates=FLAGS.candidates, seed=FLAGS.seed, verbose=FLAGS.verbose,
                       encoding=FLAGS.encoding, header=FLAGS.header,
                       latency_budget_ms=FLAGS.latency_budget_ms)
    print(f"done in {result['seconds']:.0f} s; report: "
          f"{os.path.join(FLAGS.output_dir, REPORT_FILE)}")
    return 0

