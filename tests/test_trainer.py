"""The training loop: the BERT recipe, resume, early stopping, replicas."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from transformers import BertTokenizerFast

from kerasbert import BertEncoder
from kerasbert.checkpoints.sources import vocabulary_file
from kerasbert.tasks.keras_task import BertTask
from kerasbert.tasks.task import Task, masked_sum
from kerasbert.loop.callbacks import BestWeights, EarlyStopping, EvalHistory, TensorBoard
from kerasbert.configs.training import TrainingConfig
from kerasbert.optimization import WarmupLinearDecay, create_optimizer, layer_depth
from kerasbert.loop.trainer import Trainer

TINY = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=64)


class _Sentiment(Task):
    name, main_metric = "classification", "accuracy"

    def loss(self, labels, logits):
        per = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.maximum(labels, 0), logits)
        return masked_sum(per, labels >= 0)


@pytest.fixture(scope="module")
def sst2_slice(test_data):
    """128 real SST-2 train sentences, tokenized to 32 tokens (HF tokenizer as a
    stand-in source of ids: this file tests the loop, not the tokenizer)."""
    import csv

    with open(test_data / "glue" / "SST-2" / "train.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:129]
    tokenizer = BertTokenizerFast(vocab=str(vocabulary_file("all_minilm_l6_v2")))
    batch = tokenizer([r[0] for r in rows], padding="max_length", max_length=32,
                      truncation=True, return_tensors="np")
    features = {"token_ids": batch["input_ids"].astype("int32"),
                "segment_ids": batch["token_type_ids"].astype("int32"),
                "padding_mask": batch["attention_mask"].astype("int32")}
    return features, np.array([int(r[1]) for r in rows], "int32")


def _dataset_fn(data, global_batch):
    def fn(epoch, ctx):
        ds = tf.data.Dataset.from_tensor_slices(data).shuffle(1000, seed=7 + epoch)
        ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return ds.batch(ctx.get_per_replica_batch_size(global_batch), drop_remainder=True)
    return fn


class _Killed(Exception):
    pass


def _train(data, output_dir, strategy=None, kill_at=None, scripted=None, callbacks=None,
           **overrides):
    """Train a tiny classifier; `kill_at=N` dies (like kill -9, without any
    clean-up) when update N finishes; `scripted` (a list) makes the i-th
    evaluation report accuracy `scripted[i]` instead of measuring it;
    `callbacks` go to `Trainer.fit`."""
    tf.keras.utils.set_random_seed(3)
    config = TrainingConfig(**{"epochs": 2, "batch_size": 16, "learning_rate": 1e-3,
                               "verbose": 0, "eval_every_steps": 1, **overrides})

    def evaluate(model):
        if kill_at is not None and trainer.state.step == kill_at:
            raise _Killed()
        if scripted is not None:
            return {"accuracy": scripted[len(trainer.history)]}
        logits = model.predict(data[0], verbose=0)
        return {"accuracy": float((logits.argmax(-1) == data[1]).mean())}

    def model_fn():
        return BertTask(BertEncoder(**TINY, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), 2)

    trainer = Trainer(model_fn, _Sentiment(["0", "1"]), config, str(output_dir), strategy)
    trainer.fit(_dataset_fn(data, config.batch_size), len(data[1]) // config.batch_size, evaluate,
                callbacks)
    return trainer


def test_schedule_warms_up_then_decays_to_zero():
    schedule = WarmupLinearDecay(1e-4, total_steps=100, warmup_steps=10)
    values = [float(schedule(s)) for s in (0, 5, 10, 55, 100, 120)]
    np.testing.assert_allclose(values, [0, 5e-5, 1e-4, 5e-5, 0, 0], atol=1e-12)


def test_weight_decay_skips_layer_norm_and_bias():
    encoder = BertEncoder(**TINY)
    optimizer = create_optimizer(1e-3, 10)
    optimizer.build(encoder.trainable_variables)
    decayed = {v.path for v in encoder.trainable_variables if optimizer._use_weight_decay(v)}
    assert "transformer_layer_0/attention/query/kernel" in decayed
    assert not any(p.endswith(("bias", "gamma", "beta")) for p in decayed)


def test_layer_depths_order_embeddings_layers_head():
    assert layer_depth("embeddings/word_embeddings/embeddings", 2) == 0
    assert layer_depth("transformer_layer_1/output/kernel", 2) == 2
    assert layer_depth("logits/kernel", 2) == 3


def test_layer_decay_scales_each_layers_update_inside_a_compiled_step():
    model = BertTask(BertEncoder(**TINY), 2)
    variables = model.trainable_variables
    optimizer = create_optimizer(1e-3, 10, warmup_ratio=0.0, weight_decay=0.0,
                                 layer_decay=0.5, num_layers=2)
    optimizer.build(variables)
    before = [v.numpy().copy() for v in variables]
    step = tf.function(lambda: optimizer.apply([tf.ones_like(v) for v in variables], variables))
    step()
    # Adam's first update moves each weight by its learning rate (gradients of ones):
    # 1e-3 at the head, halved per layer down to the embeddings.
    for variable, old in zip(variables, before):
        expected = 1e-3 * 0.5 ** (3 - layer_depth(variable.path, 2))
        np.testing.assert_allclose(old - variable.numpy(), expected, rtol=1e-3,
                                   err_msg=variable.path)


def test_resume_after_a_crash_ends_like_an_uninterrupted_run(sst2_slice, tmp_path):
    full = _train(sst2_slice, tmp_path / "full", checkpoint_every_steps=3, restore_best=False)
    with pytest.raises(_Killed):
        _train(sst2_slice, tmp_path / "resumed", checkpoint_every_steps=3, kill_at=11)
    # The last checkpoint is update 9: the new run replays 10.. with the same data and masks.
    resumed = _train(sst2_slice, tmp_path / "resumed", checkpoint_every_steps=3,
                     restore_best=False)
    assert int(resumed.state.step) == int(full.state.step) == 16
    for a, b in zip(full.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_best_weights_are_restored(sst2_slice, tmp_path):
    trainer = _train(sst2_slice, tmp_path, epochs=3, learning_rate=1e-2)
    accuracies = [h["accuracy"] for h in trainer.history]
    assert len(set(accuracies)) > 1, "the test needs evaluations that differ"
    logits = trainer.model.predict(sst2_slice[0], verbose=0)
    assert float((logits.argmax(-1) == sst2_slice[1]).mean()) == max(accuracies)


def test_early_stopping_stops(sst2_slice, tmp_path):
    # One evaluation per update (3 epochs of 8 allow 24). With patience 2: 0.5 and
    # 0.6 improve, 0.4 does not (1 bad), 0.7 improves (the count restarts), 0.7
    # again is no improvement (1), 0.65 neither (2): training stops after the
    # 6th evaluation, at update 6, and never reads the rest of the script.
    scripted = [0.5, 0.6, 0.4, 0.7, 0.7, 0.65] + [0.9] * 18
    trainer = _train(sst2_slice, tmp_path, early_stopping_patience=2, epochs=3,
                     scripted=scripted)
    assert [h["step"] for h in trainer.history] == [1, 2, 3, 4, 5, 6]
    assert [h["accuracy"] for h in trainer.history] == scripted[:6]
    assert int(trainer.state.step) == 6
    assert int(trainer.state.bad_evals) == 2
    assert float(trainer.state.best_metric) == 0.7


def test_early_stopping_is_a_keras_callback_that_a_user_can_replace(sst2_slice, tmp_path):
    # Alone, on Keras' hook sequence, it stops through model.stop_training at
    # the same evaluation as the trainer's (the script of the test above).
    scripted = [0.5, 0.6, 0.4, 0.7, 0.7, 0.65] + [0.9] * 18
    model = keras.Sequential()
    callbacks = keras.callbacks.CallbackList([EarlyStopping("accuracy", 2, verbose=0)],
                                             model=model)
    model.stop_training = False
    callbacks.on_train_begin()
    stops = []
    for accuracy in scripted[:6]:
        callbacks.on_test_begin()
        callbacks.on_test_end({"accuracy": accuracy})
        stops.append(model.stop_training)
    assert stops == [False] * 5 + [True]
    # The trainer's own callbacks come first; with its early stopping off, the
    # user's stops the run instead.
    # Keras' own TensorBoard, writing every batch, runs beside them.
    board = keras.callbacks.TensorBoard(str(tmp_path / "user_logs"), update_freq="batch")
    trainer = _train(sst2_slice, tmp_path, epochs=3, scripted=scripted,
                     callbacks=[EarlyStopping("accuracy", 2, verbose=0), board])
    assert [type(c) for c in trainer.callbacks.callbacks] == [
        TensorBoard, EvalHistory, BestWeights, EarlyStopping, EarlyStopping,
        keras.callbacks.TensorBoard]
    assert int(trainer.state.step) == 6 and int(trainer.state.bad_evals) == 2
    assert (tmp_path / "best.weights.safetensors").exists()
    assert list((tmp_path / "user_logs" / "train").glob("events.out.tfevents.*"))


def test_training_time_budget_stops_and_evaluates(sst2_slice, tmp_path):
    trainer = _train(sst2_slice, tmp_path, epochs=50, eval_every_steps=0, max_train_seconds=1.0)
    steps = int(trainer.state.step)
    assert 1 <= steps < 50 * 8
    assert trainer.train_seconds >= 1.0
    assert trainer.history[-1]["step"] == steps


def test_each_epoch_ends_with_an_evaluation_when_n_does_not_divide_it(sst2_slice, tmp_path):
    trainer = _train(sst2_slice, tmp_path, epochs=2, eval_every_steps=3)
    # 8 updates per epoch: every 3rd update, plus updates 8 and 16 that end the epochs.
    assert [h["step"] for h in trainer.history] == [3, 6, 8, 9, 12, 15, 16]


def test_mean_pooling_head_reads_the_mean_of_the_real_tokens(sst2_slice):
    features = {k: v[:4] for k, v in sst2_slice[0].items()}
    encoder = BertEncoder(**TINY)
    model = BertTask(encoder, 2, pooling="mean", dropout=0.0)
    assert not encoder.pooler.trainable
    sequence = encoder(features)["sequence_output"].numpy()
    mask = features["padding_mask"][:, :, None]
    mean = (sequence * mask).sum(1) / mask.sum(1)
    dense = model.get_layer("logits")
    expected = mean @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(model(features).numpy(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="pooling"):
        BertTask(encoder, 2, pooling="max")
