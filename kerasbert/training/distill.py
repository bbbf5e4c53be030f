"""Task-specific distillation: a fine-tuned teacher taught to a shallower student.

    from kerasbert.training.distill import Distiller, make_student
    teacher = kerasbert.BertClassifier.from_preset("runs/sentiment")   # a model directory
    student, layer_map = make_student(teacher, num_layers=2)
    distiller = Distiller(teacher, student, temperature=2.0, alpha=0.5)
    distiller.compile(learning_rate=1e-4)       # the BERT recipe, as task models compile
    distiller.fit(x=texts, y=labels, batch_size=32, epochs=3)   # y=-100: no gold label
    student.save_to_preset("runs/sentiment-2l")  # an ordinary model directory

`distill(...)` is the whole run behind `python -m kerasbert.distill`: the
teacher's data read by its task's reader, unlabelled rows added, the student
distilled, scored on dev beside the teacher, and written as a model directory
(what `kerasbert.train` writes: evaluate, predict, export and `train
--adapter=lora --model=` read it).

The student (as DistilBERT, Sanh et al. 2019) is the teacher's architecture
with fewer layers, initialised from the teacher's own weights: embeddings,
pooler and task head copied, and student layer i copied from teacher layer
`layer_map[i] = round((i + 1) * L / N) - 1` (L teacher layers, N student
layers): the last layer of each of N equal blocks, so the top layer (the one
the head was trained on) is always kept. 6 -> 3 takes layers 1, 3, 5; 6 -> 2
takes 2, 5; 12 -> 6 takes 1, 3, 5, 7, 9, 11.

A narrower student (`hidden_size` below the teacher's) keeps the head size
of the attention (fewer heads) and the ratio of the feed-forward width, and is
initialised by truncation: every weight is the leading block of the mapped
teacher weight (the first `hidden_size` rows / columns, the first heads).
That is a warm start, not a copy: the residual stream loses dimensions, so
such a student needs more distillation than a full-width one.

The loss of one batch (`Distiller.compute_losses`):

    loss = alpha * gold + (1 - alpha) * soft + hidden_loss_weight * hidden

- soft: the teacher's soft labels at temperature T: `T^2 * KL(softmax(t/T) ||
  softmax(s/T))` for classification (per row) and NER (per real token),
  the Bernoulli KL of each label's sigmoid for multi-label, the squared
  error to the teacher's prediction for regression (no temperature); the
  mean over rows (tokens), unlabelled rows included;
- gold: the task's own loss (`Task.loss`) on the gold labels, averaged over
  the labelled rows only: a row whose labels are all the task's ignore value
  (-100; NaN for regression; -1 rows for multi-label) is distillation-only;
- hidden: the mean squared error between each student layer's output and its
  mapped teacher layer's (and the embeddings'), over real tokens; same width
  only.
"""

import math
import os

import keras
import numpy as np
import tensorflow as tf

from kerasbert.tasks.keras_task import TaskMixin
from kerasbert.configs.training import TrainingConfig

DISTILL_FILE = "distill.json"
# The tasks a student may be distilled for (their logits and labels are understood here).
TASKS = ("classification", "multilabel", "regression", "ner")


def layer_map(teacher_layers, num_layers):
    """The teacher layer each student layer starts from: `round((i + 1) * L / N) - 1`.

    Raises:
        ValueError: `num_layers` not in 1 .. teacher_layers - 1.
    """
    if not 1 <= num_layers < teacher_layers:
        raise ValueError(f"num_layers must be between 1 and {teacher_layers - 1} (the teacher "
                         f"has {teacher_layers} layers), got {num_layers}")
    return [int(math.floor((i + 1) * teacher_layers / num_layers + 0.5)) - 1
            for i in range(num_layers)]


