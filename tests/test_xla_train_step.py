"""Every task's train step compiles with XLA on static shapes; dynamic ones are refused.

TPUs run only XLA programs, and each new input shape is a new program, so
the Trainer's step must compile with `jit_compile=True` for every task and
the Trainer must reject batches whose shapes are not fully known.
"""

import numpy as np
import pytest
import tensorflow as tf

from kerasbert import BertEncoder, BertTokenizer
from kerasbert.tasks import TASK_NAMES, get_task
from kerasbert.tasks.heads import BertTaskModel
from kerasbert.training.config import TrainingConfig
from kerasbert.training.trainer import Trainer
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
def features(shared_data):
    tokenizer = BertTokenizer.from_preset("bert_tiny_en_uncased", sequence_length=LENGTH)
    return {k: v.numpy() for k, v in tokenizer(sst2_sentences(shared_data)[:4 * BATCH]).items()}


def _trainer(task, tmp_path, vocabulary_size):
    config = TrainingConfig(epochs=1, batch_size=BATCH, learning_rate=1e-3, max_steps=3,
                            verbose=0, checkpoint_every_steps=0)
    return Trainer(lambda: BertTaskModel(BertEncoder(vocab_size=vocabulary_size, **TINY),
                                         task.num_outputs, head=task.head),
                   task, config, str(tmp_path), jit_compile=True)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_train_step_compiles_with_xla_on_static_shapes(name, features, tmp_path):
    task = get_task(name, _LABEL_NAMES.get(name))
    labels = _labels(task, len(features["token_ids"]), np.random.default_rng(0))

    def dataset_fn(epoch, context):
        return tf.data.Dataset.from_tensor_slices((features, labels)).batch(
            BATCH, drop_remainder=True)

    trainer = _trainer(task, tmp_path, 30522)
    trainer.fit(dataset_fn, steps_per_epoch=3)
    assert int(trainer.state.step) == 3
    assert all(np.isfinite(w).all() for w in trainer.model.get_weights())


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
