"""A fine-tuned sentence classifier leaves kerasbert whole (#28 items 6-7):
`kerasbert.convert --to=hf` writes a run directory as transformers'
BertForSequenceClassification with the same logits, and kerasbert's integrated
gradients (`model.explain`) agree with captum's on that converted model."""

import json

import numpy as np
import pytest
import tensorflow as tf

import kerasbert
from kerasbert import BertEncoder, BertTokenizer
from kerasbert.cli.convert import main as convert
from kerasbert.cli.flags import run_main
from kerasbert.tasks.keras_task import BertPreprocessor

# A tiny random encoder; initializer_range 0.2 (not BERT's 0.02) so that the
# random model's outputs, and the attributions, differ from token to token.
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0, initializer_range=0.2)
LENGTH = 24
LABELS = ["negative", "neutral", "positive"]
TOPICS = ["plot", "acting", "music", "length"]
TEXTS = ["a gripping , funny film", "dull and far too long", "the cast is wonderful",
         "not bad at all , really", "Ann met Bob in Paris"]
PAIRS = ["it was released in may", "nobody liked it", "the music is loud",
         "critics disagree", "who met whom ?"]


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.from_preset("bert_tiny_en_uncased", sequence_length=LENGTH)


def _run_dir(path, model, seed, text_pair=False):
    """`model` with a random head (weights of unit scale, so that the classes'
    probabilities differ) written as `kerasbert.train` writes a run."""
    head = model.get_layer("logits")
    rng = np.random.default_rng(seed)
    head.kernel.assign(rng.normal(0, 1.0, head.kernel.shape).astype("float32"))
    head.bias.assign(rng.normal(0, 0.5, head.bias.shape).astype("float32"))
    model.save_to_preset(str(path), text_pair=text_pair)
    return str(path)


@pytest.fixture(scope="module")
def runs(tokenizer, tmp_path_factory):
    """{kind: run directory}: single-label (sentence pairs), multi-label and
    regression runs on seeded tiny encoders, all with [CLS] pooling, and a
    mean-pooling one."""
    root = tmp_path_factory.mktemp("hf_classifier_runs")

    def encoder(seed):
        tf.keras.utils.set_random_seed(seed)
        return BertEncoder(**TINY)

    return {
        "single": _run_dir(root / "single", kerasbert.BertClassifier(
            encoder(1), 3, BertPreprocessor(tokenizer), labels=LABELS), 1, text_pair=True),
        "multi": _run_dir(root / "multi", kerasbert.BertClassifier(
            encoder(2), 4, BertPreprocessor(tokenizer), multi_label=True, labels=TOPICS), 2),
        "regression": _run_dir(root / "regression", kerasbert.BertRegressor(
            encoder(3), BertPreprocessor(tokenizer)), 3),
        "mean": _run_dir(root / "mean", kerasbert.BertClassifier(
            encoder(4), 3, BertPreprocessor(tokenizer), labels=LABELS, pooling="mean"), 4),
    }


def _converted(run_dir, output_dir):
    assert convert(["convert", f"--model={run_dir}", "--to=hf",
                    f"--output_dir={output_dir}"]) == 0
    return str(output_dir)


def _torch_batch(features):
    import torch

    return {"input_ids": torch.tensor(np.asarray(features["token_ids"]), dtype=torch.long),
            "token_type_ids": torch.tensor(np.asarray(features["segment_ids"]),
                                           dtype=torch.long),
            "attention_mask": torch.tensor(np.asarray(features["padding_mask"]),
                                           dtype=torch.long)}


