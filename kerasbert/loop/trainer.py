"""The training loop: one `strategy.run` loop for every strategy.

Keras 3's `model.fit` fails under MultiWorkerMirroredStrategy
(keras-team/keras#20585), so kerasbert trains with its own loop on
`tf.distribute` for every strategy: the default one, MirroredStrategy,
MultiWorkerMirroredStrategy and TPUStrategy alike. The loss is a sum over the
global batch divided by the global count of labelled items, so the gradients
do not depend on how the batch is split over replicas.

Updates run `steps_per_loop` at a time inside one compiled call (a `tf.range`
loop over the distributed iterator), so that an accelerator never waits for
the host between updates: the per-update losses stay on the device and are
read once per loop. Progress, checkpoints, evaluations and callbacks happen
at loop boundaries; a loop never crosses an epoch's end, an evaluation or
checkpoint point or `max_steps`, so the results (and a resumed run) are those
of one update per call. Evaluation runs under the same strategy
(`predictions.predict_logits` reads it from the scope).

The history, TensorBoard logs, best weights and early stopping are Keras
callbacks (`kerasbert.loop.callbacks`) that run ahead of the user's,
through the standard hooks.

The Keras task models' `fit` trains with this loop
(`tasks.keras_task.TaskMixin.fit`): with their compiled optimizer, loss and
metrics (`compiled=True`), writing checkpoints only where `BackupAndRestore`
or a `TrainingRun` asks. The command-line programs call that `fit`: they
compile the task model with `compile_for_run` and pass their input pipeline
as a `DatasetCreator` and their run as a `TrainingRun`. Built directly, the
trainer trains a bare Keras model on `task`'s loss with `config`'s recipe.
"""

import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from kerasbert.distribute.inputs import check_static_batch, split_batch
from kerasbert.distribute.multi_worker import worker_output_dir
from kerasbert.distribute.precision import wrap_optimizer
from kerasbert.loop.callbacks import (BestWeights, CallbackList, EarlyStopping, EvalHistory,
                                      TensorBoard, say)
from kerasbert.loop.counting import counting_examples
from kerasbert.loop.files import BEST_WEIGHTS_FILE, CHECKPOINTS_DIR
from kerasbert.optimization import create_optimizer

# Updates per compiled call when `steps_per_loop` is 0 ("auto"): on a CPU the
# host is the device and a loop gains nothing; accelerators pay a host round
# trip per call (10-50% for small and medium models).
DEFAULT_STEPS_PER_LOOP = {"cpu": 1, "gpu": 100, "tpu": 100}


def strategy_device(strategy=None):
    """"tpu", "gpu" or "cpu": what the replicas of `strategy` run on."""
    strategy = strategy or tf.distribute.get_strategy()
    if is_tpu(strategy):
        return "tpu"
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:  # the default strategy has none: the visible devices decide
        devices = ()
    if devices:
        return "gpu" if any("GPU" in d.upper() for d in devices) else "cpu"
    return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"


def resolve_steps_per_loop(steps_per_loop, strategy=None):
    """Updates per compiled call: `steps_per_loop`, or for 0 the default of
    the strategy's device (`DEFAULT_STEPS_PER_LOOP`)."""
    if steps_per_loop:
        return int(steps_per_loop)
    return DEFAULT_STEPS_PER_LOOP[strategy_device(strategy)]


def recipe_optimizer(model, config, total_steps):
    """The optimizer of `config`'s recipe (`TrainingConfig`: peak rate,
    warm-up, weight decay, layer-wise decay over `model.encoder`'s layers),
    its schedule `total_steps` updates long."""
    encoder_layers = getattr(getattr(model, "encoder", None), "transformer_layers", [])
    return create_optimizer(config.learning_rate, total_steps, config.warmup_ratio,
                            config.weight_decay, config.layer_decay, len(encoder_layers))


def compile_for_run(model, task, config, total_steps, jit_compile=False):
    """Compile a task model as the command-line programs train it: the
    recipe's optimizer (`recipe_optimizer`), the task's own loss (a sum over
    labelled items divided by their global count), no compiled metrics (the
    run's dev evaluation scores the task's); call inside the strategy's scope."""
    model.compile(optimizer=recipe_optimizer(model, config, total_steps), loss=task,
                  metrics=None, jit_compile=bool(jit_compile))
    return model


