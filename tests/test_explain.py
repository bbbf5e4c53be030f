"""Integrated gradients (`kerasbert.explain`) on tiny random task models: the
completeness property, the attributions against an independent finite
computation of the same path integral, the targets of classification,
multi-label and regression, `python -m kerasbert.explain` on texts and on a
file (JSON lines, HTML), and the SavedModel's `explain` signature loaded by a
process that imports only tensorflow and tensorflow_text; NER entities (the
predictor's, each explained) and QA answers' start and end."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from reference import SERVING_WITHOUT_KERASBERT

import kerasbert
from kerasbert.cli.flags import run_main
from kerasbert.explain import render
from kerasbert.tasks import integrated_gradients as ig

TINY = "bert_tiny_en_uncased"  # L-2 H-128 from the hub stand-in (random weights)
# Mean pooling and a head of weights ~0.5 (below): scores that move with the input.
LABELS = ["negative", "neutral", "positive"]
TEXTS = ["a great and moving film", "awful acting , terrible story", "i loved it",
         "boring from start to end", "The cast was a real joy to watch.",
         "It drags on without any purpose.", "wonderful acting, great story",
         "a dull and boring film", "hated every minute", "great fun from start to end",
         "unbelievably overlong", "a moving, wonderful story"]


def _with_sensitive_head(model, seed, scale):
    """A random model whose head reads its features with weights of order
    `scale` (a fresh head's 0.02 leaves every score near 1/classes)."""
    logits = model.get_layer("logits")
    rng = np.random.RandomState(seed)
    logits.kernel.assign(rng.normal(0, scale, logits.kernel.shape).astype("float32"))
    logits.bias.assign(np.zeros(logits.bias.shape, "float32"))
    return model


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(11)
    model = kerasbert.BertClassifier.from_preset(TINY, num_classes=3, sequence_length=24,
                                                 labels=LABELS, pooling="mean")
    return _with_sensitive_head(model, 0, 0.5)


@pytest.fixture(scope="module")
def run_dir(classifier, tmp_path_factory):
    """The classifier as a model directory (the layout kerasbert.train writes)."""
    directory = tmp_path_factory.mktemp("explain") / "run"
    classifier.save_to_preset(str(directory))
    return directory


def _check_record(record):
    tokens, attributions = record["tokens"], record["attributions"]
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "[PAD]" not in tokens
    assert len(attributions) == len(tokens)
    # [CLS] and [SEP] are the baseline's own tokens at the same places: no difference there.
    assert attributions[0] == 0.0 and attributions[-1] == 0.0
    assert len(record["words"]) == len(record["word_attributions"]) == \
        len(record["word_offsets"])
    assert sum(record["word_attributions"]) == pytest.approx(sum(attributions), abs=1e-6)
    for word, (start, end) in zip(record["words"], record["word_offsets"]):
        assert record["text"][start:end] == word
    delta = sum(attributions) - (record["score"] - record["baseline_score"])
    assert record["convergence_delta"] == pytest.approx(delta, abs=1e-7)


def test_completeness_on_a_random_classifier(classifier):
    records = classifier.explain(TEXTS, steps=32, batch_size=5)
    assert [r["text"] for r in records] == TEXTS
    logits = classifier.predict(TEXTS, verbose=0)
    probabilities = tf.nn.softmax(logits).numpy()
    gaps, deltas = [], []
    for record, row in zip(records, probabilities):
        _check_record(record)
        assert record["label"] == LABELS[int(row.argmax())]
        assert record["score"] == pytest.approx(float(row.max()), abs=1e-5)
        gaps.append(record["score"] - record["baseline_score"])
        deltas.append(record["convergence_delta"])
    gaps, deltas = np.abs(gaps), np.abs(deltas)
    assert gaps.min() > 0.02, gaps  # the head makes the scores move
    within = deltas <= 0.05 * gaps
    assert within.mean() >= 0.75, (deltas / gaps).round(3).tolist()
    assert (deltas > 0).all()  # a finite rule: the sum is never the gap to the last bit
    # More steps: the sum approaches the gap.
    finer = classifier.explain(TEXTS, steps=128, batch_size=6)
    assert np.mean([abs(r["convergence_delta"]) for r in finer]) < deltas.mean() / 2


def test_attributions_equal_a_finite_difference_path_integral(classifier):
    """Per token: the integral over alpha of the directional derivative of the
    score along that token's (input - baseline) embedding difference, by
    central differences of the forward pass and Gauss-Legendre nodes: no
    gradient tape, no trapezoid rule, no batching over steps."""
    text = "a great and moving film"
    tokenizer = classifier.preprocessor.tokenizer
    features = {k: v[:, :7] for k, v in tokenizer([text]).items()}
    assert int(features["padding_mask"].numpy().sum()) == 7
    # The forward pass from the embedding output is the model's own.
    inputs = ig.embedding_output(classifier, features["token_ids"], features["segment_ids"])
    np.testing.assert_allclose(
        ig.logits_from_embeddings(classifier, inputs, features["padding_mask"]).numpy(),
        classifier(features, training=False).numpy(), atol=1e-6)
    baseline_ids = np.where(np.isin(features["token_ids"].numpy(),
                                    [tokenizer.cls_token_id, tokenizer.sep_token_id]),
                            features["token_ids"].numpy(), tokenizer.pad_token_id)
    baseline = ig.embedding_output(classifier, tf.constant(baseline_ids, tf.int32),
                                   features["segment_ids"])
    inputs, baseline = inputs.numpy()[0], baseline.numpy()[0]
    target = int(classifier(features).numpy().argmax())

    nodes, weights = np.polynomial.legendre.leggauss(16)
    alphas, weights = (nodes + 1) / 2, weights / 2
    h = 0.02
    points = []
    for token in range(7):
        direction = np.zeros_like(inputs)
        direction[token] = inputs[token] - baseline[token]
        for alpha in alphas:
            point = baseline + alpha * (inputs - baseline)
            points += [point + h * direction, point - h * direction]
    points = np.stack(points).astype("float32")
    mask = tf.repeat(features["padding_mask"], len(points), axis=0)
    scores = tf.nn.softmax(ig.logits_from_embeddings(classifier, points, mask)).numpy()
    scores = scores[:, target].astype(np.float64).reshape(7, len(alphas), 2)
    derivatives = (scores[..., 0] - scores[..., 1]) / (2 * h)
    expected = derivatives @ weights

    out = ig.integrated_gradients(classifier, features, tf.constant([-1]), steps=400)
    got = out["attributions"].numpy()[0]
    assert int(out["target"][0]) == target
    scale = np.abs(expected).max()
    assert scale > 1e-4
    np.testing.assert_allclose(got, expected, atol=0.01 * scale)
    # ... and the sum is the gap the path covers (up to captum's (n - 1) / n of the rule).
    assert expected.sum() == pytest.approx(float(out["score"][0] - out["baseline_score"][0]),
                                           rel=0.02)


def test_two_steps_are_captums_trapezoid_rule(classifier):
    """steps=2: alphas 0 and 1, step sizes 1/4 each (captum's 1/n, ends halved)."""
    features = classifier.preprocessor.tokenizer(["i loved it"])
    out = ig.integrated_gradients(classifier, features, tf.constant([2]), steps=2)
    tokenizer = classifier.preprocessor.tokenizer
    ids = features["token_ids"]
    special = (ids == tokenizer.cls_token_id) | (ids == tokenizer.sep_token_id)
    ends = [ig.embedding_output(classifier, ids, features["segment_ids"]),
            ig.embedding_output(classifier, tf.where(special, ids, tokenizer.pad_token_id),
                                features["segment_ids"])]
    gradients = []
    for point in ends:
        with tf.GradientTape() as tape:
            tape.watch(point)
            logits = ig.logits_from_embeddings(classifier, point, features["padding_mask"])
            score = tf.nn.softmax(logits)[0, 2]
        gradients.append(tape.gradient(score, point))
    expected = tf.reduce_sum((ends[0] - ends[1]) * (gradients[0] + gradients[1]) / 4, -1)
    np.testing.assert_allclose(out["attributions"].numpy(),
                               expected.numpy() * features["padding_mask"].numpy(), atol=1e-7)
    # A score function of the logits gives the same (the hook for other heads).
    by_function = ig.integrated_gradients(
        classifier, features, tf.constant([2]), steps=2,
        kind=lambda logits, targets: tf.gather(tf.nn.softmax(logits), targets, batch_dims=1))
    np.testing.assert_allclose(by_function["attributions"], out["attributions"], atol=1e-9)
    with pytest.raises(ValueError, match="steps must be at least 2"):
        ig.trapezoid(1)


def test_targets_by_name_and_index_and_their_sum(classifier):
    texts = TEXTS[:3]
    per_label = [classifier.explain(texts, target=label) for label in LABELS]  # 32 steps
    by_index = classifier.explain(texts, target=2)
    for a, b in zip(per_label[2], by_index):
        assert a["label"] == b["label"] == "positive"
        assert a["attributions"] == pytest.approx(b["attributions"], abs=1e-7)
    probabilities = tf.nn.softmax(classifier.predict(texts, verbose=0)).numpy()
    for i in range(len(texts)):
        for k, label in enumerate(LABELS):
            assert per_label[k][i]["score"] == pytest.approx(probabilities[i, k], abs=1e-5)
        # Probabilities sum to 1 at every point of the path: so do their gradients' sums,
        # so the attributions of all classes cancel token by token.
        total = np.sum([per_label[k][i]["attributions"] for k in range(3)], axis=0)
        scale = np.abs(per_label[0][i]["attributions"]).max()
        assert np.abs(total).max() <= 1e-3 * scale + 1e-7
    with pytest.raises(ValueError, match="unknown label 'excellent'"):
        classifier.explain(texts, target="excellent")
    with pytest.raises(ValueError, match="unknown label 3;"):
        classifier.explain(texts, target=3)


def test_pairs_and_chinese_words(classifier):
    record = classifier.explain((["a moving film"], ["i loved it"]))[0]
    assert record["tokens"] == ["[CLS]", "a", "moving", "film", "[SEP]", "i", "loved", "it",
                                "[SEP]"]
    assert record["text_pair"] == "i loved it"
    assert record["words"] == ["a", "moving", "film", "i", "loved", "it"]
    assert record["word_segments"] == [0, 0, 0, 1, 1, 1]
    assert record["word_offsets"][3:] == [[0, 1], [2, 7], [8, 10]]
    assert record["word_attributions"] == record["attributions"][1:4] + \
        record["attributions"][5:8]
    chinese = classifier.explain(["我爱这部电影 great"])[0]
    assert chinese["words"] == ["我", "爱", "这", "部", "电", "影", "great"]
    assert chinese["word_offsets"][-1] == [7, 12]
    # Pieces of one word are summed; words beyond the sequence are left out.
    long = classifier.explain(["unbelievably " * 30])[0]
    assert len(long["tokens"]) == 24
    pieces = long["tokens"][1:-1]
    assert pieces[0] != "unbelievably" and pieces[1].startswith("##")
    assert 1 < len(long["words"]) < 30


def test_regression_and_multilabel_targets():
    keras.utils.set_random_seed(5)
    regressor = _with_sensitive_head(kerasbert.BertRegressor.from_preset(
        TINY, sequence_length=16, pooling="mean"), 1, 0.5)
    records = regressor.explain(TEXTS[:4], steps=32)
    outputs = regressor.predict(TEXTS[:4], verbose=0)[:, 0]
    for record, output in zip(records, outputs):
        _check_record(record)
        assert record["label"] is None
        assert record["score"] == pytest.approx(float(output), abs=1e-5)
        assert abs(record["convergence_delta"]) <= 0.06 * abs(
            record["score"] - record["baseline_score"]) + 1e-6
    with pytest.raises(ValueError, match="one output"):
        regressor.explain(TEXTS[:1], target=1)

    tagger = _with_sensitive_head(kerasbert.BertClassifier.from_preset(
        TINY, num_classes=4, multi_label=True, sequence_length=16, pooling="mean",
        labels=["action", "comedy", "drama", "romance"]), 2, 0.5)
    logits = tagger.predict(TEXTS[:4], verbose=0)
    default = tagger.explain(TEXTS[:4], steps=8)
    drama = tagger.explain(TEXTS[:4], target="drama", steps=8)
    for i in range(4):
        _check_record(default[i])
        assert default[i]["label"] == tagger.labels[int(logits[i].argmax())]
        assert drama[i]["label"] == "drama"
        assert drama[i]["score"] == pytest.approx(float(tf.sigmoid(logits[i, 2])), abs=1e-5)


def _run(argv, capsys):
    from kerasbert.cli.explain import main

    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["kerasbert.explain", *argv])
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


