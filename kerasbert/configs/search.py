"""How a recipe search runs (`python -m kerasbert.tune`, `run_search`).

What each trial trains is a `FineTuneConfig`; `SearchConfig` holds the
search's own settings, each one flag of `kerasbert.tune` (its output
directory is the train flag --output_dir).
"""

import dataclasses
from typing import Optional

from kerasbert.configs.fields import duration, setting

TUNERS = ("random", "bayesian", "hyperband", "grid")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """How to search (what is trained is the `FineTuneConfig`).

    `output_dir` is the search directory (trials go to `output_dir/trials/`);
    `time_budget` is in seconds (the flag also takes 90m or 2h); `command` is
    what search.json records (None: this process's command line).
    """

    output_dir: str = setting(dataclasses.MISSING, "the search directory", flag=False)
    tuner: str = setting("random", "random search, Bayesian optimisation, Hyperband (epochs as "
                         "the resource, --epochs the most per trial) or grid", choices=TUNERS)
    max_trials: int = setting(10, "trials at most (failed ones count)", range=">= 1")
    objective: Optional[str] = setting(None, "dev metric to optimise, optionally NAME:min or "
                                       "NAME:max (default: the task's main metric)")
    time_budget: float = setting(0.0, "wall-clock limit of the search: seconds, or 90m / 2h; "
                                 "no trial starts after it (0: none)", parse=duration,
                                 flag_default="0")
    executions_per_trial: int = setting(1, "fine-tunings per trial (seeds seed, seed+1, ...); "
                                        "the objective is their mean", range=">= 1")
    hyperband_factor: int = setting(3, "Hyperband's reduction factor", range=">= 2")
    max_consecutive_failed_trials: int = setting(3, "stop after this many failed trials in a "
                                                 "row (0: never)", range=">= 0")
    search_seed: Optional[int] = setting(None, "seed of the oracle (default: --seed)",
                                         range="[0, 4294967295]")
    overwrite: bool = setting(False, "delete an existing search in --output_dir instead of "
                              "resuming it")
    command: Optional[str] = setting(None, "the command recorded in search.json", flag=False)