def _transformers_classifier(directory):
    from transformers import BertForSequenceClassification

    model, info = BertForSequenceClassification.from_pretrained(directory,
                                                                output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    return model.eval()


@pytest.mark.parametrize("kind,problem,labels", [
    ("single", "single_label_classification", LABELS),
    ("multi", "multi_label_classification", TOPICS),
    ("regression", "regression", ["LABEL_0"]),
])
def test_run_directory_converts_to_transformers_with_the_same_logits(
        runs, tokenizer, tmp_path, kind, problem, labels):
    import torch
    from transformers import AutoTokenizer

    output = _converted(runs[kind], tmp_path / "hf")
    with open(f"{output}/config.json") as f:
        config = json.load(f)
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["problem_type"] == problem
    reference = _transformers_classifier(output)
    assert reference.config.num_labels == len(labels)
    assert [reference.config.id2label[i] for i in range(len(labels))] == labels
    assert reference.config.label2id == {name: i for i, name in enumerate(labels)}

    ours = kerasbert.BertClassifier if kind != "regression" else kerasbert.BertRegressor
    model = ours.from_preset(runs[kind])
    batches = [tokenizer(tf.constant(TEXTS))]
    if kind == "single":  # a sentence-pair run: the token types reach the encoder
        batches.append(tokenizer(tf.constant(TEXTS), tf.constant(PAIRS)))
        # transformers' own tokenizer reads the copied vocabulary as ours does.
        hf_tokens = AutoTokenizer.from_pretrained(output)(
            TEXTS, PAIRS, padding="max_length", max_length=LENGTH, truncation=True)
        np.testing.assert_array_equal(batches[1]["token_ids"], hf_tokens["input_ids"])
        np.testing.assert_array_equal(batches[1]["segment_ids"], hf_tokens["token_type_ids"])
    for features in batches:
        expected = model.predict({k: v.numpy() for k, v in features.items()}, verbose=0)
        with torch.no_grad():
            got = reference(**_torch_batch(features)).logits.numpy()
        assert got.shape == expected.shape == (len(TEXTS), len(labels))
        assert np.abs(got - expected).max() <= 1e-4
        assert np.ptp(expected, axis=0).max() > 0.1  # the sentences' logits differ


def test_a_mean_pooling_run_is_refused_in_one_line(runs, tmp_path, capsys):
    output = tmp_path / "hf"
    with pytest.raises(SystemExit) as exit_info:
        run_main(convert, ["convert", f"--model={runs['mean']}", "--to=hf",
                           f"--output_dir={output}"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerasbert.convert: error: "), lines
    assert "pooling 'mean'" in lines[0] and "[CLS] pooler" in lines[0]
    assert not (output / "model.safetensors").exists()


def test_a_run_directory_converts_only_to_hf(runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_main(convert, ["convert", f"--model={runs['single']}", "--to=tf1",
                           f"--output_dir={tmp_path / 'tf1'}"])
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip()
    assert "--to=hf" in line and f"--model={runs['single']}/encoder" in line


def test_an_hf_handle_still_converts_as_an_encoder(model_hub, tmp_path):
    from reference import torch_bert_outputs

    handle = "hf://google/bert_uncased_L-2_H-128_A-2"
    output = _converted(handle, tmp_path / "hf")
    with open(f"{output}/config.json") as f:
        assert json.load(f)["architectures"] == ["BertModel"]
    tokenizer = BertTokenizer.from_preset(handle, sequence_length=16)
    features = tokenizer(tf.constant(TEXTS))
    expected = BertEncoder.from_preset(handle)(features)["pooled_output"].numpy()
    batch = {k: v.numpy() for k, v in _torch_batch(features).items()}
    assert np.abs(torch_bert_outputs(output, batch)[1] - expected).max() <= 1e-4


def test_attention_probabilities_are_transformers_attentions(runs, tokenizer, tmp_path):
    """`BertSelfAttention.attention_probabilities` of each layer on that layer's
    input (what bench/bench_explain.py reads from the last layer) equal
    transformers' `output_attentions` of the converted model."""
    import torch
    from transformers import BertForSequenceClassification

    output = _converted(runs["single"], tmp_path / "hf")
    reference = BertForSequenceClassification.from_pretrained(
        output, attn_implementation="eager").eval()
    features = tokenizer(tf.constant(TEXTS), tf.constant(PAIRS))
    with torch.no_grad():
        attentions = reference(**_torch_batch(features), output_attentions=True).attentions
    encoder = BertEncoder.from_preset(f"{runs['single']}/encoder", output_hidden_states=True)
    hidden_states = encoder(features)["hidden_states"]
    bias = encoder.get_layer("attention_bias")(features["padding_mask"])
    real = features["padding_mask"].numpy().astype(bool)  # the real tokens' queries
    assert len(attentions) == len(encoder.transformer_layers) == 2
    for layer, block in enumerate(encoder.transformer_layers):
        ours = block.attention.attention_probabilities(hidden_states[layer], bias).numpy()
        theirs = attentions[layer].numpy()
        assert ours.shape == theirs.shape == (len(TEXTS), 2, LENGTH, LENGTH)
        ours, theirs = ours.transpose(0, 2, 1, 3)[real], theirs.transpose(0, 2, 1, 3)[real]
        assert np.abs(ours - theirs).max() <= 1e-5
        assert ours.max() > 0.2  # far from uniform over the ~12 real keys


def test_integrated_gradients_agree_with_captum_on_the_converted_model(runs, tokenizer,
                                                                       tmp_path):
    """captum's LayerIntegratedGradients on transformers' embeddings layer (the
    riemann trapezoid rule, 32 steps, a [PAD] baseline keeping [CLS] / [SEP],
    the predicted class's softmax probability) against `model.explain`."""
    import torch
    from captum.attr import LayerIntegratedGradients
    from scipy.stats import spearmanr
    from transformers import AutoTokenizer

    reference = _transformers_classifier(_converted(runs["single"], tmp_path / "hf"))
    hf_tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    batch = _torch_batch(tokenizer(tf.constant(TEXTS)))
    ids, mask = batch["input_ids"], batch["attention_mask"].bool()
    special = (ids == hf_tokenizer.cls_token_id) | (ids == hf_tokenizer.sep_token_id)
    baseline = torch.where(special, ids, torch.full_like(ids, hf_tokenizer.pad_token_id))
    assert hf_tokenizer.pad_token_id == 0

    def probabilities(input_ids, token_type_ids, attention_mask):
        logits = reference(input_ids=input_ids, token_type_ids=token_type_ids,
                           attention_mask=attention_mask).logits
        return torch.softmax(logits, dim=-1)

    with torch.no_grad():
        scores = probabilities(ids, batch["token_type_ids"], batch["attention_mask"])
        baseline_scores = probabilities(baseline, batch["token_type_ids"],
                                        batch["attention_mask"])
    target = scores.argmax(-1)
    attributions, deltas = LayerIntegratedGradients(
        probabilities, reference.bert.embeddings).attribute(
        ids, baselines=baseline, target=target,
        additional_forward_args=(batch["token_type_ids"], batch["attention_mask"]),
        n_steps=32, method="riemann_trapezoid", return_convergence_delta=True)
    per_token = attributions.sum(-1).detach().numpy()

    model = kerasbert.BertClassifier.from_preset(runs["single"])
    records = model.explain(TEXTS, steps=32)
    assert len(records) == len(TEXTS)
    rows = range(len(TEXTS))
    for i, record in zip(rows, records):
        keep = mask[i].numpy()
        expected = per_token[i][keep]
        assert record["tokens"] == hf_tokenizer.convert_ids_to_tokens(ids[i][keep].tolist())
        got = np.asarray(record["attributions"], dtype=np.float64)
        assert got.shape == expected.shape
        assert np.abs(expected).max() > 0.02, expected  # attributions worth comparing
        assert np.abs(got - expected).max() <= 1e-3, (TEXTS[i], got, expected)
        assert spearmanr(got, expected).statistic >= 0.99, (TEXTS[i], got, expected)
        assert abs(record["score"] - float(scores[i, target[i]])) <= 1e-4
        assert abs(record["baseline_score"] - float(baseline_scores[i, target[i]])) <= 1e-4
        assert abs(record["convergence_delta"] - float(deltas[i])) <= 1e-3