FRESH_PROCESS = SERVING_WITHOUT_KERASBERT + r"""

explain = tf.saved_model.load(sys.argv[1]).signatures["explain"]
outputs = explain(text=tf.constant(json.loads(sys.argv[2])))
print(json.dumps({k: v.numpy().tolist() for k, v in outputs.items()},
                 default=lambda b: b.decode("utf-8")))
"""


def test_cli_html_and_the_savedmodel_agree(classifier, run_dir, tmp_path, capsys):
    texts = TEXTS[:3]
    code, out, _ = _run([f"--model={run_dir}", *texts, "--steps=32"], capsys)
    assert code == 0
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [line["text"] for line in lines] == texts
    in_python = classifier.explain(texts, steps=32)
    for line, record in zip(lines, in_python):
        assert line.keys() == record.keys()
        assert line["tokens"] == record["tokens"] and line["label"] == record["label"]
        assert line["attributions"] == pytest.approx(record["attributions"], abs=1e-6)

    # A file, streamed to --output_file, with the HTML report and a --target.
    data = tmp_path / "reviews.csv"
    rows = ["text"] + [f'"{t}"' for t in TEXTS[3:9]]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    output, page = tmp_path / "why.jsonl", tmp_path / "why.html"
    code, out, err = _run([f"--model={run_dir}", f"--input_file={data}",
                           f"--output_file={output}", f"--html={page}", "--target=neutral",
                           "--batch_size=4"], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["text"] for r in records] == TEXTS[3:9]
    assert {r["label"] for r in records} == {"neutral"}
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<script" not in html and "<style>" in html
    for record in records:
        for token, value in zip(record["tokens"], record["attributions"]):
            assert f'title="{token}: {value:.6g}"' in html
    assert html.count('class="row"') == len(records)
    assert list(tmp_path.glob("*.partial-*")) == []
    assert render(records) == html

    # The SavedModel's explain signature, served without kerasbert.
    export_dir = tmp_path / "savedmodel"
    classifier.export(str(export_dir))
    served = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(export_dir),
                             json.dumps(texts)], capture_output=True, text=True,
                            timeout=300)
    assert served.returncode == 0, served.stderr
    outputs = json.loads(served.stdout.strip().splitlines()[-1])
    assert set(outputs) == {"tokens", "attributions", "score", "baseline_score", "label"}
    for i, line in enumerate(lines):
        n = len(line["tokens"])
        assert outputs["tokens"][i][:n] == line["tokens"]
        assert set(outputs["tokens"][i][n:]) <= {""}
        assert outputs["label"][i] == line["label"]
        assert outputs["attributions"][i][:n] == pytest.approx(line["attributions"], abs=1e-3)
        assert outputs["score"][i] == pytest.approx(line["score"], abs=1e-3)
        assert outputs["baseline_score"][i] == pytest.approx(line["baseline_score"], abs=1e-3)