def student_config(teacher_config, num_layers, hidden_size=None):
    """The student's `bert_config`: the teacher's with `num_layers` layers and,
    with `hidden_size`, that width (heads of the teacher's size, the
    teacher's feed-forward ratio).

    Raises:
        ValueError: a width above the teacher's, or not a multiple of its head size.
    """
    config = dict(teacher_config, num_hidden_layers=num_layers)
    width = teacher_config["hidden_size"]
    if hidden_size is None or hidden_size == width:
        return config
    head_size = width // teacher_config["num_attention_heads"]
    if not 0 < hidden_size < width or hidden_size % head_size:
        raise ValueError(f"hidden_size must be a multiple of the teacher's attention head size "
                         f"{head_size} below its width {width}, got {hidden_size}")
    config.update(hidden_size=hidden_size, num_attention_heads=hidden_size // head_size,
                  intermediate_size=teacher_config["intermediate_size"] * hidden_size // width)
    return config


def make_student(teacher, num_layers, hidden_size=None, task_config=None):
    """(student, layer_map): a task model of the teacher's class, task, labels,
    pooling and preprocessor, with `num_layers` layers initialised from the
    teacher's (see the module docstring). `teacher` is a Keras task model
    with its preprocessor (e.g. `BertClassifier.from_preset(model_dir)`);
    `task_config`: its directory's `kerasbert_task.json`, where it has one
    (the task's settings, e.g. NER's case markers)."""
    from kerasbert.encoder.bert_encoder import BertEncoder
    from kerasbert.tasks.model_directory import _keras_task, task_info

    source = teacher.encoder
    chosen = layer_map(len(source.transformer_layers), num_layers)
    config = student_config(source.bert_config, num_layers, hidden_size)
    encoder = BertEncoder(**config)
    tokenizer = teacher.preprocessor.tokenizer
    meta = task_config or task_info(teacher, teacher.task_spec(), tokenizer.sequence_length,
                                    False)
    student = _keras_task(encoder, tokenizer, meta)
    pairs = [(source.embeddings, encoder.embeddings), (source.pooler, encoder.pooler),
             (teacher.get_layer("logits"), student.get_layer("logits"))]
    pairs += [(source.transformer_layers[t], block)
              for t, block in zip(chosen, encoder.transformer_layers)]
    if getattr(teacher, "crf", False) and getattr(student, "crf", False):
        pairs.append((teacher.get_layer("crf"), student.get_layer("crf")))
    for origin, target in pairs:
        copy_weights(origin, target)
    return student, chosen


def copy_weights(origin, target):
    """Assign each weight of layer `target` the leading block of `origin`'s
    weight in the same place (the whole weight when the shapes match)."""
    weights, values = target.weights, origin.weights
    if len(weights) != len(values):
        raise ValueError(f"{origin.name} and {target.name} have different weights")
    for variable, value in zip(weights, values):
        block = tuple(slice(0, n) for n in variable.shape)
        variable.assign(np.asarray(value.numpy())[block])


def forward(model, features, training=False, hidden_states=False):
    """The logits of task model `model` on `features` and, with
    `hidden_states`, its encoder's embedding output and every layer's output
    (the model's own layers, called in turn: the same logits as `model(features)`)."""
    if not hidden_states:
        return model(features, training=training), None
    encoder = model.encoder
    hidden = encoder.embeddings(features["token_ids"], features["segment_ids"],
                                training=training)
    bias = encoder.get_layer("attention_bias")(features["padding_mask"])
    states = [hidden]
    for block in encoder.transformer_layers:
        hidden = block(hidden, bias, training=training)
        states.append(hidden)
    if model.head == "sequence":
        x = hidden
    elif model.pooling == "mean":
        x = model.get_layer("mean_pooling")(hidden, features["padding_mask"])
    else:
        x = encoder.pooler(hidden[:, 0, :])
    x = model.get_layer("head_dropout")(x, training=training)
    return model.get_layer("logits")(x), states


def labelled_rows(task, labels):
    """bool `[batch]`: the rows with a gold label (see the module docstring)."""
    if task.label_type == "regression":
        return tf.math.is_finite(labels)
    valid = labels >= 0
    if task.label_type == "multi_label":
        return tf.reduce_all(valid, axis=-1)
    if task.head == "sequence":
        return tf.reduce_any(valid, axis=-1)
    return valid


def soft_loss(task, student_logits, teacher_logits, padding_mask, temperature):
    """(sum, count) of the soft-label loss over the real rows (NER: tokens)."""
    s = tf.cast(student_logits, tf.float32)
    t = tf.cast(teacher_logits, tf.float32)
    mask = tf.cast(padding_mask, tf.float32)
    if task.head == "sequence":
        weights = mask  # every real token of every row
    else:
        weights = mask[:, 0]  # a row with its [CLS] (not a padding example)
    if task.label_type == "regression":
        per_item = tf.square(s[..., 0] - t[..., 0])
    elif task.label_type == "multi_label":
        p = tf.sigmoid(t / temperature)
        log_p, log_1p = tf.math.log_sigmoid(t / temperature), tf.math.log_sigmoid(-t / temperature)
        log_q, log_1q = tf.math.log_sigmoid(s / temperature), tf.math.log_sigmoid(-s / temperature)
        kl = p * (log_p - log_q) + (1 - p) * (log_1p - log_1q)
        per_item = temperature ** 2 * tf.reduce_mean(kl, axis=-1)
    else:
        log_p = tf.nn.log_softmax(t / temperature, axis=-1)
        log_q = tf.nn.log_softmax(s / temperature, axis=-1)
        per_item = temperature ** 2 * tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)
    return tf.reduce_sum(per_item * weights), tf.reduce_sum(weights)


