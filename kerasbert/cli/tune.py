"""Search the fine-tuning recipe for your task and budget with KerasTuner.

    python -m kerasbert.tune --task=classification \\
        --train_data=train.tsv --eval_data=dev.tsv --text_column=sentence \\
        --model=all_minilm_l6_v2 --output_dir=runs/search \\
        --tuner=bayesian --max_trials=20 --time_budget=2h [--search_space=space.yaml]

It takes the train program's data, task, model and recipe flags (same names:
they fix what the search does not tune) and fine-tunes one model per trial
through the same code as `python -m kerasbert.train`. The objective is the
task's dev metric over the whole dev set (`--objective` picks another).
Results: OUTPUT_DIR/results.csv|json, best_config.yaml (give it to
`kerasbert.train --config=`), best_model/, search.png;
`python -m kerasbert.tune --summary OUTPUT_DIR` prints the table.

Run the same command again to resume a killed search: finished trials are
kept, an interrupted one continues from its checkpoints. Distributed:
launch/tune_distributed.sh, or KERASTUNER_TUNER_ID / KERASTUNER_ORACLE_IP /
KERASTUNER_ORACLE_PORT (flags --tuner_id, --oracle_ip, --oracle_port):
`chief` serves the oracle, `tuner0..N` run trials.
"""

import sys

from absl import flags

from kerasbert.cli import train as train_cli
from kerasbert.cli.flags import (FLAG_RANGES, UsageError, _in_range, apply_config_file,
                                 check_input_dir, config_from_flags, define_flags_from,
                                 check_input_file, output_dir_held, parse_argv, quiet_tensorflow,
                                 run_main)
from kerasbert.cli.models import fetch_model
from kerasbert.configs.fields import duration
from kerasbert.configs.search import TUNERS, SearchConfig  # noqa: F401 (TUNERS: public here)
from kerasbert.distribute import flags as distribute_flags
from kerasbert.tuning import distributed, results, search_space

# Train flags a search fixes for all its trials: data, output, logging, strategy.
_FIXED = ("config", "task", "train_data", "eval_data", "data_dir", "text_column",
          "text_pair_column", "label_column", "encoding", "header", "labels", "output_dir",
          "verbose", "log_every_steps", "checkpoint_every_steps")


def define_flags(fv):
    """The train program's flags plus the search's (`SearchConfig`'s, and how
    to run it: the space, distributed roles, the summary)."""
    train_cli.define_flags(fv)
    define_flags_from(SearchConfig, fv)
    flags.DEFINE_string("search_space", None, "YAML file of the space, or 'default' (the "
                        "task's) or 'bert_paper' (lr {5e-5,3e-5,2e-5} x batch {16,32} x "
                        "epochs {2,3,4})", flag_values=fv)
    flags.DEFINE_string("tuner_id", None, "distributed: 'chief' or tuner0..N "
                        "(sets KERASTUNER_TUNER_ID)", flag_values=fv)
    flags.DEFINE_string("oracle_ip", None, "distributed: the chief's address "
                        "(sets KERASTUNER_ORACLE_IP)", flag_values=fv)
    flags.DEFINE_integer("oracle_port", None, "distributed: the chief's port "
                         "(sets KERASTUNER_ORACLE_PORT)", flag_values=fv)
    flags.DEFINE_string("summary", None, "print the results table of the search in this "
                        "directory and exit", flag_values=fv)


def new_flags():
    """This program's flags, fresh (each `main` parses into its own)."""
    fv = flags.FlagValues()
    define_flags(fv)
    return fv


def parse(argv, fv=None):
    """Parse and check every flag before any work starts (one-line UsageErrors)."""
    fv = new_flags() if fv is None else fv
    parse_argv(fv, argv, __doc__)
    if fv.summary:
        check_input_dir(fv.summary, "--summary")
        return fv
    if fv.config:
        apply_config_file(fv, fv.config)
    train_cli.check_flags(fv)  # with the range of every numeric flag, the search's too
    if fv.search_space not in (None, "default", "bert_paper"):
        check_input_file(fv.search_space, "--search_space")
    if not fv.eval_data:
        raise UsageError("--eval_data is required: the search optimises a dev metric")
    parse_duration(fv.time_budget)
    return fv


def parse_duration(text):
    """Seconds from '3600', '90m', '2h', '1.5h', '45s'."""
    try:
        return duration(text)
    except ValueError as err:
        raise UsageError(str(err)) from None


def tunable_flags():
    """{name: absl Flag} of the train flags a search space may set: the recipe, model
    and sequence flags that are settings of a `FineTuneConfig` (not data, output,
    logging or strategy flags)."""
    from kerasbert.training.run_config import FineTuneConfig

    fv = flags.FlagValues()
    train_cli.define_flags(fv)
    strategy = flags.FlagValues()
    distribute_flags.define_flags(strategy)
    fixed = set(_FIXED) | set(strategy)
    settings = set(FineTuneConfig.names())
    return {name: fv[name] for name in fv
            if fv[name].name == name and name not in fixed and name in settings}


def check_space_ranges(space, fv):
    """Every value `space` can give, against the train flags' ranges (FLAG_RANGES):
    a UsageError naming the space and the entry, before any trial starts."""
    for entry in space.entries:
        spec = FLAG_RANGES.get(entry.name, "any")
        values = entry.values if entry.type == "choice" else (entry.min, entry.max)
        for value in values:
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and not _in_range(value, spec, fv):
                shown = f"in {spec}" if spec[0] in "[(" else spec
                raise UsageError(f"search space {space.source}: entry {entry.name!r}: "
                                 f"--{entry.name} must be {shown}, got {value}")


def search_config(fv):
    """The search flags as a `kerasbert.tuning.search.SearchConfig`."""
    return config_from_flags(SearchConfig, fv, output_dir=fv.output_dir,
                             command=" ".join(sys.argv))


def train_values(fv):
    """The train flags of this command that differ from kerasbert.train's defaults."""
    reference = flags.FlagValues()
    train_cli.define_flags(reference)
    return {name: fv[name].value for name in reference
            if reference[name].name == name and name not in ("config", "output_dir")
            and fv[name].value is not None and fv[name].value != reference[name].default}


def main(argv=None):
    fv = parse(argv or sys.argv)
    if fv.summary:
        print(results.summary(fv.summary), end="")
        return 0
    role = distributed.configure(fv.tuner_id, fv.oracle_ip, fv.oracle_port)
    with output_dir_held(fv.output_dir, "kerasbert.tune", role != distributed.WORKER):
        return _search(fv, role)


def _search(fv, role):
    space = search_space.load_search_space(fv.search_space, fv.task, tunable_flags(), fv.tuner)
    check_space_ranges(space, fv)
    print(fetch_model(fv.model, fv.random_init), flush=True)
    setup = None if role == distributed.CHIEF else distribute_flags.setup_from_flags(fv)
    quiet_tensorflow()
    from kerasbert.tuning.search import run_search

    run_search(train_cli.fine_tune_config(fv), space, search_config(fv), setup=setup,
               train_values=train_values(fv))
    return 0


if __name__ == "__main__":
    run_main(main)
