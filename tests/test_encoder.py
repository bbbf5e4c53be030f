"""The encoder against transformers' BertModel on real weights and real text."""

import json

import keras
import numpy as np
import pytest
from transformers import BertTokenizerFast

from kerasbert import BertEncoder
from kerasbert.checkpoints.sources import resolve
from tests.reference import hf_features, max_abs_diff_real_tokens, sst2_sentences, torch_bert_outputs

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def minilm_dir():
    return resolve("all_minilm_l6_v2")


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    return BertEncoder.from_preset("all_minilm_l6_v2")


@pytest.fixture(scope="module")
def hf_tokenizer(minilm_dir):
    return BertTokenizerFast.from_pretrained(str(minilm_dir))


def _compare(encoder, model_dir, batch):
    ref_seq, ref_pooled = torch_bert_outputs(model_dir, batch)
    out = encoder(hf_features(batch))
    seq_diff = max_abs_diff_real_tokens(out["sequence_output"].numpy(), ref_seq,
                                        batch["attention_mask"])
    pooled_diff = float(np.abs(out["pooled_output"].numpy() - ref_pooled).max())
    return seq_diff, pooled_diff


def test_minilm_matches_transformers_on_sst2_dev(minilm, minilm_dir, hf_tokenizer, test_data):
    sentences = sst2_sentences(test_data, "dev", limit=96)
    batch = hf_tokenizer(sentences, padding=True, return_tensors="np")
    assert batch["attention_mask"].min() == 0, "the batch must contain padding"
    seq_diff, pooled_diff = _compare(minilm, minilm_dir, batch)
    assert seq_diff <= TOLERANCE and pooled_diff <= TOLERANCE, (seq_diff, pooled_diff)


def test_minilm_matches_transformers_on_pairs(minilm, minilm_dir, hf_tokenizer, test_data):
    squad = json.loads((test_data / "squad" / "dev-v1.1.json").read_text())
    paragraph = squad["data"][0]["paragraphs"][0]
    questions = [qa["question"] for qa in paragraph["qas"]][:8]
    batch = hf_tokenizer(questions, [paragraph["context"]] * len(questions), padding=True,
                         truncation="longest_first", max_length=160, return_tensors="np")
    assert batch["token_type_ids"].max() == 1
    seq_diff, pooled_diff = _compare(minilm, minilm_dir, batch)
    assert seq_diff <= TOLERANCE and pooled_diff <= TOLERANCE, (seq_diff, pooled_diff)


def test_hidden_states_are_every_layer(minilm_dir, hf_tokenizer):
    encoder = BertEncoder.from_preset(minilm_dir, output_hidden_states=True)
    batch = hf_tokenizer(["the movie was great", "bad"], padding=True, return_tensors="np")
    out = encoder(hf_features(batch))
    assert len(out["hidden_states"]) == 7
    np.testing.assert_array_equal(out["hidden_states"][-1].numpy(), out["sequence_output"].numpy())


def test_padding_does_not_change_real_tokens(minilm, hf_tokenizer):
    short = hf_tokenizer(["a fine film"], return_tensors="np")
    padded = hf_tokenizer(["a fine film"], padding="max_length", max_length=32, return_tensors="np")
    a = minilm(hf_features(short))["sequence_output"].numpy()
    b = minilm(hf_features(padded))["sequence_output"].numpy()[:, : a.shape[1]]
    assert np.abs(a - b).max() < 1e-5


def test_keras_file_round_trip(minilm, hf_tokenizer, tmp_path):
    features = hf_features(hf_tokenizer(["round trip"], return_tensors="np"))
    path = tmp_path / "encoder.keras"
    minilm.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, BertEncoder)
    assert restored.get_config() == minilm.get_config()
    np.testing.assert_array_equal(restored(features)["pooled_output"].numpy(),
                                  minilm(features)["pooled_output"].numpy())


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_keeps_softmax_and_layer_norm_in_float32(minilm, hf_tokenizer, policy):
    features = hf_features(hf_tokenizer(["mixed precision works"], return_tensors="np"))
    keras.mixed_precision.set_global_policy(policy)
    try:
        encoder = BertEncoder(**minilm.bert_config)
        encoder.set_weights(minilm.get_weights())
        out = encoder(features)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    norms = [w for w in encoder.weights if "layer_norm" in w.path]
    assert norms and all(w.dtype == "float32" for w in norms)
    assert encoder.transformer_layers[0].attention.compute_dtype == policy.split("_")[1]
    reference = minilm(features)["sequence_output"].numpy()
    got = np.asarray(out["sequence_output"], dtype="float32")
    assert np.isfinite(got).all()
    assert np.abs(got - reference).mean() < 0.05
