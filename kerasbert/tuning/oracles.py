"""KerasTuner's oracles with a wall-clock budget and a resume that loses and repeats nothing.

    random     RandomSearchOracle
    bayesian   BayesianOptimizationOracle (Gaussian process)
    hyperband  HyperbandOracle (epochs as the resource; `--epochs` is the most a trial gets)
    grid       GridSearchOracle (e.g. the BERT paper's grid: --search_space=bert_paper)

On a restart, KerasTuner's Oracle puts the trials that were running back in a
retry queue, for any tuner to pick up. When only the chief was killed, the
workers are still running those trials and report them to the new chief:
a queued copy would run a second time. Here a restarted oracle gives each
trial back to the tuner id that was running it (a restarted worker with that
id resumes it from its checkpoints), ignores a repeated report of a trial
that has already ended, and keeps the budget's start time.
"""

import os
import time

import keras_tuner
import tensorflow as tf
from keras_tuner import synchronized
from keras_tuner.engine.trial import TrialStatus
# KerasTuner has no public API for what follows; what is used of its internals
# (pinned on KerasTuner 1.4.8 by tests/test_keras_tuner_internals.py) is:
# Oracle._retry_queue (reload() queues the running trials there, create_trial()
# takes from it), Oracle._get_oracle_fname / _get_trial_dir / _save_trial, and
# GridSearchOracle._ordered_ids (a gridsearch.LinkedList: insert, _memory,
# _next_index) and _populate_next.
from keras_tuner.src.tuners.gridsearch import LinkedList

from kerasbert.tuning.records import write_json_atomically

TUNERS = ("random", "bayesian", "hyperband", "grid")


