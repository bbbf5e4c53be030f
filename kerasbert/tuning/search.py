"""A hyperparameter search in one call: the Python API behind `python -m kerasbert.tune`.

    from kerasbert.training.run_config import FineTuneConfig
    from kerasbert.tuning.search import SearchConfig, run_search
    from kerasbert.tuning.search_space import Entry, SearchSpace

    base = FineTuneConfig(train_data="train.tsv", eval_data="dev.tsv",
                          text_column="sentence", model="bert_tiny_en_uncased")
    space = SearchSpace((Entry("learning_rate", "choice", values=(5e-5, 3e-5)),))
    result = run_search(base, space, SearchConfig("runs/search", max_trials=2))
    result.best["hyperparameters"]        # {"learning_rate": 3e-05}

Each trial applies its recipe to `base` and fine-tunes in this process (see
`FineTuneHyperModel`); the search's files are those `kerasbert.tune` writes
(search.json, trials/, results.csv|json, best_config.yaml, best_model/,
search.png). Run it again with the same arguments to resume: finished trials
are kept. Under KerasTuner's distributed mode (KERASTUNER_* variables, see
`kerasbert.tuning.distributed`) the chief serves the oracle and the workers
run trials.
"""

import dataclasses
import os
import sys
from typing import Optional

from kerasbert.configs.search import SearchConfig  # noqa: F401 (public here)
from kerasbert.errors import JobFailed
from kerasbert.tuning import distributed, results

# What `overwrite` clears in the search directory (nothing else there is touched).
_SEARCH_FILES = ("results.csv", "results.json", "best_config.yaml", "search.png", "best_model",
                 "trials")


@dataclasses.dataclass
class SearchResult:
    """What a finished search found (None everywhere on a distributed worker,
    whose chief writes the results).

    Attributes:
        rows: one dict per trial (`kerasbert.tuning.results.collect`): trial_id,
            status, objective, seconds, tuner_id, hyperparameters, reason, output_dir, ...
        best: the best completed row.
        best_config: the path of best_config.yaml (`kerasbert.train --config=`).
        best_model: the path of the best trial's model directory copy (best_model/).
        summary: the results table as text (`kerasbert.tune --summary`).
    """

    rows: Optional[list] = None
    best: Optional[dict] = None
    best_config: Optional[str] = None
    best_model: Optional[str] = None
    summary: Optional[str] = None


def run_search(base_config, space, search, setup=None, train_values=None):
    """Search `space` around `base_config`; returns a `SearchResult`.

    Args:
        base_config: the `FineTuneConfig` every trial starts from (its output_dir
            is replaced by each execution's).
        space: a `kerasbert.tuning.search_space.SearchSpace`.
        search: a `SearchConfig`.
        setup: the `DistributionSetup` trials train under (None: TensorFlow's
            default strategy; unused on a distributed chief, which trains nothing).
        train_values: {train flag: value} written into best_config.yaml beside the
            best trial's values (None: the settings of `base_config` that differ
            from `FineTuneConfig`'s defaults).

    Raises:
        JobFailed: no trial completed, or too many failed in a row (the reasons
            are in results.csv).
        ValueError: an objective spec with a direction other than min / max.
    """
    from kerasbert.tuning.objective import resolve_objective

    objective = resolve_objective(base_config.task, search.objective)
    role = distributed.role()
    if role != distributed.WORKER:
        _start_output(search, space, objective, base_config.task)
    if setup is not None and role != distributed.CHIEF:
        print(f"trials train under {setup.kind} ({setup.num_replicas} replica(s), precision "
              f"{setup.precision_policy}, XLA {'on' if setup.jit_compile else 'off'})",
              flush=True)
    tuner = _build_tuner(base_config, space, search, objective, setup)
    try:
        tuner.search()
    except RuntimeError as err:
        if "consecutive failures" not in str(err):
            raise
        if role != distributed.WORKER:
            _check_completed(_finish(search.output_dir, base_config, train_values),
                             search.output_dir)
        raise JobFailed(str(err).splitlines()[0] +
                        f" (reasons: {search.output_dir}/results.csv)") from None
    if role == distributed.WORKER:
        print(f"worker {os.environ[distributed.TUNER_ID]}: no trials left", flush=True)
        return SearchResult()
    result = _check_completed(_finish(search.output_dir, base_config, train_values),
                              search.output_dir)
    print(f"best model: {result.best_model}\nbest recipe: {result.best_config}\n"
          f"  python -m kerasbert.train --config={result.best_config}", flush=True)
    return result


def default_train_values(config):
    """{setting: value} of `config` that differ from `FineTuneConfig`'s defaults
    (= kerasbert.train's), as train flags take them (columns as text), without
    the output_dir."""
    from kerasbert.configs.fields import flag_fields

    flagged = {f.name for f in flag_fields(type(config))}
    defaults = type(config)().settings()
    out = {}
    for name, value in config.settings().items():
        if (name == "output_dir" or name not in flagged or value is None
                or value == defaults.get(name)):
            continue
        out[name] = str(value) if name.endswith("_column") else value
    return out


def _start_output(search, space, objective, task):
    """search.json (what is searched), after clearing an old search under `overwrite`."""
    import shutil

    if search.overwrite:
        for name in _SEARCH_FILES:
            path = os.path.join(search.output_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    results.write_meta(search.output_dir, {
        "task": task, "objective": objective.name, "direction": objective.direction,
        "tuner": search.tuner, "max_trials": search.max_trials,
        "search_space": space.to_dict(), "search_space_source": space.source,
        "executions_per_trial": search.executions_per_trial,
        "command": search.command if search.command is not None else " ".join(sys.argv)})


def _check_completed(result, output_dir):
    if result.best_config is None:
        raise JobFailed(f"no trial completed; the reasons are in {output_dir}/results.csv")
    return result


def _build_tuner(base_config, space, search, objective, setup):
    from kerasbert.tuning.hypermodel import FineTuneHyperModel
    from kerasbert.tuning.oracles import make_oracle
    from kerasbert.tuning.tuner import FineTuneTuner

    def refresh_table():
        try:
            results.write_table(search.output_dir)
        except (OSError, ValueError, KeyError) as err:  # the table is refreshed again later
            print(f"could not refresh {search.output_dir}/results.csv: {err}", flush=True)

    oracle = make_oracle(
        search.tuner, objective, search.max_trials,
        seed=search.search_seed if search.search_seed is not None else base_config.seed,
        time_budget=search.time_budget, max_epochs=base_config.epochs,
        hyperband_factor=search.hyperband_factor,
        max_consecutive_failed_trials=search.max_consecutive_failed_trials,
        on_trial_end=None if distributed.role() == distributed.WORKER else refresh_table)
    return FineTuneTuner(oracle, FineTuneHyperModel(space, base_config), search.output_dir,
                         objective, executions_per_trial=search.executions_per_trial,
                         setup=setup, keep_checkpoints=base_config.keep_checkpoints,
                         overwrite=search.overwrite)


def _finish(output_dir, base_config, train_values):
    """Write the results, the best config, the best model and the plot; print the table."""
    from kerasbert.tuning.plot import plot_search

    rows = results.write_table(output_dir)
    values = default_train_values(base_config) if train_values is None else train_values
    config = results.write_best_config(output_dir, rows, values)
    model = results.export_best_model(output_dir, rows)
    meta = results.read_meta(output_dir)
    plot_search(output_dir, rows, meta)
    summary = results.summary(output_dir)
    print(summary, end="")
    return SearchResult(rows=rows, best=results.best_row(rows, meta["direction"]),
                        best_config=config, best_model=model, summary=summary)
