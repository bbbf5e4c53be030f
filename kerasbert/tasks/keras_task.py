"""The Keras way to a task: a task model with its preprocessor attached.

    import kerasbert
    model = kerasbert.BertClassifier.from_preset("all_minilm_l6_v2", num_classes=2)
    model.compile()                            # the BERT recipe, sized at fit
    model.fit(x=texts, y=labels, batch_size=16, epochs=2, callbacks=[...])
    model.predict(["what a film"])             # logits
    model.save("sentiment.keras")              # keras.models.load_model reads it
    model.save_to_preset("runs/sentiment")     # what kerasbert.train writes

A task model (`BertTask`) is a Keras functional model (encoder + dropout +
dense head, `heads.task_head`) with a `preprocessor`: a Keras layer that
turns raw text into the encoder's inputs inside `tf.data`, padded to a
static `sequence_length`, so TPU input stays on the host pipeline. `fit`,
`evaluate` and `predict` take raw text (a list, a numpy array, or a batched
`tf.data.Dataset` of `(x, y)`), a `(texts, pairs)` tuple for sentence pairs,
or the encoder's features already tokenized (a dict of int arrays, which the
preprocessor passes through).

`fit` trains with the package's one loop (`kerasbert.loop.trainer.Trainer`,
which `kerasbert.train` drives too) under the model's strategy; the command
line builds these same models (`registry.model_class(task).from_parts`).

Each task module (`kerasbert/tasks/<task>.py`) holds the task's definition
(loss, metrics, predictions for the command-line programs), its Keras model
and its preprocessor, and registers itself once (`tasks.registry`).
"""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from kerasbert.configs.training import TrainingConfig
from kerasbert.data.pipeline import (batch_sequences, count_batches, text_columns,
                                     tokenize_chunk)
from kerasbert.distribute.inputs import split_batch
from kerasbert.encoder.bert_encoder import BertEncoder
from kerasbert.loop.trainer import DatasetCreator, Trainer, TrainingRun, is_tpu
from kerasbert.tasks.heads import task_head
from kerasbert.tasks.task import Task
from kerasbert.tasks.model_directory import (ENCODER_DIR, is_model_directory,
                                             load_keras_task, load_model_directory,
                                             read_task_config)
from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

DEFAULT_BATCH_SIZE = 32
# What `export` calls for a SavedModel of raw strings in (the serving layer's).
RAW_TEXT_EXPORT = "kerasbert.serving.serving_model:export_task_model"


@keras.saving.register_keras_serializable(package="kerasbert")
class BertPreprocessor(keras.layers.Layer):
    """Raw text -> the encoder's inputs, for one text or a pair of texts.

    Args:
        tokenizer: a `BertTokenizer`; its `sequence_length` is the padded
            length of every output.

    Call: `x` is texts (a Python list, a numpy array, a 1-D string tensor or
    a batch of a `tf.data.Dataset`; a single string gives unbatched
    features), a tuple `(texts, pairs)`, or a dict of the encoder's inputs
    (passed through as int32). `sequence_length` is settable: later calls
    pad to the new length. `y` and
    `sample_weight` pass through. Returns
    `keras.utils.pack_x_y_sample_weight(features, y, sample_weight)`, where
    `features` holds int32 `[batch, sequence_length]` `token_ids`,
    `segment_ids` and `padding_mask`.
    """

    def __init__(self, tokenizer, **kwargs):
        kwargs.setdefault("dtype", "int32")
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        # Labels and weights pass through as they are (Keras would cast every
        # tensor argument to the layer's int32: 0.5 -> 0), as KerasHub's
        # PreprocessingLayer does.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.tokenizer = tokenizer
        self.built = True  # no weights

    @property
    def sequence_length(self):
        """The padded length of the outputs (the tokenizer's); settable."""
        return self.tokenizer.sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        self.tokenizer.sequence_length = value

    @classmethod
    def from_preset(cls, preset, sequence_length=128, **kwargs):
        """The preprocessor of a preset, an `hf://` handle, a checkpoint
        directory or a directory a task model saved (`save_to_preset`, or
        `kerasbert.train`): its tokenizer padded to `sequence_length`;
        `kwargs` are this class's own arguments (e.g. QA's `doc_stride`)."""
        if is_model_directory(preset):
            preset = os.path.join(str(preset), ENCODER_DIR)
        return cls(BertTokenizer.from_preset(preset, sequence_length=sequence_length), **kwargs)

    def __call__(self, x, y=None, sample_weight=None, **kwargs):
        # Python strings and lists (of texts, of words, of ids) as tensors:
        # Keras' Layer takes tensors (and numpy arrays) only.
        return super().__call__(_as_tensors(x), _as_tensors(y), _as_tensors(sample_weight),
                                **kwargs)

    def features(self, x):
        if isinstance(x, dict):
            return {name: tf.cast(value, tf.int32) for name, value in x.items()}
        if isinstance(x, tuple):
            if len(x) != 2:
                raise ValueError(f"x as a tuple must be (texts, pairs), got {len(x)} items")
            return self.tokenizer(x[0], x[1])
        return self.tokenizer(x)

    def call(self, x, y=None, sample_weight=None):
        return keras.utils.pack_x_y_sample_weight(self.features(x), y, sample_weight)

    def get_config(self):
        return {**super().get_config(),
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tokenizer"] = keras.saving.deserialize_keras_object(
            config["tokenizer"], custom_objects={"BertTokenizer": BertTokenizer})
        return cls(**config)