class DatasetCreator:
    """`fit`'s training data as a function: `dataset_fn(epoch, input_context)`
    returns the epoch's `tf.data.Dataset` of per-replica batches, shuffled
    for `epoch` and sharded by `input_context` (a `tf.distribute.InputContext`),
    as Keras 2's `tf.keras.utils.experimental.DatasetCreator` took a function
    of the input context. `fit` then needs `steps_per_epoch`. What
    `kerasbert.train` passes: its streamed, length-bucketed input pipeline."""

    def __init__(self, dataset_fn):
        self.dataset_fn = dataset_fn

    def __call__(self, epoch, input_context):
        return self.dataset_fn(epoch, input_context)


class TrainingRun(keras.callbacks.Callback):
    """What a `kerasbert.train` run adds to a task model's `fit`, passed among
    its callbacks: the run's recipe (`config`, a `TrainingConfig`: evaluations
    every `eval_every_steps` updates, `max_steps`, `max_train_seconds`,
    checkpoints, gradient accumulation and clipping, `steps_per_loop`), its
    directory (`output_dir`: checkpoints it resumes from, TensorBoard logs,
    best weights, history.json) and its dev evaluation (`evaluate_fn(model)
    -> {metric: value}`, the task's metrics on the dev set), scored by
    `task.main_metric` for the best weights and early stopping. After `fit`,
    `trainer` is the loop that ran (its `history`, `state`, timings)."""

    def __init__(self, config, task=None, output_dir=None, evaluate_fn=None):
        super().__init__()
        self.config, self.task = config, task
        self.output_dir, self.evaluate_fn = output_dir, evaluate_fn
        self.trainer = None


