"""Checkpoint loaders: TF1 names, Hugging Face, kerasbert's own format, round trips."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from transformers import BertTokenizerFast

from kerasbert import BertEncoder
from kerasbert.checkpoints import loading, tf1_checkpoint
from kerasbert.checkpoints.assign import CheckpointMismatchError
from kerasbert.checkpoints.name_map import encoder_variables, pretraining_head_variables
from kerasbert.layers.pretraining_heads import MaskedLMHead, NextSentenceHead
from kerasbert.checkpoints.sources import resolve
from tests.reference import hf_features, max_abs_diff_real_tokens, torch_bert_outputs

MINI = "checkpoints/bert_uncased_L-4_H-256_A-4"


@pytest.fixture(scope="module")
def minilm_dir():
    return resolve("all_minilm_l6_v2")


@pytest.fixture(scope="module")
def minilm():
    return BertEncoder.from_preset("all_minilm_l6_v2")


@pytest.fixture(scope="module")
def features(minilm_dir):
    tokenizer = BertTokenizerFast.from_pretrained(str(minilm_dir))
    batch = tokenizer(["a gripping, beautifully shot film .", "dull"],
                      ["it never lets go", "and far too long"], padding=True, return_tensors="np")
    return hf_features(batch)


def _outputs(encoder, features):
    out = encoder(features)
    return out["sequence_output"].numpy(), out["pooled_output"].numpy()


def test_tf1_name_map_covers_every_bert_mini_variable(test_data):
    directory = str(test_data / MINI)
    in_checkpoint = tf1_checkpoint.list_variables(directory)
    assert len(in_checkpoint) == 78
    encoder = BertEncoder.from_preset(directory, load_weights=False)
    mlm = MaskedLMHead(encoder.embeddings.word_embeddings.embeddings, name="mlm")
    nsp = NextSentenceHead(encoder.bert_config["hidden_size"], name="nsp")
    mlm.build()
    nsp.build()
    ours = {**encoder_variables(encoder), **pretraining_head_variables(mlm, nsp)}
    assert {n: tuple(v.shape) for n, v in ours.items()} == {
        n: tuple(s) for n, s in in_checkpoint.items()}


def test_bert_mini_without_data_shard_names_the_missing_file(test_data):
    # The folder ships the index but not its weight shard (see its README): the
    # error must name that very file, not just any path under the data folder.
    with pytest.raises(Exception, match=r"bert_model\.ckpt\.data-00000-of-00001\b.*"
                                        r"(?i:no such file|not found)"):
        BertEncoder.from_preset(str(test_data / MINI))


def test_tf1_round_trip_is_exact(minilm, features, tmp_path):
    loading.export_tf1_checkpoint(minilm, tmp_path)
    names = set(tf1_checkpoint.list_variables(str(tmp_path)))
    assert "bert/encoder/layer_5/attention/self/query/kernel" in names
    assert loading.detect_format(tmp_path) == "tf1"
    restored = BertEncoder.from_preset(tmp_path)
    for a, b in zip(_outputs(restored, features), _outputs(minilm, features)):
        np.testing.assert_array_equal(a, b)


def test_hf_round_trip_matches_transformers(minilm, minilm_dir, features, tmp_path):
    loading.export_hf_checkpoint(minilm, tmp_path)
    batch = {"input_ids": features["token_ids"], "token_type_ids": features["segment_ids"],
             "attention_mask": features["padding_mask"]}
    ref_seq, ref_pooled = torch_bert_outputs(tmp_path, batch)
    seq, pooled = _outputs(minilm, features)
    assert max_abs_diff_real_tokens(seq, ref_seq, features["padding_mask"]) <= 1e-4
    assert np.abs(pooled - ref_pooled).max() <= 1e-4
    restored = BertEncoder.from_preset(tmp_path)
    for a, b in zip(_outputs(restored, features), (seq, pooled)):
        np.testing.assert_array_equal(a, b)


def test_native_round_trip_is_exact(minilm, features, tmp_path):
    loading.save_encoder(minilm, tmp_path)
    assert loading.detect_format(tmp_path) == "kerasbert"
    restored = BertEncoder.from_preset(tmp_path)
    assert restored.get_config() == minilm.get_config()
    for a, b in zip(_outputs(restored, features), _outputs(minilm, features)):
        np.testing.assert_array_equal(a, b)


def _copy_hf(minilm_dir, tmp_path):
    target = tmp_path / "hf"
    shutil.copytree(minilm_dir, target)
    return target


def test_mismatch_lists_every_offending_name(minilm_dir, tmp_path):
    from safetensors.numpy import load_file, save_file

    target = _copy_hf(minilm_dir, tmp_path)
    arrays = load_file(str(target / "model.safetensors"))
    del arrays["encoder.layer.2.attention.self.key.weight"]
    arrays["pooler.dense.bias"] = np.zeros((7,), "float32")
    arrays["encoder.layer.9.output.dense.weight"] = np.zeros((3, 3), "float32")
    save_file(arrays, str(target / "model.safetensors"))
    with pytest.raises(CheckpointMismatchError) as err:
        BertEncoder.from_preset(target)
    message = str(err.value)
    assert "missing: bert/encoder/layer_2/attention/self/key/kernel (model shape (384, 384))" in message
    assert "shape mismatch: bert/pooler/dense/bias: checkpoint (7,), model (384,)" in message
    assert "unexpected: <hf>encoder.layer.9.output.dense.weight (checkpoint shape (3, 3))" in message


def test_vocabulary_larger_than_config_is_refused(minilm_dir, tmp_path):
    target = _copy_hf(minilm_dir, tmp_path)
    config = json.loads((target / "config.json").read_text())
    config["vocab_size"] = 1000
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError, match="30522 tokens but the config's vocab_size is 1000"):
        BertEncoder.from_preset(target)


def test_pickle_is_loaded_only_on_opt_in(minilm, minilm_dir, features, tmp_path):
    import torch
    from safetensors.numpy import load_file

    target = _copy_hf(minilm_dir, tmp_path)
    arrays = load_file(str(target / "model.safetensors"))
    torch.save({k: torch.tensor(v) for k, v in arrays.items()}, target / "pytorch_model.bin")
    (target / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="pickle"):
        BertEncoder.from_preset(target)
    restored = BertEncoder.from_preset(target, allow_pickle=True)
    np.testing.assert_array_equal(_outputs(restored, features)[1], _outputs(minilm, features)[1])


def test_unknown_directory_and_preset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a preset name, an hf://ORG/NAME handle nor a directory"):
        BertEncoder.from_preset(tmp_path / "nope")
    with pytest.raises(ValueError, match="not a BERT checkpoint directory"):
        BertEncoder.from_preset(tmp_path)


def test_load_weights_false_builds_the_published_shape():
    encoder = BertEncoder.from_preset("bert_tiny_en_uncased", load_weights=False)
    assert encoder.count_params() == 4385920
    assert tf.reduce_all(tf.shape(encoder.pooler.kernel) == [128, 128])