class TaskMixin:
    """What every Keras task model shares, whatever its head: the attached
    `preprocessor`, `compile()` defaults, and `fit` / `evaluate` / `predict`
    on raw text. Subclasses set `default_loss()` / `default_metrics()`."""

    preprocessor_class = BertPreprocessor
    preprocessor_arguments = ()  # from_preset arguments that go to the preprocessor
    _schedule = None  # the learning-rate schedule compile() made, sized at fit
    _task_loss = None  # a Task compiled as the loss
    _jit_requested = False

    @property
    def backbone(self):
        """The encoder (a `BertEncoder`), by KerasHub's name for it."""
        return self.encoder

    def enable_lora(self, rank, alpha=None, feed_forward=False):
        """LoRA on the backbone (`BertEncoder.enable_lora`): rank-`rank`
        adapters on its attention projections (and feed-forward ones with
        `feed_forward`), the rest of the backbone frozen; the task's head
        stays trainable. Kept by `save`, `save_to_preset` and their loads."""
        return self.backbone.enable_lora(rank, alpha=alpha, feed_forward=feed_forward)

    # -- configuration ----------------------------------------------------------------------

    def task_config(self):
        """The constructor's arguments other than encoder and preprocessor."""
        return {}

    def get_config(self):
        return {"name": self.name, "encoder": keras.saving.serialize_keras_object(self.encoder),
                "preprocessor": (None if self.preprocessor is None else
                                 keras.saving.serialize_keras_object(self.preprocessor)),
                **self.task_config()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(
            config["encoder"], custom_objects={"BertEncoder": BertEncoder})
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(
                config["preprocessor"], custom_objects={cls.preprocessor_class.__name__:
                                                        cls.preprocessor_class})
        return cls(**config)

    def default_loss(self):
        raise NotImplementedError

    def default_metrics(self):
        raise NotImplementedError

    def compile(self, optimizer="auto", loss="auto", metrics="auto", *, learning_rate=None,
                warmup_ratio=None, weight_decay=None, clip_norm=None, **kwargs):
        """Keras' `compile`, where "auto" is the command line's recipe
        (`kerasbert.configs.training.TrainingConfig`'s defaults for what is not
        given): AdamW (no weight decay on LayerNorm and biases, gradients
        clipped to global norm `clip_norm`) at peak `learning_rate` with
        linear warm-up over `warmup_ratio` of the updates and linear decay to
        0, sized from the first `fit` call's epochs and steps; the task's
        loss from logits; the task's metrics.

        `loss` may be the task's definition (a `kerasbert.tasks.Task`, as
        `model.task_spec()` gives it), as `kerasbert.train` compiles: its own
        loss, summed over the labelled items (tokens, answer ends) of the
        global batch and divided by their count.

        The optimizer's `learning_rate` is the peak, a variable: the warm-up
        and decay multiply it at each update, so `keras.callbacks.
        LearningRateScheduler` and `ReduceLROnPlateau` can set it (see
        `BertAdamW`; `model.optimizer.current_learning_rate` is the rate of
        the next update)."""
        from kerasbert.optimization import BertAdamW, WarmupLinearDecay

        recipe = TrainingConfig()
        settings = {"learning_rate": learning_rate, "warmup_ratio": warmup_ratio,
                    "weight_decay": weight_decay, "clip_norm": clip_norm}
        settings = {name: getattr(recipe, name) if value is None else float(value)
                    for name, value in settings.items()}
        TrainingConfig(**settings).validate()  # a one-line error for an impossible value
        self._schedule = None
        self._task_loss = None
        if isinstance(loss, Task):
            self._task_loss, loss = loss, None
        # fit compiles its steps with XLA when asked to (not when Keras' "auto" would).
        self._jit_requested = kwargs.get("jit_compile") is True
        auto = all(isinstance(part, str) and part == "auto" for part in (optimizer, loss, metrics))
        self._auto_compile = settings if auto and not kwargs else None
        if isinstance(optimizer, str) and optimizer == "auto":
            # Factors of the peak rate, sized at fit (`_size_schedule`).
            self._schedule = WarmupLinearDecay(1.0, total_steps=0, warmup_steps=0)
            self._warmup_ratio = settings["warmup_ratio"]
            optimizer = BertAdamW(learning_rate=settings["learning_rate"],
                                  weight_decay=settings["weight_decay"],
                                  global_clipnorm=settings["clip_norm"] or None,
                                  warmup_decay=self._schedule, beta_1=0.9, beta_2=0.999,
                                  epsilon=1e-6)
        if isinstance(loss, str) and loss == "auto":
            loss = self.default_loss()
        if isinstance(metrics, str) and metrics == "auto":
            metrics, weighted = self.default_metrics(), None
            if self.weighted_metrics_by_default:
                metrics, weighted = None, metrics
            kwargs.setdefault("weighted_metrics", weighted)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    weighted_metrics_by_default = False

    def get_compile_config(self):
        """What `model.keras` keeps of `compile()`: the recipe's settings when
        every part was "auto", else Keras' serialization of the parts."""
        if getattr(self, "_auto_compile", None) is not None:
            return {"kerasbert_recipe": self._auto_compile}
        return super().get_compile_config()

    def compile_from_config(self, config):
        if "kerasbert_recipe" in config:
            self.compile(**config["kerasbert_recipe"])
            if self.built:  # Keras then loads the optimizer's variables, if saved
                self.optimizer.build(self.trainable_variables)
            return
        super().compile_from_config(config)

    # -- training -----------------------------------------------------------------------------

    def train_loss(self, x, y=None, sample_weight=None):
        """(sum of the losses of one replica's batch, the rows it sums) of a
        training forward pass, the compiled metrics updated: what the
        package's loop (`kerasbert.loop.trainer.Trainer`) calls inside
        `strategy.run` for each update of `fit`."""
        y_pred = self(x, training=True)
        self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        if self._task_loss is not None:  # (sum, count) of the labelled items
            return self._task_loss.loss(y, y_pred)
        mean = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                 training=True)
        # Keras divides a replica's loss by the replicas in sync: the replica's own mean.
        mean = tf.cast(mean, tf.float32) * tf.distribute.get_replica_context().num_replicas_in_sync
        rows = tf.cast(tf.shape(tf.nest.flatten(x)[0])[0], tf.float32)
        return mean * rows, rows

    def training_logs(self):
        """{name: float} of the updates since the epoch began, for its logs
        (beside the loop's `loss`): the compiled metrics' results."""
        return {name: float(value) for name, value in self.get_metrics_result().items()
                if name != "loss"}

    # -- data -------------------------------------------------------------------------------

    def _batched(self, x, y, sample_weight, batch_size, seed=None, bucket=False):
        """(x, y, sample_weight) as a batched, preprocessed tf.data.Dataset:
        rows shuffled in the order of `seed` (None: in order; a dataset stays
        as it is); `bucket`: labelled raw text may come in batches of similar
        length (`_length_batches`), for fit and evaluate."""
        if isinstance(x, tf.data.Dataset):
            if y is not None or sample_weight is not None:
                raise ValueError("with a tf.data.Dataset x, put y (and sample weights) in it")
            _check_batched(x)
            dataset = x
        elif bucket and self._buckets_text(x, y):
            return self._length_batches(self._tokenized_rows(x, y, sample_weight), batch_size,
                                        seed)
        else:
            data = keras.utils.pack_x_y_sample_weight(_as_arrays(x), _as_arrays(y),
                                                      _as_arrays(sample_weight))
            dataset = self._slices(data)
            if seed is not None:
                dataset = dataset.shuffle(_num_rows(data), seed=seed,
                                          reshuffle_each_iteration=False)
            dataset = self._batch(dataset, batch_size or DEFAULT_BATCH_SIZE)
        if self.preprocessor is not None:
            dataset = dataset.map(self.preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def _buckets_text(self, x, y):
        """Whether labelled raw text `x` goes in batches of similar length:
        the plain preprocessor's texts (or pairs), off TPU (whose batches
        keep the static shape)."""
        texts = x[0] if isinstance(x, tuple) else x
        return (type(self.preprocessor) is BertPreprocessor and y is not None
                and not isinstance(x, dict) and not isinstance(texts, dict)
                and not is_tpu(self.distribute_strategy))

    def _length_batches(self, rows, batch_size, seed=None):
        """Tokenized rows (`_tokenized_rows`) in batches of similar length,
        each padded to its longest, as `kerasbert.train` batches
        (`data.pipeline.batch_sequences`, "bucket" mode): on CPU and GPU the
        padding is most of a short sentence's compute. Shuffled in the order
        of `seed` (None: in order): the rows, then the batches, as
        `data.pipeline.text_batches` shuffles text."""
        tokenizer = self.preprocessor.tokenizer
        count = int(rows["token_ids"].nrows())
        dataset = tf.data.Dataset.from_tensor_slices(rows)
        if seed is not None:
            dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=False)
        batch_size = batch_size or DEFAULT_BATCH_SIZE
        dataset = batch_sequences(dataset, batch_size=batch_size, mode="bucket",
                                  sequence_length=tokenizer.sequence_length,
                                  pad_token_id=tokenizer.pad_token_id, shuffle_seed=seed)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(
            count_batches(count, batch_size, False)))
        return dataset.prefetch(tf.data.AUTOTUNE)

    def _tokenized_rows(self, x, y, sample_weight):
        """Raw text `x` (or `(texts, pairs)`), `y` and `sample_weight`,
        tokenized at once: a dict of int32 RaggedTensors `[rows, (length)]`
        and the labels (and weights), which each epoch of a `fit` reorders
        without tokenizing (or tracing the tokenizer) again."""
        texts, pairs = x if isinstance(x, tuple) else (x, None)
        if isinstance(x, tuple) and len(x) != 2:
            raise ValueError(f"x as a tuple must be (texts, pairs), got {len(x)} items")
        texts, pairs, y, sample_weight = (_as_arrays(part) for part in (texts, pairs, y,
                                                                        sample_weight))
        columns = text_columns(texts, pairs, y, sample_weight)
        return tokenize_chunk(self.preprocessor.tokenizer,
                              next(iter(columns.batch(_num_rows(texts)))))

    def _slices(self, data):
        return tf.data.Dataset.from_tensor_slices(data)

    def _batch(self, dataset, batch_size):
        return dataset.batch(batch_size, drop_remainder=self._static_batches)

    # fit's batches all have batch_size rows under TPUStrategy (static shapes).
    _static_batches = False

    def _size_schedule(self, steps_per_epoch, epochs, initial_epoch):
        """Set the auto schedule's length from this fit's updates (first fit only)."""
        if self._schedule is None or self._schedule.total_steps:
            return
        total = max(int(steps_per_epoch) * (epochs - initial_epoch), 1)
        self._schedule.total_steps = total
        self._schedule.warmup_steps = round(total * self._warmup_ratio)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_batch_size=None, **kwargs):
        """Keras' `fit`, on raw text or on the encoder's features, trained by
        the package's loop (`kerasbert.loop.trainer.Trainer`, as `kerasbert.train`
        trains) with what `compile()` gave: one `strategy.run` loop under the
        model's strategy (MultiWorkerMirroredStrategy included), the
        compiled `steps_per_execution` updates per call, and every Keras
        callback. A `keras.callbacks.BackupAndRestore` makes it checkpoint
        into its `backup_dir` (each epoch, or every `save_freq` updates) and
        resume there after a kill, to the same weights. Returns a Keras
        `History` of each epoch's loss and metrics (`val_` ones from
        `validation_data`). Under several replicas every update has
        `batch_size` rows: an epoch's smaller last batch is left out, as
        `kerasbert.train` leaves it out.

        `x` may be a `kerasbert.loop.trainer.DatasetCreator` (a function of
        the epoch and input context giving per-replica batches; then
        `steps_per_epoch` is needed). A `kerasbert.loop.trainer.TrainingRun`
        among the callbacks makes this `fit` a command-line run: its config
        (not `verbose`) sets the recipe's loop settings, its directory gets
        checkpoints, logs and best weights, and its `evaluate_fn` (in place
        of `validation_data`) scores each evaluation."""
        if kwargs:
            raise ValueError(f"fit does not take {', '.join(sorted(kwargs))} (class weights: "
                             "pass sample_weight)")
        if getattr(self, "optimizer", None) is None:
            raise ValueError("call model.compile() before fit (no arguments: the BERT recipe)")
        strategy = self.distribute_strategy
        replicas = strategy.num_replicas_in_sync
        global_batch = batch_size or DEFAULT_BATCH_SIZE
        per_replica = split_batch(global_batch, replicas)
        callbacks = list(callbacks or ())
        run = next((c for c in callbacks if isinstance(c, TrainingRun)), None)
        backup = next((c for c in callbacks if isinstance(c, keras.callbacks.BackupAndRestore)),
                      None)
        history = keras.callbacks.History()
        callbacks = [c for c in callbacks if c is not backup and c is not run] + [history]
        if isinstance(x, DatasetCreator):
            if y is not None or sample_weight is not None or validation_split:
                raise ValueError("with a DatasetCreator x, its datasets hold y (and sample "
                                 "weights); pass validation_data apart")
            if steps_per_epoch is None:
                raise ValueError("fit on a DatasetCreator needs steps_per_epoch")
            train_dataset_fn, element_spec = x, None
        else:
            train_dataset_fn, element_spec, steps_per_epoch, validation_data = self._fit_inputs(
                x, y, sample_weight, validation_data, validation_split, shuffle, per_replica,
                initial_epoch, steps_per_epoch)
        if validation_data is not None:
            validation_data = self._batched(*_unpack(validation_data),
                                            validation_batch_size or global_batch,
                                            bucket=True)
        self._size_schedule(steps_per_epoch, epochs, initial_epoch)

        if run is not None:
            config = dataclasses.replace(run.config, epochs=epochs, batch_size=global_batch)
        else:
            every = backup.save_freq if backup is not None and backup.save_freq != "epoch" else 0
            config = TrainingConfig(
                epochs=epochs, batch_size=global_batch, clip_norm=0.0,  # the optimizer clips
                steps_per_loop=int(self.steps_per_execution or 1), checkpoint_every_steps=every,
                verbose=1 if verbose == "auto" else int(verbose))

        evaluate_fn = run and run.evaluate_fn
        if evaluate_fn is None and validation_data is not None:
            def evaluate_fn(model):  # the loop calls the callbacks' test hooks around it
                return keras.Model.evaluate(model, validation_data, verbose=0, return_dict=True)
        if element_spec is None and (self._compile_loss is not None
                                     or self._compile_metrics is not None):
            element_spec = x(initial_epoch, tf.distribute.InputContext()).element_spec
        if element_spec is not None:
            with strategy.scope():  # the compiled loss and metrics, built before the loop
                self._symbolic_build(data_batch=element_spec)
        trainer = Trainer(lambda: self, run and run.task, config, run and run.output_dir,
                          strategy, compiled=True, jit_compile=self._jit_requested,
                          checkpoint_dir=backup and backup.backup_dir)
        if run is not None:
            run.trainer = trainer
        trainer.fit(train_dataset_fn, steps_per_epoch, evaluate_fn, callbacks=callbacks,
                    initial_epoch=initial_epoch)
        if backup is not None and backup.delete_checkpoint and tf.io.gfile.exists(
                backup.backup_dir):
            tf.io.gfile.rmtree(backup.backup_dir)  # finished: nothing to resume
        return history

    def _fit_inputs(self, x, y, sample_weight, validation_data, validation_split, shuffle,
                    per_replica, initial_epoch, steps_per_epoch):
        """fit's in-memory data or dataset as (`(epoch, input_context) ->
        dataset` of per-replica batches, its element spec, steps per epoch,
        validation data)."""
        strategy = self.distribute_strategy
        replicas = strategy.num_replicas_in_sync
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = keras.utils.split_dataset(
                (x, y, sample_weight), right_size=validation_split) \
                if isinstance(x, tf.data.Dataset) else _split((x, y, sample_weight),
                                                              validation_split)
        # Each epoch's order depends on the fit's seed (numpy's draw, which
        # keras.utils.set_random_seed sets) and the epoch only, so that a resumed
        # fit sees the batches the killed one would have seen.
        fit_seed = int(np.random.randint(2**31 - 1)) if shuffle else None

        # Labelled text in length buckets: tokenized once, reordered each epoch.
        rows = (self._tokenized_rows(x, y, sample_weight)
                if not isinstance(x, tf.data.Dataset) and self._buckets_text(x, y) else None)

        def epoch_batches(epoch):
            if rows is not None:
                return self._length_batches(rows, per_replica,
                                            None if fit_seed is None else fit_seed + epoch)
            self._static_batches = is_tpu(strategy)
            try:
                dataset = self._batched(x, y, sample_weight, per_replica,
                                        None if fit_seed is None else fit_seed + epoch,
                                        bucket=True)
            finally:
                self._static_batches = False
            if isinstance(x, tf.data.Dataset) and replicas > 1:
                dataset = _rebatch(dataset, replicas)
            return dataset

        dataset = epoch_batches(initial_epoch)
        if steps_per_epoch is None:
            batches = int(dataset.cardinality())
            if batches == tf.data.UNKNOWN_CARDINALITY:  # e.g. QA's windows: count them once
                batches = int(dataset.reduce(0, lambda count, _: count + 1))
            if batches < 0:
                raise ValueError("the dataset is endless: pass steps_per_epoch to fit")
            steps_per_epoch = max(batches // replicas, 1)

        def train_dataset_fn(epoch, context):
            batches = dataset if epoch == initial_epoch else epoch_batches(epoch)
            if context is None or context.num_input_pipelines == 1:
                return batches
            return batches.shard(context.num_input_pipelines, context.input_pipeline_id)

        return train_dataset_fn, dataset.element_spec, steps_per_epoch, validation_data

    def evaluate(self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs):
        """Keras' `evaluate`, on raw text or on the encoder's features."""
        dataset = self._batched(x, y, sample_weight, batch_size, bucket=True)
        return super().evaluate(dataset, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """Keras' `predict` (the head's logits), on raw text or features."""
        dataset = self._batched(x, None, None, batch_size)
        return super().predict(dataset, **kwargs)

    def explain(self, texts, target=None, steps=32, batch_size=4):
        """Integrated-gradients explanations of raw texts (or `(texts, pairs)`;
        QA: `(questions, contexts)`), one record per row: label, score, tokens
        and their attributions, words
        (`kerasbert.tasks.integrated_gradients.explain`); NER: each predicted
        entity's; QA: the answer's start and end (`kerasbert.tasks.explain_ner_qa`)."""
        from kerasbert.tasks.integrated_gradients import explain

        return explain(self, texts, target=target, steps=steps, batch_size=batch_size)

    # -- presets ----------------------------------------------------------------------------

class BertTask(TaskMixin, keras.Model):
    """Base of the Keras task models with a head on the encoder (a functional
    model, `heads.task_head`: encoder + dropout + dense head, optionally a
    CRF) with a `preprocessor`, `compile()` defaults, raw-text `fit` /
    `evaluate` / `predict`, presets. Built directly, it is a plain head on the
    encoder, for inference (features in, logits out).

    Subclasses set `task_name` (the registry's name), `head`, and
    `default_loss()` / `default_metrics()`; their `__init__` takes the
    encoder, the task's sizes, `preprocessor` and `labels` (names, optional).
    `dropout` is the head's (the encoder's hidden dropout by default); the
    others are `task_head`'s.
    """

    task_name = None

    def __init__(self, encoder, num_outputs, head="pooled", preprocessor=None, labels=None,
                 dropout=None, pooling="cls", crf=False, **kwargs):
        if dropout is None:
            dropout = encoder.bert_config["hidden_dropout_prob"]
        inputs, logits = task_head(encoder, num_outputs, head, dropout, pooling, crf)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_outputs, self.head, self.dropout = num_outputs, head, dropout
        self.pooling, self.crf = pooling, bool(crf)
        self.preprocessor = preprocessor
        self.labels = None if labels is None else [str(label) for label in labels]
        if self.labels is not None and len(self.labels) != self.num_labels:
            raise ValueError(f"{len(self.labels)} label names for {self.num_labels} outputs")

    @property
    def num_labels(self):
        return self.num_outputs

    def task_config(self):
        return {"labels": self.labels, "dropout": self.dropout, "pooling": self.pooling}


    # -- compile ----------------------------------------------------------------------------


    @classmethod
    def from_preset(cls, preset, load_weights=True, sequence_length=128, allow_pickle=False,
                    pooling="auto", dropout=None, **task_arguments):
        """A task model from a preset, a hub handle (`hf://ORG/NAME`), a
        checkpoint directory, or a directory this class (or
        `kerasbert.train`) saved, which comes back whole: weights, head,
        labels and preprocessor; other sources give the pretrained encoder
        with a new head of `task_arguments` (e.g. `num_classes`).

        `pooling`: "cls", "mean", or "auto" (what the checkpoint declares).
        `dropout`: the encoder's dropout rates (hidden and attention) and the
        head's, as `kerasbert.train --dropout` (default: the checkpoint's).
        """
        from kerasbert.checkpoints.sources import declared_pooling

        if is_model_directory(preset):
            model = None
            if "lora" in read_task_config(preset):  # the adapters, apart: model.keras
                model = load_keras_task(preset)
            if model is None:
                model = load_model_directory(preset)[0]
            if not isinstance(model, cls):
                raise ValueError(f"{preset} holds a {type(model).__name__}, not a {cls.__name__}")
            return model
        overrides = {} if dropout is None else {"hidden_dropout_prob": dropout,
                                                "attention_probs_dropout_prob": dropout}
        encoder = BertEncoder.from_preset(preset, load_weights=load_weights,
                                          allow_pickle=allow_pickle, **overrides)
        tokenizer = BertTokenizer.from_preset(preset, sequence_length=sequence_length)
        if pooling == "auto":
            pooling = declared_pooling(preset)
        preprocessing = {name: task_arguments.pop(name) for name in cls.preprocessor_arguments
                         if name in task_arguments}
        return cls(encoder, preprocessor=cls.preprocessor_class(tokenizer, **preprocessing),
                   pooling=pooling, **task_arguments)

    def task_spec(self):
        """The task's definition (`kerasbert.tasks.Task`) with this model's labels."""
        from kerasbert.tasks.registry import get_task

        return get_task(self.task_name, self.labels or
                        [str(i) for i in range(self.num_labels)])

    def save_to_preset(self, directory, text_pair=False):
        """Write the model as a preset directory: what `kerasbert.train`
        writes, read by `from_preset`, the command-line programs and, for its
        `model.keras`, `keras.models.load_model`."""
        from kerasbert.tasks.model_directory import save_model_directory

        if self.preprocessor is None:
            raise ValueError("a preset needs the model's preprocessor (its tokenizer)")
        save_model_directory(directory, self, self.task_spec(), self.preprocessor.tokenizer,
                             self.preprocessor.sequence_length, text_pair)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               text_pair=False, **kwargs):
        """A SavedModel that takes raw strings: `kerasbert.export`'s
        signatures (the task's 1-D string inputs in; labels, scores, tags or
        spans out; `text_pair`: the model reads sentence pairs). Without a
        preprocessor, with an `input_signature` or another `format`: Keras'
        own export (the encoder's features in)."""
        if self.preprocessor is None or input_signature is not None or (
                format != "tf_saved_model"):
            return super().export(filepath, format=format, verbose=verbose,
                                  input_signature=input_signature, **kwargs)
        from kerasbert.tasks.registry import load_declared

        # Named, not imported: the serving layer builds it (as a Task names its data_reader).
        load_declared(RAW_TEXT_EXPORT)(self, filepath, text_pair=text_pair)


def _check_batched(dataset):
    """A one-line error for a dataset of single examples (a batch has a batch
    dimension in every part: a part of rank 0 is one example's)."""
    specs = tf.nest.flatten(dataset.element_spec)
    if any(getattr(spec, "shape", None) is not None and spec.shape.rank == 0 for spec in specs):
        raise ValueError("the tf.data.Dataset is not batched: its elements are single examples; "
                         "call .batch(batch_size) on it before fit, evaluate or predict")


def _rebatch(dataset, replicas):
    """A dataset of global batches as one of per-replica batches, `replicas`
    of them per global batch (which must have a static size they divide)."""
    size = tf.nest.flatten(dataset.element_spec)[0].shape[0]
    if size is None:
        raise ValueError(f"under {replicas} replicas, fit needs batches of one size: batch the "
                         "dataset with drop_remainder=True")
    return dataset.rebatch(split_batch(size, replicas))


def _as_tensors(data):
    """Python strings and lists in `data` (a structure of tuples and dicts) as
    tensors: a string or a flat list as a dense tensor, nested lists (words,
    tags) as ragged ones; tensors and arrays as they are."""
    if isinstance(data, dict):
        return {name: _as_tensors(value) for name, value in data.items()}
    if isinstance(data, tuple):
        return tuple(_as_tensors(item) for item in data)
    if isinstance(data, (str, bytes)):
        return tf.constant(data, tf.string)
    if isinstance(data, list):
        if not data:
            return tf.constant([], tf.string)
        if isinstance(data[0], (list, tuple)):
            return tf.ragged.constant(data)
        return tf.constant(data)
    return data


def _as_arrays(data):
    """Lists of strings -> numpy arrays, for `from_tensor_slices`."""
    if data is None or isinstance(data, (np.ndarray, tf.Tensor, tf.RaggedTensor, dict)):
        return data
    if isinstance(data, tuple):
        return tuple(_as_arrays(item) for item in data)
    if isinstance(data, list) and data and isinstance(data[0], (list, tuple)):
        return data  # nested lists (words, tags): the task makes them ragged
    return np.asarray(data)


def _num_rows(data):
    """Rows of arrays (a structure of them; nested Python lists are rows too)."""
    while isinstance(data, (tuple, dict)):
        data = data[0] if isinstance(data, tuple) else next(iter(data.values()))
    return len(data)


def _unpack(data):
    if isinstance(data, tf.data.Dataset):
        return data, None, None
    return keras.utils.unpack_x_y_sample_weight(data)


def _split(arrays, fraction):
    """The last `fraction` of the rows as validation data, as Keras does."""
    arrays = tuple(_as_arrays(a) for a in arrays)
    n = _num_rows(arrays[0])
    cut = n - int(round(n * fraction))

    def take(data, part):
        return None if data is None else tf.nest.map_structure(lambda a: a[part], data)

    train = tuple(take(a, slice(0, cut)) for a in arrays)
    valid = tuple(take(a, slice(cut, n)) for a in arrays)
    return train, valid