class Distiller(TaskMixin, keras.Model):
    """A teacher task model taught to a student: a Keras model whose `fit`
    trains the student on the distillation loss (the teacher frozen).

    Args:
        teacher: a fine-tuned Keras task model with its preprocessor.
        student: a task model of the same task and tokenizer (`make_student`).
        temperature: T of the soft labels (the KL is scaled by T^2).
        alpha: weight of the gold labels' loss; the soft labels' is 1 - alpha.
        hidden_loss_weight: weight of the hidden-state match (0: off).
        layer_map: the teacher layer of each student layer (`make_student`'s);
            needed for the hidden-state match.

    `compile()` is the task models' (the BERT recipe: AdamW, warm-up and
    linear decay sized at the first `fit`); `fit` takes raw texts and labels,
    or a batched `tf.data.Dataset` of `(features, labels)`. Labels at the
    task's ignore value mark unlabelled rows. `call` is the student's.
    Besides the losses, `fit`'s logs count `labelled_rows` and
    `unlabelled_rows` seen since compile.
    """

    def __init__(self, teacher, student, temperature=2.0, alpha=0.5, hidden_loss_weight=0.0,
                 layer_map=None, **kwargs):
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
        if hidden_loss_weight:
            if layer_map is None:
                raise ValueError("the hidden-state match needs the layer_map")
            widths = {m.encoder.bert_config["hidden_size"] for m in (teacher, student)}
            if len(widths) > 1:
                raise ValueError("the hidden-state match needs a student of the teacher's "
                                 f"width, got {sorted(widths)}")
        self.teacher, self.student = teacher, student
        self.teacher.trainable = False
        self.task = student.task_spec()
        self.preprocessor = student.preprocessor
        self.temperature, self.alpha = float(temperature), float(alpha)
        self.hidden_loss_weight = float(hidden_loss_weight)
        self.layer_map = list(layer_map) if layer_map is not None else None
        self._trackers = {name: keras.metrics.Mean(name=name)
                          for name in ("loss", "soft_loss", "gold_loss", "hidden_loss")}
        self.labelled_seen = keras.Variable(0.0, trainable=False, name="labelled_rows")
        self.unlabelled_seen = keras.Variable(0.0, trainable=False, name="unlabelled_rows")

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def compute_losses(self, features, labels, training=False):
        """{"loss", "soft_loss", "gold_loss", "hidden_loss"} float32 scalars of
        one batch (see the module docstring), and the bool `[batch]` labelled rows."""
        hidden = self.hidden_loss_weight > 0
        teacher_logits, teacher_states = forward(self.teacher, features, False, hidden)
        student_logits, student_states = forward(self.student, features, training, hidden)
        total, count = soft_loss(self.task, student_logits, teacher_logits,
                                 features["padding_mask"], self.temperature)
        soft = total / tf.maximum(count, 1.0)
        total, count = self.task.loss(labels, tf.cast(student_logits, tf.float32))
        gold = total / tf.maximum(count, 1.0)
        hidden_loss = tf.constant(0.0)
        if hidden:
            mask = tf.cast(features["padding_mask"], tf.float32)[:, :, None]
            pairs = [(0, 0)] + [(i + 1, t + 1) for i, t in enumerate(self.layer_map)]
            errors = [tf.reduce_sum(tf.square(tf.cast(student_states[s], tf.float32) -
                                              tf.cast(teacher_states[t], tf.float32)) * mask)
                      for s, t in pairs]
            width = float(self.student.encoder.bert_config["hidden_size"])
            hidden_loss = tf.add_n(errors) / (len(pairs) * width * tf.maximum(
                tf.reduce_sum(mask), 1.0))
        loss = (self.alpha * gold + (1 - self.alpha) * soft
                + self.hidden_loss_weight * hidden_loss)
        losses = {"loss": loss, "soft_loss": soft, "gold_loss": gold, "hidden_loss": hidden_loss}
        return losses, labelled_rows(self.task, labels)

    def train_loss(self, x, y=None, sample_weight=None):
        """The distillation loss of one replica's batch, as a sum over its rows
        (`TaskMixin.train_loss`, which `fit`'s loop calls), the loss trackers and
        the labelled / unlabelled counts updated."""
        losses, labelled = self.compute_losses(x, y, training=True)
        real = tf.cast(x["padding_mask"][:, 0], tf.float32)
        labelled = tf.cast(labelled, tf.float32) * real
        self.labelled_seen.assign_add(tf.reduce_sum(labelled))
        self.unlabelled_seen.assign_add(tf.reduce_sum(real - labelled))
        for name, tracker in self._trackers.items():
            tracker.update_state(losses[name])
        rows = tf.cast(tf.shape(real)[0], tf.float32)
        return losses["loss"] * rows, rows

    def training_logs(self):
        return {**{name: float(tracker.result()) for name, tracker in self._trackers.items()
                   if name != "loss"},
                "labelled_rows": float(self.labelled_seen.numpy()),
                "unlabelled_rows": float(self.unlabelled_seen.numpy())}

    def test_step(self, data):
        features, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        losses, _ = self.compute_losses(features, labels)
        for name, tracker in self._trackers.items():
            tracker.update_state(losses[name])
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def compile(self, optimizer="auto", *, learning_rate=None, warmup_ratio=None,
                weight_decay=None, clip_norm=None, **kwargs):
        """The task models' `compile` (`TaskMixin.compile`) without a loss of
        Keras': the distillation loss is this model's own."""
        super().compile(optimizer, loss=None, metrics=None, learning_rate=learning_rate,
                        warmup_ratio=warmup_ratio, weight_decay=weight_decay,
                        clip_norm=clip_norm, **kwargs)
        self.labelled_seen.assign(0.0)
        self.unlabelled_seen.assign(0.0)

    def _batched(self, x, y, sample_weight, batch_size, seed=None, bucket=False):
        """`TaskMixin._batched` with the texts tokenized by the preprocessor's
        `features` (a batched dataset of features passes as it is): labels
        keep their dtype (regression's floats and NaN); padded to
        `sequence_length`, not bucketed (`bucket` is not used)."""
        preprocessor = self.preprocessor
        if isinstance(x, tf.data.Dataset):
            self.preprocessor = None
        try:
            if preprocessor is None or isinstance(x, tf.data.Dataset):
                return super()._batched(x, y, sample_weight, batch_size, seed)
            self.preprocessor = None
            dataset = super()._batched(x, y, sample_weight, batch_size, seed)
        finally:
            self.preprocessor = preprocessor
        return dataset.map(lambda x, *rest: (preprocessor.features(x), *rest),
                           num_parallel_calls=tf.data.AUTOTUNE)

    def get_config(self):
        raise NotImplementedError("a Distiller is not saved: save its student "
                                  "(`distiller.student.save_to_preset(directory)`)")


