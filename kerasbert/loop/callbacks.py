"""The trainer's own behaviours as Keras callbacks.

`Trainer.fit` drives one `CallbackList`: these callbacks first, then the
user's, through Keras' standard hooks under every strategy. Each evaluation
reaches `on_test_end(logs)` as its metrics; each loop of `steps_per_loop`
updates reaches `on_train_batch_end(batch, logs)` with the loop's mean
`loss` and the `lr` (and, for this module's `TensorBoard` only, `losses`:
the loss of each of its updates). A callback
stops training with `self.model.stop_training = True`.

`EarlyStopping` and `BestWeights` keep the best score (and the count of
evaluations since) in the variables they are given, which the trainer saves
in every checkpoint, so a resumed run continues both; without variables
they start afresh at `on_train_begin`, as Keras' callbacks do.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from kerasbert.checkpoints.safetensors_file import read_arrays, write_safetensors
from kerasbert.outputs import write_json


class CallbackList(keras.callbacks.CallbackList):
    """Keras' `CallbackList`, except that `on_test_end` hands the callbacks
    the metrics as `evaluate_fn` returned them: Keras' makes every value a
    float and sorts the names, and the history keeps counts such as
    `eval_examples` as ints, in the task's order. (With the TensorFlow
    backend Keras dispatches callbacks synchronously, so there is nothing to
    flush first.)"""

    def on_test_end(self, logs=None):
        logs = dict(logs or {})
        for callback in self.callbacks:
            callback.on_test_end(logs)

    def on_train_batch_end(self, batch, logs=None):
        """The package's `TensorBoard` gets each update's loss (`losses`);
        every other callback gets Keras' scalar logs (`loss`, `lr`), which
        Keras' own callbacks (TensorBoard, ProgbarLogger, ...) can write."""
        logs = dict(logs or {})
        scalars = {k: v for k, v in logs.items() if k != "losses"}
        for callback in self.callbacks:
            callback.on_train_batch_end(batch, logs if isinstance(callback, TensorBoard)
                                        else scalars)


class EvalHistory(keras.callbacks.Callback):
    """Appends each evaluation to `trainer.history` as `{step, epoch,
    train_seconds, **metrics}`, prints its float metrics and writes the
    history to history.json in the trainer's output directory, if it has one."""

    def __init__(self, trainer):
        super().__init__()
        self.trainer = trainer

    def on_test_end(self, logs=None):
        trainer = self.trainer
        trainer.history.append({"step": int(trainer.state.step), "epoch": int(trainer.state.epoch),
                                "train_seconds": round(trainer.train_seconds, 1), **logs})
        say(trainer.config.verbose, "eval " + " ".join(
            f"{k}={v:.4f}" for k, v in logs.items() if isinstance(v, float)))
        if trainer.output_dir is not None:
            write_json(os.path.join(trainer.output_dir, "history.json"), trainer.history)


class TensorBoard(keras.callbacks.Callback):
    """TensorBoard scalars in `log_dir`: under train/, the `loss` of every
    update that `log_every_steps` selects and the learning rate that follows
    it; under eval/, each evaluation's numeric metrics. `step` is the
    variable that counts the updates."""

    def __init__(self, log_dir, step, optimizer, log_every_steps):
        super().__init__()
        self.log_dir, self.step, self.optimizer = log_dir, step, optimizer
        self.log_every_steps = log_every_steps

    def on_train_begin(self, logs=None):
        self.writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

    def on_train_batch_end(self, batch, logs=None):
        losses = logs["losses"]
        first = int(self.step) - len(losses) + 1
        logged = [(first + i, loss) for i, loss in enumerate(losses)
                  if (first + i) % self.log_every_steps == 0]
        with self.writer.as_default():
            for step, loss in logged:
                tf.summary.scalar("loss", loss, step=step)
                tf.summary.scalar("learning_rate", _learning_rate_at(self.optimizer, step),
                                  step=step)

    def on_test_end(self, logs=None):
        writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "eval"))
        with writer.as_default(step=int(self.step)):
            for name, value in logs.items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(name, value)
        writer.close()

    def on_train_end(self, logs=None):
        self.writer.close()


class _BestScore(keras.callbacks.Callback):
    """Tracks the best `monitor` of the evaluations so far, starting from `best`
    (a float64 variable of the score, the metric negated unless
    `greater_is_better`) when given, and keeping it there with `record` (one
    callback of a run records it, the others only start from it)."""

    def __init__(self, monitor, greater_is_better=True, best=None, record=True):
        super().__init__()
        self.monitor, self.sign, self.best_variable = monitor, 1 if greater_is_better else -1, best
        self.record = record

    def on_train_begin(self, logs=None):
        self.best = -np.inf if self.best_variable is None else float(self.best_variable)

    def _improves(self, logs):
        """Whether this evaluation's score beats the best, which it then becomes."""
        score = self.sign * logs[self.monitor]
        if not score > self.best:
            return False
        self.best = score
        if self.best_variable is not None and self.record:
            self.best_variable.assign(score)
        return True


class BestWeights(_BestScore):
    """Saves the weights of each evaluation that improves `monitor` to `path`
    and, with `restore`, loads the best ones back when training ends."""

    def __init__(self, path, monitor, greater_is_better=True, best=None, restore=True):
        super().__init__(monitor, greater_is_better, best)
        self.path, self.restore = path, restore

    def on_test_end(self, logs=None):
        if self._improves(logs):
            # Every variable as it is (not Keras' weights file: it merges LoRA adapters
            # into their kernels and zeroes the adapters when loaded back), written whole.
            write_safetensors(self.path, {f"{i:05d}/{v.path}": v.numpy()
                                          for i, v in enumerate(self.model.weights)})

    def on_train_end(self, logs=None):
        if self.restore and tf.io.gfile.exists(self.path):
            arrays = read_arrays(self.path)
            for i, variable in enumerate(self.model.weights):
                variable.assign(arrays[f"{i:05d}/{variable.path}"])


class EarlyStopping(_BestScore):
    """Stops training when `monitor` has not improved in `patience`
    evaluations in a row (0: never), counted in `wait` (an int64 variable)
    when given. Unlike Keras' `EarlyStopping`, it counts evaluations
    (`on_test_end`, which may come every N updates), not epochs."""

    def __init__(self, monitor, patience, greater_is_better=True, best=None, wait=None,
                 verbose=1, record_best=True):
        super().__init__(monitor, greater_is_better, best, record_best)
        self.patience, self.wait_variable, self.verbose = patience, wait, verbose

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.wait = 0 if self.wait_variable is None else int(self.wait_variable)

    def on_test_end(self, logs=None):
        self.wait = 0 if self._improves(logs) else self.wait + 1
        if self.wait_variable is not None:
            self.wait_variable.assign(self.wait)
        if self.patience and self.wait >= self.patience:
            say(self.verbose, f"early stopping: {self.monitor} did not improve in "
                              f"{self.patience} evals")
            self.model.stop_training = True


def say(verbose, message):
    """Print `message` (flushed) when `verbose`."""
    if verbose:
        print(message, flush=True)


def _learning_rate_at(optimizer, step):
    """The learning rate the schedule of `optimizer` gives after `step` updates."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    schedule = optimizer._learning_rate
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return float(schedule(step))
    return float(optimizer.learning_rate)
