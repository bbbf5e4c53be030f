"""Fine-tune a BERT model on your data.

    python -m kerasbert.train --task=classification \\
        --train_data=train.csv --eval_data=dev.csv --model=all_minilm_l6_v2 \\
        --output_dir=runs/sentiment --epochs=2

Flags follow google-research/bert's scripts. `--config=FILE` (YAML or JSON)
sets any flag; flags given on the command line override it.
"""

import sys

from absl import flags

from kerasbert.cli.flags import (UsageError, apply_config_file, check_input_dir,
                                 check_input_files, check_output_dir, check_ranges,
                                 config_from_flags, define_flags_from, is_chief,
                                 output_dir_held, parse_argv, quiet_tensorflow, run_main,
                                 worker_failures_reported)
from kerasbert.configs.fine_tune import FineTuneConfig
from kerasbert.cli.models import fetch_model
from kerasbert.distribute import flags as distribute_flags
from kerasbert.tasks.registry import listing, task_has, task_names, tasks_with

TASKS = task_names()  # the task registry (kerasbert/tasks/registry.py)


def define_flags(fv):
    """The data, task, model and recipe flags: one per `FineTuneConfig`
    setting (shared with kerasbert.tune), --config and the device flags."""
    flags.DEFINE_string("config", None, "YAML or JSON file of flag values", flag_values=fv)
    define_flags_from(FineTuneConfig, fv, choices={"task": TASKS})
    distribute_flags.define_flags(fv)


def new_flags():
    """This program's flags, fresh (each `main` parses into its own)."""
    fv = flags.FlagValues()
    define_flags(fv)
    flags.DEFINE_boolean("overwrite", False, "start afresh in an --output_dir that holds a run "
                         "with other settings, removing that run's files (without it, a run "
                         "with the same settings resumes and one with others is an error)",
                         flag_values=fv)
    return fv


def parse(argv, fv=None):
    """Parse argv (program name first) into `fv` (default: fresh flags), apply
    --config, and check every value."""
    fv = new_flags() if fv is None else fv
    parse_argv(fv, argv, __doc__)
    if fv.config:
        apply_config_file(fv, fv.config)
    check_flags(fv)
    return fv


def check_flags(fv):
    """Every flag checked before any work starts: one line per problem."""
    if not fv.train_data:
        raise UsageError("--train_data is required")
    if not fv.output_dir:
        raise UsageError("--output_dir is required")
    check_ranges(fv)
    check_input_files(fv, ("train_data", "eval_data"), allow_tfds=True)
    check_input_dir(fv.data_dir, "--data_dir")
    check_output_dir(fv.output_dir)
    if fv.batch_size % fv.gradient_accumulation_steps:
        raise UsageError(f"--batch_size {fv.batch_size} is not divisible by "
                         f"--gradient_accumulation_steps {fv.gradient_accumulation_steps}")
    # What the task takes, read from its class without importing TensorFlow.
    for flag, attribute, value in (("case_markers", "setting_names", "case_markers"),
                                   ("ner_head", "setting_names", "ner_head"),
                                   ("labels", "accepts_label_list", True)):
        given = fv[flag].value != fv[flag].default if flag == "ner_head" else fv[flag].value
        if given and not task_has(fv.task, attribute, value):
            takers = listing(tasks_with(attribute, value), "or")
            raise UsageError(f"--{flag} applies to --task={takers}, not {fv.task}")


def fine_tune_config(fv):
    """The run settings of parsed train flags (this program's, or kerasbert.tune's
    fixed ones) as a `FineTuneConfig`: what `run` trains, and what each trial of
    a search starts from."""
    return config_from_flags(FineTuneConfig, fv)


def run(fv, setup=None):
    """Train with parsed flags under `setup` (a DistributionSetup); returns the metrics."""
    from kerasbert.training.run_config import run_fine_tune

    return run_fine_tune(fine_tune_config(fv), setup)


def run_settings(fv):
    """{flag: value} of what defines a run (kept in run_settings.json): every
    flag but the output place, logging and the devices it runs on."""
    devices = flags.FlagValues()
    distribute_flags.define_flags(devices)
    skip = {"config", "output_dir", "overwrite", "verbose", "steps_per_loop",
            "keep_checkpoints", *devices}
    return {name: fv[name].value for name in fv if fv[name].name == name and name not in skip}


def main(argv=None):
    fv = parse(argv or sys.argv)  # fresh flags: nothing kept from an earlier call
    with output_dir_held(fv.output_dir, "kerasbert.train", is_chief()):
        return _train(fv)


def _train(fv):
    from kerasbert.training import run_settings as settings_file

    settings = run_settings(fv)
    defaults = {name: fv[name].default for name in settings}
    settings_file.check_settings(fv.output_dir, settings, defaults, fv.overwrite)
    model_line = fetch_model(fv.model, fv.random_init)
    setup = distribute_flags.setup_from_flags(fv)  # before TF initialises its devices
    quiet_tensorflow()
    from kerasbert.loop.trainer import resolve_steps_per_loop

    print(f"{setup.describe(fv.batch_size)}, "
          f"{resolve_steps_per_loop(fv.steps_per_loop, setup.strategy)} updates per loop; "
          f"{model_line}", flush=True)
    settings_file.start_run(fv.output_dir, settings, fv.overwrite and is_chief())
    with worker_failures_reported():
        metrics = run(fv, setup)
    if metrics:
        width = max(len(k) for k in metrics)
        print("dev metrics:")
        for name, value in sorted(metrics.items()):
            if isinstance(value, float):
                print(f"  {name:<{width}}  {value:.4f}")
    print(f"model written to {fv.output_dir}")
    return 0


if __name__ == "__main__":
    run_main(main)