@pytest.mark.parametrize("args,message", [
    (["--steps=1", "good"], "--steps must be >= 2, got 1"),
    (["--target=excellent", "good"], "--target: unknown label 'excellent'"),
    (["--html={tmp}/missing/why.html", "good"], "--html: folder"),
    ([], "give texts to explain as arguments, or --input_file"),
    (["--input_file={tmp}/none.csv"], "--input_file: file"),
])
def test_bad_flags_are_one_line_errors(run_dir, tmp_path, capsys, args, message):
    code, _, err = _run([f"--model={run_dir}", *(a.format(tmp=tmp_path) for a in args)],
                        capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("kerasbert.explain: error:")
    assert message in lines[0], lines[0]


# -- NER and QA: sequence heads --------------------------------------------------------------

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
NER_TEXTS = ["John Smith lives in Paris", "Mary  visited Rome and Berlin",
             "the EU met in Brussels today", "Ann and Bob went to New York"]


@pytest.fixture(scope="module")
def tagger():
    keras.utils.set_random_seed(13)
    model = kerasbert.BertTokenClassifier.from_preset(TINY, num_tags=len(TAGS), labels=TAGS,
                                                      sequence_length=20)
    return _with_sensitive_head(model, 3, 0.5)


def test_ner_entities_are_the_predictors_and_complete(tagger):
    from kerasbert.serving.predictor import Predictor

    records = tagger.explain(NER_TEXTS, steps=32, batch_size=3)
    predicted = Predictor.from_model(tagger).predict({"text": NER_TEXTS})
    gaps, deltas = [], []
    for record, prediction, text in zip(records, predicted, NER_TEXTS):
        assert record["text"] == text and record["words"] == text.split()
        tokens = record["tokens"]
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
        for word, (start, end) in zip(record["words"], record["word_offsets"]):
            assert text[start:end] == word
        assert len(record["entities"]) == len(prediction["entities"])
        for entity, expected in zip(record["entities"], prediction["entities"]):
            for key in ("type", "text", "start", "end"):
                assert entity[key] == expected[key]
            # The explained score is the predictor's: its tags' mean probability.
            assert entity["score"] == pytest.approx(expected["score"], abs=1e-5)
            assert text[entity["start"]:entity["end"]] == entity["text"]
            assert (entity["char_start"], entity["char_end"]) == (entity["start"], entity["end"])
            words = record["word_offsets"][entity["word_start"]:entity["word_end"]]
            assert (words[0][0], words[-1][1]) == (entity["start"], entity["end"])
            assert len(entity["attributions"]) == len(tokens)
            assert entity["attributions"][0] == entity["attributions"][-1] == 0.0
            assert len(entity["word_attributions"]) == len(record["words"])
            assert sum(entity["word_attributions"]) == pytest.approx(
                sum(entity["attributions"]), abs=1e-6)
            gap = entity["score"] - entity["baseline_score"]
            assert entity["convergence_delta"] == pytest.approx(
                sum(entity["attributions"]) - gap, abs=1e-6)
            gaps.append(gap)
            deltas.append(entity["convergence_delta"])
    assert len(gaps) >= 4, "the random tagger should predict entities"
    gaps, deltas = np.abs(gaps), np.abs(deltas)
    assert gaps.max() > 0.02, gaps
    assert (deltas <= 0.05 * gaps + 2e-3).mean() >= 0.75, (deltas, gaps)

    # Entities of one row explain different scores.
    many = [r for r in records if len(r["entities"]) > 1]
    if many:
        first, second = many[0]["entities"][:2]
        assert first["attributions"] != second["attributions"]
    with pytest.raises(ValueError, match="no target to choose"):
        tagger.explain(NER_TEXTS[:1], target="B-PER")

    # A tagger that says O everywhere: rows without entities.
    logits = tagger.get_layer("logits")
    bias = logits.bias.numpy()
    try:
        logits.bias.assign(np.array([100.0, 0, 0, 0, 0], "float32"))
        assert [r["entities"] for r in tagger.explain(NER_TEXTS[:2], steps=4)] == [[], []]
    finally:
        logits.bias.assign(bias)


def test_qa_start_and_end_over_question_and_context():
    keras.utils.set_random_seed(17)
    model = _with_sensitive_head(kerasbert.BertQuestionAnswerer.from_preset(
        TINY, sequence_length=40, max_query_length=12, doc_stride=16), 4, 0.5)
    questions = ["Who wrote the book?", "Where is it?", "When did it rain?"]
    contexts = ["The book was written by Ann in Paris.",
                "It is on the table near the window in the kitchen of the old house by "
                "the sea, far away from the city and its noise and its lights, where nobody goes "
                "in the winter and few go in the summer.",
                "It rained all day on Monday."]
    from kerasbert.serving.predictor import Predictor

    records = model.explain((questions, contexts), steps=32)
    predicted = model.predict((questions, contexts))["answers"]
    # kerasbert.predict's answers (training's windows in Python): the same here.
    predictor = Predictor.from_model(model)
    served = predictor.predict({"question": questions, "context": contexts})
    assert [r["answer"] for r in served] == list(predicted)
    by_predictor = predictor.explain({"question": questions, "context": contexts}, steps=32)
    assert [r["start_attributions"] for r in by_predictor] == \
        [r["start_attributions"] for r in records]
    gaps, deltas = [], []
    for record, question, context, answer in zip(records, questions, contexts, predicted):
        assert record["question"] == question and record["context"] == context
        tokens = record["tokens"]
        sep = tokens.index("[SEP]")
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and sep < len(tokens) - 1
        if record["windows"] == 1:  # the whole context: the model's own answer
            assert record["answer"] == answer
        if record["answer"]:
            start, end = record["answer_offsets"]
            assert context[start:end] == record["answer"]
            assert sep < record["start_position"] <= record["end_position"] < len(tokens) - 1
        for name in ("start", "end"):
            attributions = record[f"{name}_attributions"]
            assert len(attributions) == len(tokens)
            # Question and context tokens are both attributed.
            assert any(attributions[1:sep]) and any(attributions[sep + 1:-1])
            assert sum(record[f"{name}_word_attributions"]) == pytest.approx(
                sum(attributions), abs=1e-6)
            gap = record[f"{name}_score"] - record[f"{name}_baseline_score"]
            assert record[f"{name}_convergence_delta"] == pytest.approx(
                sum(attributions) - gap, abs=1e-6)
            gaps.append(gap)
            deltas.append(record[f"{name}_convergence_delta"])
        assert set(record["word_segments"]) == {0, 1}
        for word, (start, end), segment in zip(record["words"], record["word_offsets"],
                                               record["word_segments"]):
            assert (question, context)[segment][start:end] == word
    long = records[1]
    assert long["windows"] > 1 and long["words"][-1] != "summer."  # its first window only
    gaps, deltas = np.abs(gaps), np.abs(deltas)
    assert gaps.max() > 0.02, gaps
    assert (deltas <= 0.05 * gaps + 2e-3).mean() >= 0.75, (deltas, gaps)
    html = render(records)
    assert html.count('class="row"') == 3
    for record in records:
        for name in ("start", "end"):
            for token, value in zip(record["tokens"], record[f"{name}_attributions"]):
                assert f'title="{token}: {value:.6g}"' in html


def test_cli_on_a_ner_run_directory(tagger, tmp_path, capsys):
    run = tmp_path / "ner"
    tagger.save_to_preset(str(run))
    page = tmp_path / "entities.html"
    code, out, err = _run([f"--model={run}", *NER_TEXTS[:2], "--steps=8", f"--html={page}"],
                          capsys)
    assert code == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    in_python = tagger.explain(NER_TEXTS[:2], steps=8)
    assert [line["text"] for line in lines] == NER_TEXTS[:2]
    for line, record in zip(lines, in_python):
        assert line["tokens"] == record["tokens"]
        assert [(e["type"], e["start"], e["end"]) for e in line["entities"]] == \
            [(e["type"], e["start"], e["end"]) for e in record["entities"]]
        for got, expected in zip(line["entities"], record["entities"]):
            assert got["attributions"] == pytest.approx(expected["attributions"], abs=1e-5)
    html = page.read_text(encoding="utf-8")
    entities = sum(len(line["entities"]) for line in lines)
    assert entities > 0 and html.count('class="entity"') == entities
    code, _, err = _run([f"--model={run}", "John lives here", "--target=B-PER"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "no target to choose" in lines[0]