class ResumableOracleMixin:
    """Mixed in before a KerasTuner Oracle class.

    Args:
        time_budget: seconds from the search's first trial after which no new
            trial starts (0: no limit); running trials finish.
        on_trial_end: called with no argument after each trial ends (the CLI
            refreshes the results table there), or None.
    """

    def __init__(self, *args, time_budget=0.0, on_trial_end=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_budget = float(time_budget or 0.0)
        self.on_trial_end = on_trial_end
        self.search_start = None
        self.budget_spent = False
        self._resumed = {}

    @synchronized
    def create_trial(self, tuner_id):
        if self.search_start is None:
            self.search_start = time.time()
        return super().create_trial(tuner_id)

    def populate_space(self, trial_id):
        if self.time_budget and time.time() - self.search_start >= self.time_budget:
            if not self.budget_spent:
                print(f"time budget of {self.time_budget:.0f} s spent: no new trials",
                      flush=True)
            self.budget_spent = True
            return {"status": TrialStatus.STOPPED, "values": None}
        return super().populate_space(trial_id)

    @synchronized
    def end_trial(self, trial):
        if trial.trial_id in self.end_order and not any(
                t.trial_id == trial.trial_id for t in self.ongoing_trials.values()):
            return  # a report repeated after a chief restart: the trial has ended already
        super().end_trial(trial)
        if self.on_trial_end is not None:
            self.on_trial_end()

    def save(self):
        """Save the oracle's state atomically: a chief killed while saving (KerasTuner
        saves after every trial) must find a whole file when it restarts."""
        write_json_atomically(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        write_json_atomically(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                              trial.get_state())

    def get_state(self):
        state = super().get_state()
        state["kerasbert"] = {"search_start": self.search_start,
                              "budget_spent": self.budget_spent}
        return state

    def set_state(self, state):
        super().set_state(state)
        extra = state.get("kerasbert", {})
        self.search_start = extra.get("search_start")
        self.budget_spent = extra.get("budget_spent", False)
        self._resumed = dict(self.ongoing_trials)

    def reload(self):
        """Reload, then hand the trials that were running back to their tuners
        (instead of KerasTuner's retry queue, which any tuner may take from).

        KerasTuner saves the oracle in `end_trial` before it drops the trial from
        the running ones, and saves each trial's file first: a trial the saved state
        calls running may have ended (its trial.json says so). It is not resumed:
        its tuner may have left already, and the chief would wait for it forever.

        KerasTuner creates a trial by writing its file and then the oracle's: a
        chief killed between the two leaves a trial file the oracle never
        started, nor sent to any tuner. That trial is dropped, so the oracle
        creates it again as it would have, instead of counting a trial nobody runs."""
        super().reload()
        for trial_id in [t for t in self.trials if t not in self.start_order]:
            del self.trials[trial_id]
            trial_dir = self._get_trial_dir(trial_id)
            if tf.io.gfile.exists(trial_dir):  # local or gs://
                tf.io.gfile.rmtree(trial_dir)
        running, ended = {}, []
        for tuner_id, saved in self._resumed.items():
            trial = self.trials[saved.trial_id]
            if trial.status == TrialStatus.RUNNING and trial.trial_id not in self.end_order:
                running[tuner_id] = trial
            elif trial.status in (TrialStatus.COMPLETED, TrialStatus.FAILED):
                ended.append(trial.trial_id)
        self.end_order.extend(t for t in ended if t not in self.end_order)
        taken = {trial.trial_id for trial in running.values()} | set(ended)
        self._retry_queue = [t for t in self._retry_queue if t not in taken]
        self.ongoing_trials = running
        self.tuner_ids.update(self.ongoing_trials)
        if self.ongoing_trials:
            print("resuming; trials still running: " + ", ".join(
                f"{t.trial_id} ({tuner_id})" for tuner_id, t in self.ongoing_trials.items()),
                flush=True)


class RandomSearchOracle(ResumableOracleMixin, keras_tuner.oracles.RandomSearchOracle):
    pass


class BayesianOptimizationOracle(ResumableOracleMixin,
                                 keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class HyperbandOracle(ResumableOracleMixin, keras_tuner.oracles.HyperbandOracle):
    pass


class GridSearchOracle(ResumableOracleMixin, keras_tuner.oracles.GridSearchOracle):
    """KerasTuner's grid oracle does not save its walk through the grid (the trials in
    grid order and those whose successor is still to try), so a reloaded one fails
    with a KeyError on its next trial; they are saved with its state here."""

    def get_state(self):
        state = super().get_state()
        state["grid"] = {"ordered_ids": _linked_items(self._ordered_ids),
                         "populate_next": list(self._populate_next)}
        return state

    def set_state(self, state):
        super().set_state(state)
        grid = state.get("grid", {})
        self._ordered_ids = LinkedList()
        for trial_id in grid.get("ordered_ids", []):
            self._ordered_ids.insert(trial_id)
        self._populate_next = list(grid.get("populate_next", []))


def _linked_items(linked):
    """The items of a KerasTuner gridsearch LinkedList, first to last."""
    items, index = [], linked._next_index[None]
    while index is not None:
        items.append(linked._memory[index])
        index = linked._next_index[index]
    return items


def make_oracle(tuner, objective, max_trials, seed=None, time_budget=0.0, max_epochs=3,
                hyperband_factor=3, max_consecutive_failed_trials=3, on_trial_end=None):
    """The oracle of `--tuner` (one of TUNERS).

    Args:
        objective: a `kerasbert.tuning.objective.Objective`.
        max_trials: trials at most (failed ones count).
        max_epochs: Hyperband's largest resource (the train flag --epochs).
        max_consecutive_failed_trials: stop the search after this many failures
            in a row (0: never).
    """
    common = dict(objective=objective.to_keras_tuner(), max_trials=max_trials, seed=seed,
                  max_consecutive_failed_trials=max_consecutive_failed_trials or 10 ** 9,
                  time_budget=time_budget, on_trial_end=on_trial_end)
    if tuner == "random":
        oracle = RandomSearchOracle(**common)
    elif tuner == "bayesian":
        oracle = BayesianOptimizationOracle(**common)
    elif tuner == "hyperband":
        max_trials = common.pop("max_trials")
        oracle = HyperbandOracle(max_epochs=max_epochs, factor=hyperband_factor, **common)
        oracle.max_trials = max_trials  # Hyperband takes no max_trials; Oracle honours it
    elif tuner == "grid":
        oracle = GridSearchOracle(**common)
    else:
        raise ValueError(f"unknown tuner {tuner!r}; use one of {', '.join(TUNERS)}")
    oracle.verbose = 0  # the tuner prints one line per trial instead
    return oracle
