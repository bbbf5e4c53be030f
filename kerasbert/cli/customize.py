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
                                 config_from_flags, define_flags_from, output_dir_held,
                                 parse_argv, quiet_tensorflow)
from kerasbert.configs.customize import CustomizeConfig
from kerasbert.customization.customize import OUTPUTS
from kerasbert.tasks.registry import tasks_with
from kerasbert.training.run_settings import existing_outputs, remove_outputs

TASKS = tasks_with("reads_text_columns")  # the registry's tasks of text columns


def define_flags(fv):
    """A flag per `CustomizeConfig` setting, and --overwrite."""
    define_flags_from(CustomizeConfig, fv, choices={"task": TASKS})
    flags.DEFINE_bool("overwrite", False, "replace an earlier customization or training run "
                      "in --output_dir (else such a directory is refused)", flag_values=fv)


def new_flags():
    """This program's flags, fresh (each `main` parses into its own)."""
    fv = flags.FlagValues()
    define_flags(fv)
    return fv


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
    fv = new_flags()  # fresh flags: nothing kept from an earlier call
    parse_argv(fv, argv or sys.argv, __doc__)
    check_flags(fv)
    with output_dir_held(fv.output_dir, "kerasbert.customize"):
        return _customize(fv)


def _customize(fv):
    check_earlier_outputs(fv)
    for candidate in fv.candidates:
        print(fetch_model(candidate), flush=True)
    quiet_tensorflow()
    from kerasbert.customization.customize import REPORT_FILE, customize

    if fv.overwrite:
        remove_outputs(fv.output_dir, OUTPUTS)

    result = customize(config_from_flags(CustomizeConfig, fv))
    print(f"done in {result['seconds']:.0f} s; report: "
          f"{os.path.join(fv.output_dir, REPORT_FILE)}")
    return 0

