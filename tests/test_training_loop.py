"""The training loop's options: several updates per compiled call, gradient
accumulation, clipping, float16 loss scaling, Keras callbacks, and evaluation
that scores every dev example once under every strategy.

Tiny encoders (2 layers, hidden 32, dropout off) on 128 real SST-2 sentences,
so that two runs that must agree can be compared to float rounding.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasbert import BertEncoder, BertTokenizer
from kerasbert.distribute.precision import precision_policy
from kerasbert.tasks import get_task
from kerasbert.tasks.keras_task import BertTask
from kerasbert.configs.training import TrainingConfig
from kerasbert.loop.counting import counting_examples
from kerasbert.training.predictions import predict_logits
from kerasbert.loop.trainer import Trainer, resolve_steps_per_loop

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
LENGTH = 32
TASK = get_task("classification", ["0", "1"])


@pytest.fixture(scope="module")
def sst2(test_data):
    """128 SST-2 sentences as `({token_ids, segment_ids, padding_mask}, labels)`;
    the labels are those of SST-2's train.tsv rows."""
    import csv

    with open(test_data / "glue" / "SST-2" / "train.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:129]
    tokenizer = BertTokenizer.from_preset("bert_tiny_en_uncased", sequence_length=LENGTH)
    features = {k: v.numpy() for k, v in tokenizer([r[0] for r in rows]).items()}
    return features, np.array([int(r[1]) for r in rows], "int32")


def _model_fn():
    return BertTask(BertEncoder(vocab_size=30522, **TINY), 2)


class _Recorder(keras.callbacks.Callback):
    """Records every hook the loop calls, with its index and logs' keys."""

    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin",))
        self.initial = [w.copy() for w in self.model.get_weights()]

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch))

    def on_test_end(self, logs=None):
        self.events.append(("test_end", logs["eval_examples"]))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, tuple(sorted(logs))))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))


def _train(data, output_dir, shuffle=True, callbacks=(), evaluate=True, **overrides):
    keras.utils.set_random_seed(3)
    config = TrainingConfig(**{"epochs": 2, "batch_size": 16, "learning_rate": 1e-3,
                               "verbose": 0, "checkpoint_every_steps": 0, **overrides})

    def dataset_fn(epoch, context):
        dataset = tf.data.Dataset.from_tensor_slices(data)
        if shuffle:
            dataset = dataset.shuffle(1000, seed=7 + epoch)
        return dataset.batch(context.get_per_replica_batch_size(config.batch_size),
                             drop_remainder=True)

    dev = tf.data.Dataset.from_tensor_slices((data[0], data[1])).take(37).batch(16)

    def evaluate_fn(model):
        return TASK.compute_metrics(*predict_logits(model, dev))

    trainer = Trainer(_model_fn, TASK, config, str(output_dir))
    trainer.fit(dataset_fn, len(data[1]) // config.batch_size,
                evaluate_fn if evaluate else None, callbacks=list(callbacks))
    return trainer


