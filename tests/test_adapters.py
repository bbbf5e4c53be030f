"""LoRA adapters: what trains, the adapter file, and a bank that switches users."""

import numpy as np
import pytest
import tensorflow as tf

from kerasbert import BertEncoder, BertTokenizer
from kerasbert.adapters.adapter_bank import AdapterBank
from kerasbert.adapters.lora import enable_lora, read_adapter, save_adapter
from kerasbert.tasks import get_task
from kerasbert.tasks.keras_task import BertTask
from kerasbert.tasks.model_directory import load_model_directory, save_model_directory
from kerasbert.configs.training import TrainingConfig
from kerasbert.loop.trainer import Trainer

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
LENGTH = 32


def _base_encoder():
    """The same 'pretrained' base every time (fixed seed), as a bank would reload it."""
    tf.keras.utils.set_random_seed(11)
    return BertEncoder(**TINY)


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.from_preset("bert_tiny_en_uncased", sequence_length=LENGTH)


@pytest.fixture(scope="module")
def sst2(test_data, tokenizer):
    import csv

    with open(test_data / "glue" / "SST-2" / "train.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:129]
    features = {k: v.numpy() for k, v in tokenizer([r[0] for r in rows]).items()}
    return features, np.array([int(r[1]) for r in rows], "int32")


def _train_user(sst2, tmp_path, rank, seed, feed_forward=False, pooling="cls"):
    """Fine-tune LoRA adapters for one user; returns (model, settings, base weights before)."""
    features, labels = sst2
    task = get_task("classification", ["negative", "positive"])
    holder = {}

    def model_fn():
        model = BertTask(_base_encoder(), 2, pooling=pooling)
        holder["settings"] = enable_lora(model, rank, feed_forward=feed_forward)
        holder["base"] = {v.path: v.numpy() for v in model.encoder.variables}
        return model

    tf.keras.utils.set_random_seed(seed)
    config = TrainingConfig(epochs=2, batch_size=16, learning_rate=5e-3, verbose=0, seed=seed,
                            checkpoint_every_steps=0)
    trainer = Trainer(model_fn, task, config, str(tmp_path))
    data = tf.data.Dataset.from_tensor_slices((features, labels))
    trainer.fit(lambda epoch, ctx: data.shuffle(128, seed=seed + epoch).batch(16), 8)
    return trainer.model, holder["settings"], holder["base"]


def test_only_adapters_and_head_train(sst2, tmp_path):
    model, settings, base = _train_user(sst2, tmp_path, rank=4, seed=1)
    names = sorted(v.path for v in model.trainable_variables)
    expected = sorted([f"{prefix}/lora_kernel_{ab}" for prefix in
                       [f"transformer_layer_{i}/attention/{p}" for i in range(2)
                        for p in ("query", "key", "value", "output")] for ab in "ab"]
                      + ["logits/kernel", "logits/bias"])
    assert names == expected, names
    assert settings == {"rank": 4, "alpha": 4, "feed_forward": False, "pooling": "cls"}
    # The frozen base (biases and layer norms included) did not move; the adapters did.
    for variable in model.encoder.variables:
        if variable.path in base and "lora" not in variable.path:
            np.testing.assert_array_equal(variable.numpy(), base[variable.path],
                                          err_msg=variable.path)
    moved = [v for v in model.encoder.variables if "lora_kernel_b" in v.path]
    assert all(np.abs(v.numpy()).max() > 0 for v in moved)  # b starts at zero


def test_feed_forward_adapters_are_optional(sst2, tmp_path):
    model = BertTask(_base_encoder(), 2)
    enable_lora(model, 2, feed_forward=True)
    names = {v.path for v in model.trainable_variables}
    assert "transformer_layer_1/intermediate/lora_kernel_a" in names
    assert "transformer_layer_1/output/lora_kernel_b" in names


def test_adapter_file_round_trips_and_is_small(tmp_path):
    minilm = BertTask(BertEncoder.from_preset("all_minilm_l6_v2"), 2)
    full_bytes = sum(v.numpy().nbytes for v in minilm.variables)
    settings = enable_lora(minilm, 8)
    # Distinct random values in every matrix (lora_b starts at zero), so that the
    # file must hold each one's own values under its own name.
    from kerasbert.adapters.lora import adapter_variables, assign_adapter

    rng = np.random.default_rng(5)
    values = {}
    for name, variable in adapter_variables(minilm).items():
        values[name] = rng.normal(size=variable.shape).astype("float32")
        variable.assign(values[name])
    path = tmp_path / "user.safetensors"
    save_adapter(minilm, str(path), settings)
    arrays, read_settings = read_adapter(str(path))
    assert read_settings == settings
    assert len(arrays) == 6 * 4 * 2 + 2 and arrays.keys() == values.keys()
    for name, value in values.items():
        np.testing.assert_array_equal(arrays[name], value, err_msg=name)
    # ... and loading the file back sets the model's variables to them.
    for variable in adapter_variables(minilm).values():
        variable.assign(np.zeros(variable.shape, "float32"))
    assign_adapter(minilm, arrays, str(path))
    for name, variable in adapter_variables(minilm).items():
        np.testing.assert_array_equal(variable.numpy(), values[name], err_msg=name)
    ratio = path.stat().st_size / full_bytes
    assert ratio < 0.01, f"adapter is {ratio:.2%} of the model"
    print(f"MiniLM-L6 rank-8 attention adapter: {path.stat().st_size} bytes, "
          f"{ratio:.3%} of the model's {full_bytes} bytes")


def test_bank_switches_users_like_their_merged_models(sst2, tokenizer, tmp_path):
    task = get_task("classification", ["negative", "positive"])
    texts = ["a gripping , funny film", "dull and far too long", "the cast is wonderful"]
    bank = AdapterBank(_base_encoder, tokenizer)
    merged = {}
    # carol's head reads the mean of the token vectors: the bank must rebuild that.
    for user, seed, pooling in (("alice", 1, "cls"), ("bob", 2, "cls"), ("carol", 3, "mean")):
        model, settings, _ = _train_user(sst2, tmp_path / user, rank=4, seed=seed,
                                         pooling=pooling)
        save_adapter(model, str(tmp_path / f"{user}.safetensors"), settings)
        bank.add(user, str(tmp_path / f"{user}.safetensors"))
        # A LoRA model saves as its merged weights: a plain model directory.
        save_model_directory(str(tmp_path / f"{user}_merged"), model, task, tokenizer, LENGTH,
                             False)
        plain, _, _, _ = load_model_directory(str(tmp_path / f"{user}_merged"))
        assert not any("lora" in v.path for v in plain.variables)
        merged[user] = plain(tokenizer(texts), training=False).numpy()
    assert np.abs(merged["alice"] - merged["bob"]).max() > 1e-3, "users must differ"
    for user in ("alice", "bob", "carol", "alice", "bob", "carol"):
        np.testing.assert_allclose(bank.predict_logits(user, texts), merged[user], atol=1e-5)
    assert len(bank._models) == 2, "one model serves both users with the same settings"
    with pytest.raises(KeyError, match="no adapter for user 'dave'"):
        bank.predict_logits("dave", texts)


def test_mismatched_adapter_is_refused_before_any_change():
    from kerasbert.adapters.lora import adapter_variables, assign_adapter
    from kerasbert.checkpoints.assign import CheckpointMismatchError

    model = BertTask(_base_encoder(), 2)
    enable_lora(model, 2)
    before = {name: v.numpy() for name, v in adapter_variables(model).items()}
    arrays = {name: np.ones_like(value) for name, value in before.items()}
    arrays["layer_0/attention/query/lora_a"] = np.ones((32, 4), "float32")  # rank 4, not 2
    del arrays["layer_1/attention/key/lora_b"]
    arrays["layer_0/feed_forward/output/lora_a"] = np.ones((64, 2), "float32")
    with pytest.raises(CheckpointMismatchError) as err:
        assign_adapter(model, arrays, path="user 'erin'")
    message = str(err.value)
    assert "adapter user 'erin'" in message
    assert "missing: layer_1/attention/key/lora_b (model shape (2, 32))" in message
    assert "unexpected: layer_0/feed_forward/output/lora_a" in message
    assert ("shape mismatch: layer_0/attention/query/lora_a: checkpoint (32, 4), "
            "model (32, 2)") in message
    assert "rank" in message
    for name, v in adapter_variables(model).items():
        np.testing.assert_array_equal(v.numpy(), before[name])
    del arrays["layer_0/feed_forward/output/lora_a"]
    arrays["layer_0/attention/query/lora_a"] = np.ones((32, 2), "float32")
    arrays["layer_1/attention/key/lora_b"] = np.ones((2, 32), "float32")
    assign_adapter(model, arrays)
    for v in adapter_variables(model).values():
        np.testing.assert_array_equal(v.numpy(), 1.0)


def test_bad_adapter_file_is_refused(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "not_adapter.safetensors"
    save_file({"x": np.zeros(2, "float32")}, str(path))
    with pytest.raises(ValueError, match="not a kerasbert LoRA adapter file"):
        read_adapter(str(path))


def test_train_cli_with_lora_writes_a_small_adapter_and_the_merged_model(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    samples = Path(__file__).resolve().parent.parent / "kerasbert" / "data" / "samples"
    out = subprocess.run(
        [sys.executable, "-m", "kerasbert.train", f"--train_data={samples / 'sentiment_train.csv'}",
         f"--eval_data={samples / 'sentiment_dev.csv'}", "--model=bert_tiny_en_uncased",
         f"--output_dir={tmp_path}", "--epochs=1", "--batch_size=16", "--max_seq_length=32",
         "--adapter=lora", "--lora_rank=4", "--learning_rate=1e-3", "--verbose=0"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    arrays, settings = read_adapter(str(tmp_path / "adapter.safetensors"))
    assert settings == {"rank": 4, "alpha": 4, "feed_forward": False, "pooling": "cls",
                        "base": "bert_tiny_en_uncased"}
    assert all(arrays[f"layer_{i}/attention/query/lora_a"].shape == (128, 4) for i in range(2))
    model_bytes = (tmp_path / "encoder" / "encoder.safetensors").stat().st_size
    assert (tmp_path / "adapter.safetensors").stat().st_size < 0.02 * model_bytes
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    history = json.loads((tmp_path / "history.json").read_text())
    assert metrics["accuracy"] == max(h["accuracy"] for h in history)
    # The merged model directory is a plain model that reproduces the adapted one.
    plain, _, tokenizer, _ = load_model_directory(str(tmp_path))
    assert not any("lora" in v.path for v in plain.variables)
