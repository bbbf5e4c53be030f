"""Every task's train step compiles with XLA on static shapes; dynamic ones are refused.

TPUs run only XLA programs, and each new input shape is a new program, so
the Trainer's step must compile with `jit_compile=True` for every task and
the Trainer must reject batches whose shapes are not fully known.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasbert import BertEncoder, BertTokenizer
from kerasbert.tasks import TASK_NAMES, get_task
from kerasbert.tasks.keras_task import BertTask
from kerasbert.configs.training import TrainingConfig
from kerasbert.loop.trainer import Trainer
from tests.reference import sst2_sentences

BATCH, LENGTH = 8, 32
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64)


def _labels(task, count, rng):
    """Labels of `task` for `count` examples, in the layout its loss takes."""
    if task.name == "classification":
        return rng.integers(0, task.num_outputs, count).astype("int32")
    if task.name == "regression":
        return rng.uniform(0, 5, count).astype("float32")
    if task.name == "multilabel":
        return rng.integers(0, 2, (count, task.num_outputs)).astype("float32")
    if task.name == "ner":
        return rng.integers(-1, task.num_outputs, (count, LENGTH)).astype("int32")
    if task.name == "qa":
        return {name: rng.integers(0, LENGTH, count).astype("int32")
                for name in ("start_positions", "end_positions")}
    raise AssertionError(f"no labels for task {task.name}: add them to this test")


_LABEL_NAMES = {"classification": ["neg", "pos"], "regression": None,
                "multilabel": ["a", "b", "c"], "ner": ["O", "B-PER", "I-PER"], "qa": None}


@pytest.fixture(scope="module")
def features(test_data):
    tokenizer = BertTokenizer.from_preset("bert_tiny_en_uncased", sequence_length=LENGTH)
    return {k: v.numpy() for k, v in tokenizer(sst2_sentences(test_data)[:4 * BATCH]).items()}


def _trainer(task, tmp_path, vocabulary_size, jit_compile=True):
    config = TrainingConfig(epochs=1, batch_size=BATCH, learning_rate=1e-3, max_steps=3,
                            verbose=0, checkpoint_every_steps=0, steps_per_loop=1)

    def model_fn():  # the same initial weights every time; no dropout, whose random
        keras.utils.set_random_seed(3)  # masks differ with and without XLA
        return BertTask(BertEncoder(vocab_size=vocabulary_size, hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0, **TINY),
                             task.num_outputs, head=task.head)

    return Trainer(model_fn, task, config, str(tmp_path), jit_compile=jit_compile)


class _Losses(keras.callbacks.Callback):
    """The losses the Trainer reports after each loop (of one update)."""

    def on_train_begin(self, logs=None):
        self.values = []

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(logs["loss"])


@pytest.mark.parametrize("name", TASK_NAMES)
def test_train_step_compiles_with_xla_on_static_shapes(name, features, tmp_path):
    task = get_task(name, _LABEL_NAMES.get(name))
    labels = _labels(task, len(features["token_ids"]), np.random.default_rng(0))

    def dataset_fn(epoch, context):
        return tf.data.Dataset.from_tensor_slices((features, labels)).batch(
            BATCH, drop_remainder=True)

    # The XLA step computes the step without XLA: the same losses and updated
    # weights from the same initial weights and batches, up to float rounding.
    runs = {}
    for jit_compile in (True, False):
        trainer = _trainer(task, tmp_path / f"jit_{jit_compile}", 30522, jit_compile)
        losses = _Losses()
        trainer.fit(dataset_fn, steps_per_epoch=3, callbacks=[losses])
        assert int(trainer.state.step) == 3 and len(losses.values) == 3
        runs[jit_compile] = losses.values, trainer.model.get_weights()
    (xla_losses, xla_weights), (losses, weights) = runs[True], runs[False]
    np.testing.assert_allclose(xla_losses, losses, rtol=1e-4)
    assert len(xla_weights) == len(weights)
    for xla_weight, weight in zip(xla_weights, weights):
        np.testing.assert_allclose(xla_weight, weight, rtol=0, atol=2e-4)


def test_dynamic_shapes_are_refused_before_training(features, tmp_path):
    task = get_task("classification", ["neg", "pos"])
    labels = np.zeros(len(features["token_ids"]), "int32")

    def dataset_fn(epoch, context):  # no drop_remainder and no fixed length: dynamic
        dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(BATCH)
        return dataset.map(lambda f, y: ({k: v[:, : tf.reduce_max(tf.reduce_sum(
            f["padding_mask"], 1))] for k, v in f.items()}, y))

    trainer = _trainer(task, tmp_path, 30522)
    with pytest.raises(ValueError, match=r"feature 'features/token_ids' has dynamic shape"):
        trainer.fit(dataset_fn, steps_per_epoch=3)