# -- unlabelled rows --------------------------------------------------------------------------

def read_unlabelled(path, text_column="text", text_pair_column=None, encoding="utf-8",
                    header="auto"):
    """(texts, pairs or None) of an unlabelled file: a `.txt` file (one text a
    line, blank lines skipped) or a CSV / TSV / JSONL file read by its text
    column(s) (any label column is ignored).

    Raises:
        DataError: a bad record, or a file without texts.
    """
    from kerasbert.data.errors import DataError
    from kerasbert.data.files import check_decoded, decoded_lines
    from kerasbert.training.inputs import text_source

    path = str(path)
    if path.endswith(".txt"):
        if text_pair_column is not None:
            raise ValueError(f"{path}: a .txt file holds single texts; this model reads pairs "
                             "(give a CSV / TSV / JSONL file with --text_pair_column)")
        texts = []
        for line, text in decoded_lines(path, encoding):
            text = text.strip()
            if text:
                check_decoded(text, path, encoding, line=line, field="text")
                texts.append(text)
        pairs = None
    else:
        source = text_source(path, None, text_column, None, text_pair_column, split="train",
                             encoding=encoding, labelled=False, header=header)
        examples = list(source.examples())
        texts = [e.text for e in examples]
        pairs = [e.text_pair for e in examples] if text_pair_column is not None else None
    if not texts:
        raise DataError(path, "no texts")
    return texts, pairs


