"""The tuner: runs each trial as a fine-tuning job and reports its real dev metric.

`kerasbert` trains with its own `strategy.run` loop (Keras' `model.fit` fails
under MultiWorkerMirroredStrategy), so this is a `BaseTuner` whose
`run_trial` fine-tunes through `FineTuneHyperModel.fit` instead of a Keras
`Tuner` around `model.fit`. Each trial writes its model directories, one per
execution (seed), under `SEARCH_DIR/trials/trial_ID/`; a failure (an
exception, a NaN loss, out of memory) is recorded with its reason as a FAILED
trial and the search goes on.
"""

import math
import os
import shutil
import statistics
import time
import traceback

import keras
import keras_tuner
from keras_tuner.engine import base_tuner
from keras_tuner.engine import trial as trial_module

from kerasbert.training.run_settings import BEST_WEIGHTS_FILE, remove_training_state
from kerasbert.tuning import distributed, records

PROJECT_NAME = "trials"
# Files of a trial's model directory that resuming or Hyperband need, not the exported model.


class FineTuneTuner(base_tuner.BaseTuner):
    """Runs trials of a `FineTuneHyperModel`.

    Uses BaseTuner's private `_try_run_and_update_trial`, `_get_tuner_fname` and
    `_is_worker` (no public equivalent; pinned on KerasTuner 1.4.8 by
    tests/test_keras_tuner_internals.py).

    Args:
        oracle: from `kerasbert.tuning.oracles.make_oracle`.
        hypermodel: a `FineTuneHyperModel`.
        directory: the search's --output_dir; trials go to `directory/trials/`.
        objective: a `kerasbert.tuning.objective.Objective`.
        executions_per_trial: fine-tunings per trial with seeds seed, seed+1, ...;
            the trial's objective is their mean.
        setup: the `DistributionSetup` trials train under (None: default strategy).
        keep_checkpoints: keep each execution's checkpoints after it ends
            (always kept under Hyperband, whose later rounds continue from them).
        overwrite: start afresh, deleting the trials (never on workers).
    """

    def __init__(self, oracle, hypermodel, directory, objective, executions_per_trial=1,
                 setup=None, keep_checkpoints=False, overwrite=False):
        self.objective = objective
        self.executions_per_trial = executions_per_trial
        self.setup = setup
        self.keep_checkpoints = keep_checkpoints
        super().__init__(oracle, hypermodel, directory=directory, project_name=PROJECT_NAME,
                         overwrite=overwrite and distributed.role() != distributed.WORKER)
        if self._is_worker():
            distributed.connect_worker(self.oracle)

    # -- the search loop --------------------------------------------------------------------

    def search(self):
        """Run trials until the oracle stops (max trials, budget, space exhausted).
        On the chief: serve the oracle to the workers until they are done."""
        if distributed.role() == distributed.CHIEF:
            self.save()  # so that a restarted chief reloads (keras-team/keras-tuner#976)
            distributed.serve_oracle(self.oracle)
            return
        if not self._is_worker():
            self.save()  # a process killed in its first trial must still reload
        while True:
            trial = self.oracle.create_trial(self.tuner_id)
            if trial.status == trial_module.TrialStatus.STOPPED:
                break
            if trial.status == trial_module.TrialStatus.IDLE:
                time.sleep(1)  # Hyperband waits for a round to finish on other workers
                continue
            self._try_run_and_update_trial(trial)
            self.on_trial_end(trial)

    def save(self):
        """Save the oracle (not on workers) and this tuner, each atomically."""
        if not self._is_worker():
            self.oracle.save()
        records.write_json_atomically(self._get_tuner_fname(), self.get_state())

    def run_trial(self, trial, *args, **kwargs):
        """Fine-tune every execution of `trial`; returns {objective: mean dev value}.

        Raises:
            keras_tuner.errors.FailedTrialError: with a one-line reason.
        """
        hp = trial.hyperparameters
        trial_dir = self.get_trial_dir(trial.trial_id)
        recipe = self.hypermodel.build(hp)
        record = records.start(trial_dir, trial.trial_id, self.tuner_id, recipe)
        self._say(f"trial {trial.trial_id} [{self.tuner_id}] started: " + _format(recipe))
        try:
            values = [self._execute(trial, recipe, trial_dir, record, index)
                      for index in range(self.executions_per_trial)]
        except keras_tuner.errors.FatalError:
            raise
        except Exception as err:  # any failure of the trial, not of the search
            reason = _reason(err)
            records.finish(trial_dir, record, "FAILED", reason=reason)
            self._say(f"trial {trial.trial_id} [{self.tuner_id}] failed: {reason}")
            raise keras_tuner.errors.FailedTrialError(reason) from err
        finally:
            _release_memory()
        value = statistics.fmean(values)
        records.finish(trial_dir, record, "COMPLETED", objective=value)
        self._say(f"trial {trial.trial_id} [{self.tuner_id}] completed: {self.objective.name} "
                  f"{value:.4f} ({record['seconds']:.0f} s)")
        if not (self.keep_checkpoints or "tuner/epochs" in hp.values):
            for index in range(self.executions_per_trial):
                remove_training_state(records.execution_dir(trial_dir, index))
        return {self.objective.name: value}

    def _execute(self, trial, recipe, trial_dir, record, index):
        """One execution (seed + index): its objective value, trained once only."""
        output_dir = records.execution_dir(trial_dir, index)
        done = records.finished_execution(output_dir)
        if done is None:
            self._warm_start(trial.hyperparameters, output_dir, index)
            start = time.time()
            metrics = self.hypermodel.fit(trial.hyperparameters, recipe, output_dir=output_dir,
                                          seed_offset=index, setup=self.setup)
            seed = recipe.get("seed", self.hypermodel.base_config.seed) + index
            done = {"index": index, "seed": seed, "output_dir": output_dir,
                    "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
                    "seconds": round(time.time() - start, 1)}
            records.add_execution(trial_dir, record, done)
        else:
            record["executions"].append(done)
        value = done["metrics"].get(self.objective.name)
        if value is None:
            raise keras_tuner.errors.FatalValueError(
                f"--objective {self.objective.name} is not a dev metric of this task; the dev "
                f"metrics are: {', '.join(sorted(done['metrics']))}")
        if not math.isfinite(value):
            raise FloatingPointError(f"dev {self.objective.name} is {value}")
        return float(value)

    def _warm_start(self, hp, output_dir, index):
        """Hyperband: a trial promoted to more epochs continues from the checkpoints of
        the trial it extends (`tuner/trial_id`) instead of training from scratch."""
        parent = hp.values.get("tuner/trial_id")
        if not parent or os.path.exists(os.path.join(output_dir, "checkpoints")):
            return
        source = records.execution_dir(self.get_trial_dir(parent), index)
        if not os.path.isdir(os.path.join(source, "checkpoints")):
            return
        os.makedirs(output_dir, exist_ok=True)
        shutil.copytree(os.path.join(source, "checkpoints"),
                        os.path.join(output_dir, "checkpoints"))
        for name in ("history.json", BEST_WEIGHTS_FILE):
            if os.path.exists(os.path.join(source, name)):
                shutil.copy2(os.path.join(source, name), output_dir)

    def _say(self, message):
        print(message, flush=True)

    # -- BaseTuner hooks this tuner does not use ----------------------------------------------

    def save_model(self, trial_id, model, step=0):
        pass  # every execution writes its own model directory

    def load_model(self, trial):
        raise NotImplementedError("load the model directory of the trial's execution "
                                  "(kerasbert.tasks.model_directory.load_model_directory)")


def _format(recipe):
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in recipe.items())


def _reason(err):
    """The last line of the error: its type and message, on one line."""
    lines = traceback.format_exception_only(type(err), err)
    return " ".join(" ".join(lines).split())[:500]


def _release_memory():
    """Free the finished trial's graphs; keep the process's dtype policy (mixed precision),
    which Keras' clear_session resets."""
    policy = keras.config.dtype_policy()
    keras.backend.clear_session()
    keras.config.set_dtype_policy(policy)


