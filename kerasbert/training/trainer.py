"""The training loop: one `strategy.run` loop for every strategy.

Keras 3's `model.fit` fails under MultiWorkerMirroredStrategy
(keras-team/keras#20585), so kerasbert trains with its own loop on
`tf.distribute` for every strategy: the default one, MirroredStrategy,
MultiWorkerMirroredStrategy and TPUStrategy alike. The loss is a sum over the
global batch divided by the global count of labelled items, so the gradients
do not depend on how the batch is split over replicas.
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
from kerasbert.training.optimization import create_optimizer


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
        strategy: a `tf.distribute.Strategy` (default: the default strategy).
        jit_compile: compile the train step with XLA.
        static_shapes: check that every batch has a fully defined int32/float32
            shape before training (default: under XLA and on TPU, which need it).
    """

    def __init__(self, model_fn, task, config, output_dir, strategy=None, jit_compile=False,
                 static_shapes=None):
        self.task, self.config = task, config.validate()
        self.strategy = strategy or tf.distribute.get_strategy()
        self.run_dir, self.output_dir = output_dir, worker_output_dir(output_dir, self.strategy)
        self.jit_compile = jit_compile
        self.static_shapes = (jit_compile or _is_tpu(self.strategy) if static_shapes is None
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
            encoder_layers = getattr(getattr(self.model, "encoder", None), "transformer_layers", [])
            optimizer = create_optimizer(
                self.config.learning_rate, total_steps, self.config.warmup_ratio,
                self.config.weight_decay, self.config.layer_decay, len(encoder_layers))
            if keras.mixed_precision.global_policy().name == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
        self.state = TrainState()  # plain host variables, read by the Python loop
        checkpoint = tf.train.Checkpoint(
            model=_VariableList(self.model.variables),
            optimizer=_VariableList(self.optimizer.variables), **self.state.checkpoint_items())
        self.manager = tf.train.CheckpointManager(
            checkpoint, os.path.join(self.output_dir, "checkpoints"), max_to_keep=2)

    def _restore(self):
        # Every worker restores the chief's checkpoint when it can read it, so that
        # all of them resume at the same update.
        latest = (tf.train.latest_checkpoint(os.path.join(self.run_dir, "checkpoints"))
                  or self.manager.latest_checkpoint)
        if latest:
            self.manager.checkpoint.restore(latest).assert_consumed()
            print(f"resuming from {latest} (epoch {int(self.state.epoch) + 1}, "
                  f"update {int(self.state.step)})", flush=True)
            history = os.path.join(self.run_dir, "history.json")
            if tf.io.gfile.exists(history):
                with tf.io.gfile.GFile(history) as f:
                    self.history = json.load(f)

    # -- the train step ---------------------------------------------------------------------

    def _make_train_step(self):
        model, task, optimizer = self.model, self.task, self.optimizer
        chunks, clip_norm = self.config.gradient_accumulation_steps, self.config.clip_norm
        loss_scale = (lambda: optimizer.dynamic_scale) if hasattr(optimizer, "dynamic_scale") \
            else (lambda: 1.0)

        def replica_step(features, labels):
            variables = model.trainable_variables
            grads, loss_sum, count = None, 0.0, 0.0
            for i in range(chunks):
                f_i, l_i = _chunk((features, labels), i, chunks)
                with tf.GradientTape() as tape:
                    logits = model(f_i, training=True)
                    chunk_loss, chunk_count = task.loss(l_i, logits)
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

        @tf.function
        def train_step(iterator):
            per_replica = self.strategy.run(replica_step, args=next(iterator))
            return self.strategy.experimental_local_results(per_replica)[0]

        return train_step

    # -- loop -------------------------------------------------------------------------------

    def fit(self, train_dataset_fn, steps_per_epoch, evaluate_fn=None):
        """Train; returns the history (a list of eval records).

        Args:
            train_dataset_fn: `(epoch, input_context) -> tf.data.Dataset` of
                `(features, labels)` batches of the per-replica batch size,
                shuffled by `seed + epoch`, sharded by the input context.
            steps_per_epoch: optimizer updates per epoch.
            evaluate_fn: `(model) -> {metric: value}` over the whole dev set, or None.
        """
        config = self.config
        split_batch(config.batch_size, self.strategy.num_replicas_in_sync)
        total = config.max_steps or steps_per_epoch * config.epochs
        epochs = math.ceil(total / steps_per_epoch)
        self._build(total)
        self._restore()
        train_step = self._make_train_step()
        writer = tf.summary.create_file_writer(os.path.join(self.output_dir, "logs", "train"))
        stop = False
        while int(self.state.epoch) < epochs and not stop:
            epoch, start = int(self.state.epoch), int(self.state.step_in_epoch)
            iterator = iter(self.strategy.distribute_datasets_from_function(
                self._input_fn(train_dataset_fn, epoch, start, steps_per_epoch)))
            steps = min(steps_per_epoch, total - epoch * steps_per_epoch)
            progress = keras.utils.Progbar(steps, verbose=config.verbose,
                                           stateful_metrics=["lr", "examples/s"])
            progress.update(start)
            tick = time.perf_counter()
            for _ in range(start, steps):
                loss = float(train_step(iterator))
                if not math.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at update {int(self.state.step)}")
                self.state.step.assign_add(1)
                self.state.step_in_epoch.assign_add(1)
                step = int(self.state.step)
                elapsed = time.perf_counter() - tick
                self.train_seconds += elapsed
                self.step_seconds.append(elapsed)
                rate = config.batch_size / max(elapsed, 1e-9)
                lr = float(self.optimizer.learning_rate)
                progress.update(int(self.state.step_in_epoch),
                                [("loss", loss), ("lr", lr), ("examples/s", rate)])
                if step % config.log_every_steps == 0:
                    with writer.as_default(step=step):
                        tf.summary.scalar("loss", loss)
                        tf.summary.scalar("learning_rate", lr)
                if self._evaluates_at(step):
                    stop = self._evaluate(evaluate_fn)
                if config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0:
                    self.manager.save(step)
                if config.max_train_seconds and self.train_seconds >= config.max_train_seconds:
                    self._log(f"training time budget of {config.max_train_seconds:.0f} s spent "
                              f"at update {step}")
                    if not self._evaluates_at(step):
                        self._evaluate(evaluate_fn)
                    stop = True
                if stop:
                    break
                tick = time.perf_counter()
            if not stop:
                self.state.epoch.assign_add(1)
                self.state.step_in_epoch.assign(0)
                if not self._evaluates_at(int(self.state.step)):
                    stop = self._evaluate(evaluate_fn)
                self.manager.save(int(self.state.step))
        writer.close()
        if evaluate_fn and config.restore_best and tf.io.gfile.exists(self._best_path):
            self.model.load_weights(self._best_path)
        return self.history

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

    # -- evaluation and early stopping ------------------------------------------------------

    @property
    def _best_path(self):
        return os.path.join(self.output_dir, "best.weights.h5")

    def _evaluate(self, evaluate_fn):
        """Evaluate, keep the best weights, and say whether to stop early."""
        if evaluate_fn is None:
            return False
        metrics = evaluate_fn(self.model)
        step = int(self.state.step)
        record = {"step": step, "epoch": int(self.state.epoch),
                  "train_seconds": round(self.train_seconds, 1), **metrics}
        self.history.append(record)
        self._log("eval " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()
                                     if isinstance(v, float)))
        writer = tf.summary.create_file_writer(os.path.join(self.output_dir, "logs", "eval"))
        with writer.as_default(step=step):
            for name, value in metrics.items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(name, value)
        writer.close()
        with tf.io.gfile.GFile(os.path.join(self.output_dir, "history.json"), "w") as f:
            json.dump(self.history, f, indent=2)
        value = metrics[self.task.main_metric]
        score = value if self.task.greater_is_better else -value
        if score > float(self.state.best_metric):
            self.state.best_metric.assign(score)
            self.state.bad_evals.assign(0)
            self.model.save_weights(self._best_path)
            return False
        self.state.bad_evals.assign_add(1)
        patience = self.config.early_stopping_patience
        if patience and int(self.state.bad_evals) >= patience:
            self._log(f"early stopping: {self.task.main_metric} did not improve in {patience} evals")
            return True
        return False

    def _log(self, message):
        if self.config.verbose:
            print(message, flush=True)


class _VariableList(tf.Module):
    """A checkpointable, ordered list of variables (model or optimizer state,
    including dropout seed states, so a resumed run replays the same masks)."""

    def __init__(self, variables):
        super().__init__()
        self.variables_list = list(variables)


def _is_tpu(strategy):
    return isinstance(strategy, (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy))


def _chunk(structure, index, chunks):
    """The `index`-th of `chunks` equal slices along the batch axis of every tensor."""
    if chunks == 1:
        return structure
    return tf.nest.map_structure(lambda t: tf.split(t, chunks, axis=0)[index], structure)