def test_steps_per_loop_gives_the_updates_of_one_per_call_and_drives_callbacks(sst2,
                                                                               tmp_path):
    one = _train(sst2, tmp_path / "one", steps_per_loop=1, eval_every_steps=3,
                 checkpoint_every_steps=5)
    recorder = _Recorder()
    many = _train(sst2, tmp_path / "many", steps_per_loop=4, eval_every_steps=3,
                  checkpoint_every_steps=5, callbacks=[recorder])
    assert many.steps_per_loop == 4 and int(many.state.step) == 16
    for a, b in zip(one.model.get_weights(), many.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert [h["step"] for h in many.history] == [h["step"] for h in one.history] \
        == [3, 6, 8, 9, 12, 15, 16]
    assert [h["accuracy"] for h in many.history] == [h["accuracy"] for h in one.history]
    # Every evaluation scored the 37 dev sentences (batches of 16, 16 and 5).
    assert [h["eval_examples"] for h in many.history] == [37] * 7
    # Loops stop at evaluations (every 3), checkpoints (every 5) and epoch ends (8):
    # updates 1-3, 4-5, 6, 7-8 | 9, 10, 11-12, 13-15, 16. One batch hook per loop,
    # with the index in the epoch of its last update.
    events = recorder.events
    assert [e[1] for e in events if e[0] == "batch_end"] == [2, 4, 5, 7, 0, 1, 3, 6, 7]
    checkpoints = tf.train.get_checkpoint_state(str(tmp_path / "many" / "checkpoints"))
    assert [int(p.rsplit("-", 1)[1]) for p in checkpoints.all_model_checkpoint_paths] == [15, 16]
    # Keras' hooks in Keras' order, the dev metrics as val_<metric> at each epoch's end.
    assert events[0] == ("train_begin",) and events[-1] == ("train_end",)
    assert [e for e in events if e[0] == "epoch_begin"] == [("epoch_begin", 0),
                                                            ("epoch_begin", 1)]
    ends = [e for e in events if e[0] == "epoch_end"]
    assert [e[1] for e in ends] == [0, 1]
    assert all({"loss", "val_accuracy", "val_eval_examples"} <= set(e[2]) for e in ends)
    assert [e[1] for e in events if e[0] == "test_end"] == [37] * 7


def _first_update(sst2, output_dir, **overrides):
    """(initial weights, {path: update}) of one update on the first 16 sentences."""
    recorder = _Recorder()
    trainer = _train(sst2, output_dir, shuffle=False, callbacks=[recorder], evaluate=False,
                     max_steps=1, warmup_ratio=0.0, weight_decay=0.0, **overrides)
    index = {id(v): i for i, v in enumerate(trainer.model.weights)}
    return recorder.initial, {v.path: v.numpy() - recorder.initial[index[id(v)]]
                              for v in trainer.model.trainable_variables}


def test_gradient_accumulation_makes_the_update_of_the_large_batch(sst2, tmp_path):
    _, large = _first_update(sst2, tmp_path / "large", clip_norm=0.0)
    _, chunked = _first_update(sst2, tmp_path / "chunked", clip_norm=0.0,
                               gradient_accumulation_steps=4)
    assert max(np.abs(u).max() for u in large.values()) > 5e-4  # Adam's first step: ~lr
    for name, update in large.items():
        np.testing.assert_allclose(chunked[name], update, atol=1e-6, err_msg=name)


def test_clip_norm_clips_the_global_gradient_norm(sst2, tmp_path):
    """Keras' Adam moves a weight by `-lr * g / (|g| + eps / sqrt(1 - beta_2))`
    on its first update (about lr wherever |g| is well above 3e-5): with the
    gradient clipped to a global norm of 1e-5, every update follows the
    clipped gradient's own size."""
    lr, clip, beta_2 = 1e-3, 1e-5, 0.999
    initial, clipped = _first_update(sst2, tmp_path, learning_rate=lr, clip_norm=clip)
    features = {k: v[:16] for k, v in sst2[0].items()}
    model = _model_fn()
    model(features)
    model.set_weights(initial)
    with tf.GradientTape() as tape:
        loss, count = TASK.loss(sst2[1][:16], model(features, training=True))
        loss = loss / count
    grads = tape.gradient(loss, model.trainable_variables)
    norm = float(tf.linalg.global_norm(grads))
    assert norm > 100 * clip, "the test needs a gradient far above the clip norm"
    eps = 1e-6 / np.sqrt(1 - beta_2)  # create_optimizer's epsilon, as Adam applies it
    for variable, grad in zip(model.trainable_variables, grads):
        g = tf.convert_to_tensor(grad).numpy() * clip / norm
        expected = -lr * g / (np.abs(g) + eps)
        # atol: twice the float32 spacing of the weights, which the updates are
        # read through (1e-10 at least: the key biases' gradient is 0 up to
        # rounding); rtol 3%: the compiled step's gradient of position 0 (the sum
        # over every sequence) is 2% off this eager tape's, every other weight
        # 0.1%. Unclipped, the updates would be 30-100x larger than these.
        spacing = float(np.spacing(np.abs(variable.numpy()).max().astype("float32")))
        np.testing.assert_allclose(clipped[variable.path], expected, rtol=3e-2,
                                   atol=max(2 * spacing, 1e-10), err_msg=variable.path)
    # Unclipped, Adam's first update is about lr on every weight with a gradient.
    largest = max(np.abs(u).max() for u in clipped.values())
    assert 1e-5 < largest < 0.3 * lr


def test_float16_loss_scaling_skips_overflowing_updates_and_callbacks_stop(sst2, tmp_path):
    start_scale = 2.0 ** 40

    class HugeScale(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            trainer.optimizer.dynamic_scale.assign(start_scale)
            self.initial = [w.copy() for w in self.model.get_weights()]

        def on_epoch_end(self, epoch, logs=None):
            logs["rising"] = float(epoch)  # for Keras' EarlyStopping below

    # Keras' own EarlyStopping stops through model.stop_training: with patience 3
    # on a value that only rises, after the 4th epoch of 6.
    stopper = keras.callbacks.EarlyStopping(monitor="rising", patience=3, mode="min")
    with precision_policy("mixed_float16"):
        keras.utils.set_random_seed(3)
        config = TrainingConfig(epochs=6, batch_size=16, learning_rate=1e-3, verbose=0,
                                checkpoint_every_steps=0, steps_per_loop=8)
        trainer = Trainer(_model_fn, TASK, config, str(tmp_path))
        hook = HugeScale()
        trainer.fit(lambda epoch, context: tf.data.Dataset.from_tensor_slices(sst2).batch(
            16, drop_remainder=True), 8, callbacks=[hook, stopper])
    assert stopper.stopped_epoch == 3 and int(trainer.state.step) == 32
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    skipped = math.log2(start_scale / float(trainer.optimizer.dynamic_scale))
    assert skipped == int(skipped) and 1 <= skipped < 32
    # Skipped updates leave the weights and the schedule's counter alone.
    assert int(trainer.optimizer.iterations) == 32 - int(skipped)
    weights = trainer.model.get_weights()
    assert all(np.isfinite(w).all() for w in weights)
    assert max(float(np.abs(w - w0).max()) for w, w0 in zip(weights, hook.initial)) > 1e-4


def test_default_steps_per_loop_follows_the_device():
    assert resolve_steps_per_loop(0) == 1  # these tests run on the CPU
    assert resolve_steps_per_loop(7) == 7
    with pytest.raises(ValueError, match="steps_per_loop must be >= 0"):
        TrainingConfig(steps_per_loop=-1).validate()


def test_prediction_scores_every_example_once(sst2):
    keras.utils.set_random_seed(3)
    model = _model_fn()
    features = {k: v[:37] for k, v in sst2[0].items()}
    expected = model(features).numpy()
    dev = tf.data.Dataset.from_tensor_slices((features, sst2[1][:37])).batch(8)
    with counting_examples() as counter:
        logits, labels = predict_logits(model, dev)
    assert counter.count == 37
    np.testing.assert_array_equal(labels, sst2[1][:37])
    np.testing.assert_allclose(logits, expected, atol=1e-5)


_REPLICAS_SCRIPT = textwrap.dedent(r"""
    import contextlib, json, sys
    from kerasbert.distribute import resolve_strategy
    kind = sys.argv[1]
    if kind == "mirrored":
        strategy = resolve_strategy(cpu_replicas=2, jit_compile="false").strategy
    else:
        import tensorflow as tf
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras, numpy as np, tensorflow as tf
    from kerasbert import BertEncoder
    from kerasbert.tasks import get_task
    from kerasbert.tasks.keras_task import BertTask
    from kerasbert.configs.training import TrainingConfig
    from kerasbert.training.predictions import predict_logits
    from kerasbert.loop.trainer import Trainer

    TINY = dict(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0)
    rng = np.random.default_rng(0)
    features = {"token_ids": rng.integers(1, 200, (67, 16)).astype("int32"),
                "segment_ids": np.zeros((67, 16), "int32"),
                "padding_mask": (np.arange(16) < rng.integers(4, 17, (67, 1))).astype("int32")}
    labels = rng.integers(0, 2, 67).astype("int32")
    task = get_task("classification", ["0", "1"])
    dev = tf.data.Dataset.from_tensor_slices((features, labels)).batch(10)  # 6 of 10 and 7
    scored = []

    def evaluate_fn(model):
        logits, dev_labels = predict_logits(model, dev)
        scored.append((logits, dev_labels))
        return task.compute_metrics(logits, dev_labels)

    class Hooks(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.events = []
        def on_epoch_end(self, epoch, logs=None):
            self.events.append(["epoch_end", epoch, sorted(logs)])
        def on_train_batch_end(self, batch, logs=None):
            self.events.append(["batch_end", batch])

    result = {"replicas": strategy.num_replicas_in_sync}
    steps_per_loop = 3
    keras.utils.set_random_seed(3)
    config = TrainingConfig(epochs=2, batch_size=8, learning_rate=1e-3, verbose=0,
                            checkpoint_every_steps=0, steps_per_loop=steps_per_loop,
                            restore_best=False)  # the last evaluation's weights
    trainer = Trainer(lambda: BertTask(BertEncoder(**TINY), 2), task, config,
                      sys.argv[2] + f"/run{steps_per_loop}", strategy)
    hooks = Hooks()
    data = tf.data.Dataset.from_tensor_slices((features, labels)).take(64)
    trainer.fit(lambda epoch, ctx: data.batch(ctx.get_per_replica_batch_size(8),
                drop_remainder=True), 8, evaluate_fn, callbacks=[hooks])
    logits, dev_labels = scored[-1]
    direct = trainer.model(features).numpy()
    result[steps_per_loop] = {
        "weights": [w.tolist() for w in trainer.model.get_weights()[-2:]],
        "eval_examples": [h["eval_examples"] for h in trainer.history],
        "scored": len(logits), "labels_match": bool((dev_labels == labels).all()),
        "logits_error": float(np.abs(logits - direct).max()), "events": hooks.events}

    # The Keras API's fit (the same loop) under this strategy and under none.
    from kerasbert import BertClassifier

    def keras_fit(scope):
        keras.utils.set_random_seed(5)
        with scope:
            model = BertClassifier(BertEncoder(**TINY), 2)
            model.compile(learning_rate=1e-3)
        rows = {name: value[:64] for name, value in features.items()}  # 8 whole batches
        history = model.fit(rows, labels[:64], batch_size=8, epochs=2, shuffle=False, verbose=0)
        return history.history["loss"], model.get_weights()[-1].tolist()

    result["keras_fit"] = {"strategy": keras_fit(strategy.scope()),
                           "default": keras_fit(contextlib.nullcontext())}
    print("RESULT " + json.dumps(result))
""")


@pytest.fixture(scope="module")
def replica_runs(tmp_path_factory):
    """The script above under MirroredStrategy over 2 CPUs and under a
    (one-worker) MultiWorkerMirroredStrategy, both at once."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    processes = {kind: subprocess.Popen(
        [sys.executable, "-c", _REPLICAS_SCRIPT, kind, str(tmp_path_factory.mktemp(kind))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for kind in ("mirrored", "multi_worker")}
    results = {}
    for kind, process in processes.items():
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        line = [l for l in out.splitlines() if l.startswith("RESULT ")][-1]
        results[kind] = json.loads(line[len("RESULT "):])
    return results


@pytest.mark.parametrize("kind", ["mirrored", "multi_worker"])
def test_replicas_evaluate_every_example_once_and_drive_callbacks(replica_runs, kind):
    result = replica_runs[kind]
    assert result["replicas"] == (2 if kind == "mirrored" else 1)
    run = result["3"]
    # 67 dev rows in batches of 10 and one of 7 (padded to 8 for 2 replicas).
    assert run["scored"] == 67 and run["labels_match"]
    assert run["eval_examples"] == [67, 67]
    assert run["logits_error"] < 1e-5
    # 8 updates per epoch: loops of 3, 3, 2, one batch hook each; Keras' epoch hooks.
    assert [e[1] for e in run["events"] if e[0] == "batch_end"] == [2, 5, 7] * 2
    ends = [e for e in run["events"] if e[0] == "epoch_end"]
    assert [e[1] for e in ends] == [0, 1]
    assert all({"loss", "val_accuracy", "val_eval_examples"} <= set(e[2]) for e in ends)


@pytest.mark.parametrize("kind", ["mirrored", "multi_worker"])
def test_keras_fit_runs_the_loop_under_the_strategy(replica_runs, kind):
    """A Keras task model's fit under MirroredStrategy (2 replicas) and
    MultiWorkerMirroredStrategy (where Keras' own fit fails, keras#20585)
    makes the updates of fit without a strategy: the same losses and weights."""
    runs = replica_runs[kind]["keras_fit"]
    (losses, bias), (plain_losses, plain_bias) = runs["strategy"], runs["default"]
    assert len(losses) == 2 and losses[1] < losses[0]
    np.testing.assert_allclose(losses, plain_losses, rtol=1e-5)
    np.testing.assert_allclose(bias, plain_bias, atol=1e-6)