class TrainState:
    """Progress counters saved inside every checkpoint, so a resumed run
    continues exactly where the killed one stopped."""

    def __init__(self):
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
        self.best_metric = tf.Variable(-np.inf, dtype=tf.float64, trainable=False, name="best")
        self.bad_evals = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_evals")

    def checkpoint_items(self):
        return {"step": self.step, "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                "best_metric": self.best_metric, "bad_evals": self.bad_evals}


class Trainer:
    """Fine-tunes `model` on `task` under `strategy`.

    Args:
        model_fn: builds the Keras model (called inside `strategy.scope()`).
        task: a `kerasbert.tasks.Task` (loss, metrics).
        config: a `TrainingConfig`.
        output_dir: checkpoints, TensorBoard logs, best weights, history. Under
            several workers only the chief writes there; the others write to
            `worker_output_dir` and all of them resume from the chief's checkpoints.
            None: nothing is written (and no best weights are kept) but the
            checkpoints of `checkpoint_dir`.
        strategy: a `tf.distribute.Strategy` (default: the default strategy).
        jit_compile: compile the train step with XLA.
        static_shapes: check that every batch has a fully defined int32/float32
            shape before training (default: under XLA and on TPU, which need it).
        compiled: train a compiled Keras task model (`TaskMixin`) with what
            `compile()` gave it: its optimizer (not the recipe of `config`),
            its `train_loss` over `(features, labels[, sample_weight])`
            batches (not `task.loss`; `task` may be None), and its
            `training_logs()` in each epoch's logs.
        checkpoint_dir: where checkpoints go, instead of `output_dir`/checkpoints.
    """

    def __init__(self, model_fn, task, config, output_dir=None, strategy=None, jit_compile=False,
                 static_shapes=None, compiled=False, checkpoint_dir=None):
        self.task, self.config = task, config.validate()
        self.strategy = strategy or tf.distribute.get_strategy()
        self.run_dir = output_dir
        self.output_dir = output_dir and worker_output_dir(output_dir, self.strategy)
        self.compiled = compiled
        # The chief's checkpoints (which every worker resumes from), and this worker's.
        if checkpoint_dir is not None:
            self.checkpoint_dir = checkpoint_dir
            self.own_checkpoint_dir = worker_output_dir(checkpoint_dir, self.strategy)
        elif output_dir is not None:
            self.checkpoint_dir = os.path.join(output_dir, CHECKPOINTS_DIR)
            self.own_checkpoint_dir = os.path.join(self.output_dir, CHECKPOINTS_DIR)
        else:
            self.checkpoint_dir = self.own_checkpoint_dir = None
        self.jit_compile = jit_compile
        self.static_shapes = (jit_compile or is_tpu(self.strategy) if static_shapes is None
                              else static_shapes)
        self.model_fn = model_fn
        self.model = None
        self.history = []
        self.train_seconds = 0.0  # in train steps only (no evaluation, no checkpoints)
        self.step_seconds = []    # of each update of this process, the first one tracing
        if config.max_train_seconds and isinstance(
                self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            raise ValueError("max_train_seconds cannot be used with several workers: each "
                             "would stop at a different update")

    # -- set-up -----------------------------------------------------------------------------

    def _build(self, total_steps):
        with self.strategy.scope():
            self.model = self.model_fn()
            if self.compiled:
                optimizer = self.model.optimizer  # compile() wrapped it for mixed_float16
            else:
                optimizer = wrap_optimizer(  # loss scaling under mixed_float16
                    recipe_optimizer(self.model, self.config, total_steps))
            if not optimizer.built:
                optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
        self.state = TrainState()  # plain host variables, read by the Python loop
        self.manager = None
        if self.checkpoint_dir is not None:
            checkpoint = tf.train.Checkpoint(
                model=_VariableList(self.model.variables),
                optimizer=_VariableList(self.optimizer.variables),
                **self.state.checkpoint_items())
            self.manager = tf.train.CheckpointManager(checkpoint, self.own_checkpoint_dir,
                                                      max_to_keep=2)

    def _restore(self):
        if self.manager is None:
            return False
        # Every worker restores the chief's checkpoint when it can read it, so that
        # all of them resume at the same update.
        latest = (tf.train.latest_checkpoint(self.checkpoint_dir)
                  or self.manager.latest_checkpoint)
        if latest:
            self.manager.checkpoint.restore(latest).assert_consumed()
            print(f"resuming from {latest} (epoch {int(self.state.epoch) + 1}, "
                  f"update {int(self.state.step)})", flush=True)
            history = self.run_dir and os.path.join(self.run_dir, "history.json")
            if history and tf.io.gfile.exists(history):
                with tf.io.gfile.GFile(history) as f:
                    self.history = json.load(f)
        return bool(latest)

    # -- the train step ---------------------------------------------------------------------

    def _loss(self, features, labels, sample_weight):
        """(sum of the losses of one replica's batch, the count it is a sum of)
        of a training forward pass: the task's loss of the model's logits, or
        with `compiled` the model's `train_loss` (`TaskMixin.train_loss`:
        the compiled loss, the compiled metrics updated)."""
        if self.compiled:
            return self.model.train_loss(features, labels, sample_weight)
        return self.task.loss(labels, self.model(features, training=True))

    def _make_replica_step(self):
        """`(features, labels[, sample_weight]) -> mean loss` of one update on one replica."""
        model, optimizer = self.model, self.optimizer
        chunks, clip_norm = self.config.gradient_accumulation_steps, self.config.clip_norm
        loss_scale = (lambda: optimizer.dynamic_scale) if hasattr(optimizer, "dynamic_scale") \
            else (lambda: 1.0)

        def replica_step(features, labels, sample_weight=None):
            variables = model.trainable_variables
            grads, loss_sum, count = None, 0.0, 0.0
            for i in range(chunks):
                f_i, l_i, w_i = _chunk((features, labels, sample_weight), i, chunks)
                with tf.GradientTape() as tape:
                    chunk_loss, chunk_count = self._loss(f_i, l_i, w_i)
                    scaled = chunk_loss * tf.cast(loss_scale(), tf.float32)
                g = [tf.convert_to_tensor(x) for x in tape.gradient(scaled, variables)]
                grads = g if grads is None else [a + b for a, b in zip(grads, g)]
                loss_sum, count = loss_sum + chunk_loss, count + chunk_count
            ctx = tf.distribute.get_replica_context()
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            loss_sum, count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [loss_sum, count])
            count = tf.maximum(count, 1.0)
            scale = tf.cast(loss_scale(), tf.float32)
            grads = [g / (count * scale) for g in grads]
            if clip_norm:
                grads, _ = tf.clip_by_global_norm(grads, clip_norm)
            # The optimizer sums gradients over replicas again and unscales them.
            grads = [g * scale / ctx.num_replicas_in_sync for g in grads]
            optimizer.apply(grads, variables)
            return loss_sum / count

        # The iterator stays outside XLA (IteratorGetNext has no XLA kernel);
        # each replica's step is compiled, as Keras compiles its own.
        if self.jit_compile:
            replica_step = tf.function(replica_step, jit_compile=True)
        return replica_step

    def _make_train_loop(self):
        """`(iterator, steps) -> [steps]` float32 losses: `steps` updates in one
        compiled call, the losses kept on the device until the call returns.
        With `compiled`, kept on the model for its next `fit` (as Keras keeps
        its `train_function`) while the optimizer, the compiled loss and
        metrics and the step's settings stay the same: no second trace."""
        model = self.model
        # The objects themselves (held, so no id is reused), compared by identity.
        key = (self.optimizer, getattr(model, "_compile_loss", None),
               getattr(model, "_compile_metrics", None), self.strategy,
               self.jit_compile, self.config.gradient_accumulation_steps, self.config.clip_norm)
        cached = getattr(model, "_kerasbert_train_loop", None) if self.compiled else None
        if cached is not None and all(a is b or (isinstance(a, (bool, int, float)) and a == b)
                                      for a, b in zip(cached[0], key)):
            return cached[1]
        replica_step, strategy = self._make_replica_step(), self.strategy

        @tf.function
        def train_loop(iterator, steps):
            losses = tf.TensorArray(tf.float32, size=steps)
            for i in tf.range(steps):
                per_replica = strategy.run(replica_step, args=next(iterator))
                # The loss is all-reduced: every replica holds the global one.
                losses = losses.write(i, strategy.experimental_local_results(per_replica)[0])
            return losses.stack()

        if self.compiled:  # an attribute Keras does not track
            object.__setattr__(model, "_kerasbert_train_loop", (key, train_loop))
        return train_loop

    # -- loop -------------------------------------------------------------------------------

    def fit(self, train_dataset_fn, steps_per_epoch, evaluate_fn=None, callbacks=None,
            initial_epoch=0):
        """Train; returns the history (a list of eval records).

        Args:
            train_dataset_fn: `(epoch, input_context) -> tf.data.Dataset` of
                `(features, labels)` batches of the per-replica batch size,
                shuffled by `seed + epoch`, sharded by the input context.
            steps_per_epoch: optimizer updates per epoch.
            evaluate_fn: `(model) -> {metric: value}` over the whole dev set, or None.
            callbacks: Keras callbacks (`keras.callbacks.Callback`), driven
                through a `keras.callbacks.CallbackList` after the trainer's
                own (`self.callbacks`; see `kerasbert.loop.callbacks`):
                batch hooks once per loop of `steps_per_loop` updates (with the
                index of its last update, as Keras' `steps_per_execution`, and
                the loop's mean `loss` and the `lr`), epoch hooks with the
                epoch's mean `loss` and the dev metrics as `val_<metric>`, test
                hooks around each evaluation. Setting `model.stop_training`
                stops at the end of the current loop.
            initial_epoch: the epoch to start at, unless a checkpoint says
                otherwise (Keras' `fit(initial_epoch=...)`).
        """
        config = self.config
        split_batch(config.batch_size, self.strategy.num_replicas_in_sync)
        total = config.max_steps or steps_per_epoch * config.epochs
        epochs = math.ceil(total / steps_per_epoch)
        self._build(total)
        if not self._restore() and initial_epoch:
            self.state.epoch.assign(initial_epoch)
            self.state.step.assign(initial_epoch * steps_per_epoch)
        self.steps_per_loop = resolve_steps_per_loop(config.steps_per_loop, self.strategy)
        train_loop = self._make_train_loop()
        self.callbacks = CallbackList(
            self._own_callbacks(evaluate_fn) + list(callbacks or []), model=self.model,
            verbose=0, epochs=epochs, steps=steps_per_epoch)
        self.model.stop_training = False
        if not hasattr(self.model, "optimizer"):
            # Keras' callbacks look for a compiled model's optimizer (TensorBoard
            # skips its own step counting without one); the trainer's stays out
            # of the model, so that weights files hold the model's weights only.
            self.model.optimizer = None
        self.callbacks.on_train_begin()
        stop = False
        while int(self.state.epoch) < epochs and not stop:
            epoch, start = int(self.state.epoch), int(self.state.step_in_epoch)
            iterator = iter(self.strategy.distribute_datasets_from_function(
                self._input_fn(train_dataset_fn, epoch, start, steps_per_epoch)))
            steps = min(steps_per_epoch, total - epoch * steps_per_epoch)
            progress = keras.utils.Progbar(steps, verbose=config.verbose,
                                           stateful_metrics=["lr", "examples/s"])
            progress.update(start)
            self.callbacks.on_epoch_begin(epoch)
            if self.compiled:
                self.model.reset_metrics()
            epoch_losses = []
            while int(self.state.step_in_epoch) < steps:
                first = int(self.state.step_in_epoch)
                count = self._loop_length(int(self.state.step), steps - first)
                self.callbacks.on_train_batch_begin(first)
                tick = time.perf_counter()
                losses = train_loop(iterator, tf.constant(count, tf.int32)).numpy()
                elapsed = time.perf_counter() - tick
                bad = np.flatnonzero(~np.isfinite(losses))
                if bad.size:
                    raise FloatingPointError(f"loss became {losses[bad[0]]} at update "
                                             f"{int(self.state.step) + int(bad[0])}")
                self.state.step.assign_add(count)
                self.state.step_in_epoch.assign_add(count)
                step = int(self.state.step)
                self.train_seconds += elapsed
                self.step_seconds.extend([elapsed / count] * count)
                epoch_losses.extend(losses.tolist())
                rate = config.batch_size * count / max(elapsed, 1e-9)
                lr = _learning_rate(self.optimizer)
                progress.update(int(self.state.step_in_epoch),
                                [("loss", float(losses.mean())), ("lr", lr),
                                 ("examples/s", rate)])
                self.callbacks.on_train_batch_end(
                    int(self.state.step_in_epoch) - 1,
                    {"loss": float(losses.mean()), "lr": lr, "losses": losses.tolist()})
                if self._evaluates_at(step):
                    self._evaluate(evaluate_fn)
                if (self.manager is not None and config.checkpoint_every_steps
                        and step % config.checkpoint_every_steps == 0):
                    self.manager.save(step)
                if config.max_train_seconds and self.train_seconds >= config.max_train_seconds:
                    say(config.verbose, f"training time budget of "
                                        f"{config.max_train_seconds:.0f} s spent at update {step}")
                    if not self._evaluates_at(step):
                        self._evaluate(evaluate_fn)
                    stop = True
                stop = stop or bool(self.model.stop_training)
                if stop:
                    break
            logs = {"loss": float(np.mean(epoch_losses))} if epoch_losses else {}
            if self.compiled:  # read before an evaluation resets them
                logs.update(self.model.training_logs())
            if not stop:
                self.state.epoch.assign_add(1)
                self.state.step_in_epoch.assign(0)
                if not self._evaluates_at(int(self.state.step)):
                    self._evaluate(evaluate_fn)
                if self.manager is not None:
                    self.manager.save(int(self.state.step))
            if self.history and self.history[-1]["step"] == int(self.state.step):
                logs.update({f"val_{k}": v for k, v in self.history[-1].items()
                             if k not in ("step", "epoch", "train_seconds")})
            self.callbacks.on_epoch_end(epoch, logs)
            stop = stop or bool(self.model.stop_training)
        self.callbacks.on_train_end()
        return self.history

    def _own_callbacks(self, evaluate_fn):
        """The trainer's callbacks: TensorBoard logs and, with evaluations, the
        history, the best weights and early stopping on the task's main metric."""
        config, task, state = self.config, self.task, self.state
        if self.output_dir is None:  # nothing written: the history is kept in memory
            return [EvalHistory(self)] if evaluate_fn is not None else []
        own = [TensorBoard(os.path.join(self.output_dir, "logs"), state.step, self.optimizer,
                           config.log_every_steps)]
        if evaluate_fn is not None:
            metric, greater = task.main_metric, task.greater_is_better
            own += [EvalHistory(self),
                    BestWeights(os.path.join(self.output_dir, BEST_WEIGHTS_FILE), metric, greater,
                                state.best_metric, config.restore_best),
                    EarlyStopping(metric, config.early_stopping_patience, greater,
                                  state.best_metric, state.bad_evals, config.verbose,
                                  record_best=False)]  # BestWeights records the best
        return own

    def _loop_length(self, step, remaining):
        """Updates in the next loop after update `step`, with `remaining` left in
        the epoch: at most `steps_per_loop`, ending at the next evaluation or
        checkpoint point (the epoch's end and `max_steps` are in `remaining`)."""
        count = min(self.steps_per_loop, remaining)
        for every in (self.config.eval_every_steps, self.config.checkpoint_every_steps):
            if every:
                count = min(count, every - step % every)
        return max(count, 1)

    def _evaluates_at(self, step):
        """Whether the every-N-updates schedule evaluates after update `step`
        (an epoch's end evaluates unless it just did)."""
        every = self.config.eval_every_steps
        return bool(every) and step % every == 0

    def _input_fn(self, train_dataset_fn, epoch, start, steps_per_epoch):
        """The per-worker input function of `epoch`, resuming at update `start`.

        Each input pipeline feeds several replicas one per-replica batch each
        per update, so an update consumes that many of its batches.
        """
        def input_fn(context):
            dataset = train_dataset_fn(epoch, context)
            if self.static_shapes:
                check_static_batch(dataset, self.config.batch_size,
                                   self.strategy.num_replicas_in_sync)
            per_update = context.num_replicas_in_sync // context.num_input_pipelines
            return dataset.take(steps_per_epoch * per_update).skip(start * per_update)
        return input_fn

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self, evaluate_fn):
        """`evaluate_fn(model)` under the trainer's strategy (the predictions run
        through `strategy.run` on every replica), with `eval_examples`: the
        count of examples (QA: windows) it scored."""
        with self.strategy.scope(), counting_examples() as counter:
            metrics = dict(evaluate_fn(self.model))
        if counter.count:
            metrics.setdefault("eval_examples", counter.count)
        return metrics

    def _evaluate(self, evaluate_fn):
        """Evaluate inside the callbacks' test hooks: the trainer's own record
        the history, keep the best weights and may stop training early."""
        if evaluate_fn is not None:
            self.callbacks.on_test_begin()
            self.callbacks.on_test_end(self.evaluate(evaluate_fn))


class _VariableList(tf.Module):
    """A checkpointable, ordered list of variables (model or optimizer state,
    including dropout seed states, so a resumed run replays the same masks)."""

    def __init__(self, variables):
        super().__init__()
        self.variables_list = list(variables)


def _learning_rate(optimizer):
    """The rate of the optimizer's next update, as a float (its schedule's, and
    `BertAdamW`'s warm-up and decay, applied)."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    rate = getattr(optimizer, "current_learning_rate", None)
    return float(tf.convert_to_tensor(optimizer.learning_rate if rate is None else rate))


def is_tpu(strategy):
    """Whether `strategy` runs on TPUs (a `TPUStrategy`)."""
    return isinstance(strategy, (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy))


def _chunk(structure, index, chunks):
    """The `index`-th of `chunks` equal slices along the batch axis of every tensor."""
    if chunks == 1:
        return structure
    return tf.nest.map_structure(lambda t: None if t is None else tf.split(t, chunks, axis=0)[index],
                                 structure)