def unlabelled_dataset(task, tokenizer, texts, pairs, label_spec, batch_size, seed):
    """Batches `(features, labels)` of unlabelled texts: shuffled by `seed` on
    each pass, labels all at the task's ignore value in the shape and dtype
    of `label_spec` (the labelled batches' `tf.TensorSpec`)."""
    if task.label_type == "regression":
        fill = float("nan")
    elif task.label_type == "multi_label":
        fill = -1
    else:
        fill = task.ignore_label
    data = (texts,) if pairs is None else (texts, pairs)
    dataset = tf.data.Dataset.from_tensor_slices(data)
    dataset = dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)

    def tokenized(*batch):
        features = tokenizer(*batch)
        rows = tf.shape(features["token_ids"])[0]
        if task.head == "sequence":
            shape = tf.shape(features["token_ids"])
        else:
            shape = tf.concat([[rows], tf.constant(label_spec.shape[1:].as_list(), tf.int32)], 0)
        return features, tf.fill(shape, tf.constant(fill, label_spec.dtype))

    return dataset.batch(batch_size).map(tokenized, num_parallel_calls=tf.data.AUTOTUNE)


def mixed_batches(labelled, num_labelled, unlabelled, num_unlabelled, seed):
    """Labelled and unlabelled batches drawn at random in proportion to their
    rows, endlessly (`fit` is given its steps per epoch)."""
    if unlabelled is None:
        return labelled.repeat()
    names = list(labelled.element_spec[0])

    def cast(x, y):
        return {name: tf.cast(x[name], tf.int32) for name in names}, y

    total = num_labelled + num_unlabelled
    return tf.data.Dataset.sample_from_datasets(
        [labelled.map(cast).repeat(), unlabelled.map(cast).repeat()],
        weights=[num_labelled / total, num_unlabelled / total], seed=seed)


# -- the whole run ----------------------------------------------------------------------------

def distill(teacher, num_layers, train_data, eval_data=None, output_dir="runs/student",
            unlabeled_data=None, temperature=2.0, alpha=0.5, hidden_loss_weight=0.0,
            hidden_size=None, text_column="text", text_pair_column=None, label_column="label",
            encoding="utf-8", header="auto", batch_mode="bucket", verbose=1, **training):
    """Distil the model directory `teacher` into a `num_layers` student, write
    it to `output_dir` (a model directory, with `distill.json`: the teacher's
    and the student's dev metrics, the layer map and the settings) and return
    `{"student": metrics, "teacher": metrics, "layer_map": [...], ...}`.

    Data as `fine_tune` reads it for the teacher's task (`train_data`,
    `eval_data`, the columns); `unlabeled_data` (`read_unlabelled`) adds
    distillation-only rows. `training`: TrainingConfig fields (epochs,
    batch_size, learning_rate, warmup_ratio, weight_decay, clip_norm, seed).
    """
    from kerasbert.outputs import write_json
    from kerasbert.tasks.model_directory import (load_model_directory, read_task_config,
                                                 save_model_directory)
    from kerasbert.training.dev_report import write_dev_report
    from kerasbert.training.fine_tune import LABELS_FILE
    from kerasbert.training.task_data import read_task_data

    config = TrainingConfig(verbose=verbose, **training).validate()
    keras.utils.set_random_seed(config.seed)
    meta = read_task_config(teacher)
    if meta["task"] not in TASKS:
        raise ValueError(f"distillation covers the {', '.join(TASKS)} tasks, not "
                         f"{meta['task']!r}")
    if meta.get("text_pair") != (text_pair_column is not None):
        raise ValueError("the teacher reads text pairs: give the text pair column"
                         if meta.get("text_pair") else
                         "the teacher reads single texts: give no text pair column")
    teacher_model = load_model_directory(teacher)[0]  # LoRA teachers: the merged weights
    task = teacher_model.task_spec()
    labels = task.labels if task.label_type in ("categorical", "multi_label") else None
    if task.head == "sequence":  # NER: the teacher's tags, in its order
        from kerasbert.data.label_vocabulary import LabelVocabulary
        from kerasbert.training.inputs import read_tagged_sentences
        from kerasbert.training.tagging_data import TaggingData

        vocabulary = LabelVocabulary(task.labels)
        data = TaggingData(
            read_tagged_sentences(train_data, vocabulary, encoding=encoding),
            read_tagged_sentences(eval_data, vocabulary, encoding=encoding) if eval_data
            else None, vocabulary, meta["task"], **(meta.get("settings") or {}))
    else:
        data = read_task_data(meta["task"], train_data, eval_data, text_column=text_column,
                              text_pair_column=text_pair_column, label_column=label_column,
                              encoding=encoding, header=header, labels=labels,
                              task_settings=meta.get("settings") or None)
    student, chosen = make_student(teacher_model, num_layers, hidden_size, meta)
    tokenizer = teacher_model.preprocessor.tokenizer
    inputs = data.inputs(tokenizer, batch_size=config.batch_size, seed=config.seed,
                         batch_mode=batch_mode)
    labelled = inputs.train_dataset_fn(0, None)
    unlabelled, num_unlabelled = None, 0
    if unlabeled_data:
        if meta.get("settings", {}).get("case_markers"):
            raise ValueError("unlabelled data for an NER model with case markers is not "
                             "supported")
        texts, pairs = read_unlabelled(unlabeled_data, text_column, text_pair_column,
                                       encoding, header)
        num_unlabelled = len(texts)
        unlabelled = unlabelled_dataset(task, tokenizer, texts, pairs, labelled.element_spec[1],
                                        config.batch_size, config.seed)
    batches = mixed_batches(labelled, inputs.num_train, unlabelled, num_unlabelled, config.seed)
    steps = max(math.ceil((inputs.num_train + num_unlabelled) / config.batch_size), 1)
    if config.max_steps:
        steps = min(steps, config.max_steps)

    teacher_metrics = inputs.evaluate_fn(teacher_model) if inputs.evaluate_fn else {}
    distiller = Distiller(teacher_model, student, temperature, alpha, hidden_loss_weight, chosen)
    distiller.compile(learning_rate=config.learning_rate, warmup_ratio=config.warmup_ratio,
                      weight_decay=config.weight_decay, clip_norm=config.clip_norm)
    history = distiller.fit(batches, epochs=config.epochs, steps_per_epoch=steps,
                            verbose=config.verbose)
    student_metrics = inputs.evaluate_fn(student) if inputs.evaluate_fn else {}

    os.makedirs(output_dir, exist_ok=True)
    if data.vocabulary is not None:
        data.vocabulary.save(os.path.join(output_dir, LABELS_FILE))
    save_model_directory(output_dir, student, data.task, tokenizer, tokenizer.sequence_length,
                         text_pair_column is not None)
    if inputs.evaluate_fn:
        write_dev_report(output_dir, student, task, tokenizer, student_metrics, eval_data,
                         (text_column, text_pair_column, label_column), config.batch_size,
                         encoding, None, header)
    logs = history.history
    result = {"student": student_metrics, "teacher": teacher_metrics, "layer_map": chosen,
              "teacher_dir": os.path.abspath(str(teacher)), "num_layers": num_layers,
              "hidden_size": student.encoder.bert_config["hidden_size"],
              "temperature": temperature, "alpha": alpha,
              "hidden_loss_weight": hidden_loss_weight,
              "steps_per_epoch": steps, "epochs": config.epochs,
              "labelled_rows": int(logs["labelled_rows"][-1]),
              "unlabelled_rows": int(logs["unlabelled_rows"][-1]),
              "final_loss": float(logs["loss"][-1])}
    write_json(os.path.join(output_dir, DISTILL_FILE), result)
    return result
