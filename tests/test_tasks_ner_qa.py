"""Token classification (CoNLL-2003's layout) and extractive QA (SQuAD): the tasks'
losses, metrics and predictions on real aligned data, and fine-tuning a tiny
randomly initialised encoder through `fine_tune` and `python -m kerasbert.train`."""

import dataclasses
import json
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from seqeval.metrics import accuracy_score
from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

from kerasbert import BertEncoder
from kerasbert.checkpoints.loading import save_encoder
from kerasbert.data.conll import read_conll
from kerasbert.data.errors import DataError
from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.ner_alignment import tagging_dataset
from kerasbert.data.qa_features import squad_features
from kerasbert.data.squad import read_squad
from kerasbert.tasks import get_task
from kerasbert.tasks.model_directory import load_model_directory
from kerasbert.tokenizers.bert_tokenizer import BertTokenizer
from kerasbert.training.fine_tune import fine_tune
from kerasbert.training.squad_data import SquadData
from kerasbert.training.tagging_data import TaggingData

TINY = dict(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=128, max_position_embeddings=64)
RECIPE = dict(max_seq_length=64, batch_size=16, learning_rate=2e-3, warmup_ratio=0.1,
              log_every_steps=1, checkpoint_every_steps=0, verbose=0, seed=1)
QA_WINDOWS = dict(doc_stride=32, max_query_length=24)
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


# -- fixtures: a tiny encoder directory, slices of the real data -----------------------------

@pytest.fixture(scope="module")
def vocab_file(test_data):
    return str(test_data / "checkpoints/bert_uncased_L-4_H-256_A-4/vocab.txt")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, vocab_file):
    """A randomly initialised 2-layer encoder with the real uncased vocabulary,
    saved in kerasbert's format (what `--model=DIR` loads)."""
    keras.utils.set_random_seed(0)
    directory = tmp_path_factory.mktemp("tiny_encoder")
    save_encoder(BertEncoder(**TINY), directory)
    BertTokenizer(vocab_file).save_to_dir(directory)
    return str(directory)


def _conll_slice(source, target, first, count):
    """Sentences `first..first+count-1` of a CoNLL file (blank-line blocks)."""
    blocks = [b for b in source.read_text(encoding="utf-8").split("\n\n")
              if b.strip() and not b.startswith("-DOCSTART-")]
    target.write_text("\n\n".join(blocks[first:first + count]) + "\n", encoding="utf-8")
    return str(target)


def _squad_slice(source, target, first, count):
    """Paragraphs `first..first+count-1` of the first article, as a SQuAD file."""
    data = json.loads(source.read_text(encoding="utf-8"))
    article = data["data"][0]
    sliced = {"version": data["version"], "data": [
        {"title": article["title"], "paragraphs": article["paragraphs"][first:first + count]}]}
    target.write_text(json.dumps(sliced), encoding="utf-8")
    return str(target)


@pytest.fixture()
def conll(test_data, tmp_path):
    train = test_data / "english_ner" / "train.txt"
    return (_conll_slice(train, tmp_path / "train.txt", 0, 256),
            _conll_slice(train, tmp_path / "dev.txt", 600, 64))


@pytest.fixture()
def squad(test_data, tmp_path):
    dev = test_data / "squad" / "dev-v1.1.json"
    return (_squad_slice(dev, tmp_path / "train.json", 0, 6),
            _squad_slice(dev, tmp_path / "dev.json", 30, 2))


def _train_losses(run_dir):
    """The per-update training losses the trainer logged to TensorBoard."""
    losses = []
    logs = os.path.join(run_dir, "logs", "train")
    for name in sorted(os.listdir(logs)):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(logs, name)):
            losses += [(event.step, float(tf.make_ndarray(v.tensor)))
                       for v in event.summary.value if v.tag == "loss"]
    return [loss for _, loss in sorted(losses)]


def _assert_loss_falls(run_dir, steps):
    losses = _train_losses(run_dir)
    assert len(losses) == steps
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.75 * first, losses
    return first, last


def _numpy_cross_entropy(labels, logits):
    logits = logits - logits.max(-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]


# -- token classification -------------------------------------------------------------------

@pytest.fixture(scope="module")
def aligned_valid(test_data, vocab_file):
    """200 English NER validation sentences (CoNLL-2003's layout) through the real
    alignment, in file order (static batches of 40, no shuffling)."""
    sentences = read_conll(test_data / "english_ner" / "valid.txt")[:200]
    vocabulary = LabelVocabulary.from_examples(read_conll(test_data / "english_ner" / "train.txt"))
    tokenizer = BertTokenizer(vocab_file, sequence_length=128)
    dataset = tagging_dataset(sentences, tokenizer, vocabulary, batch_size=40, mode="static",
                              keep_word_ids=True)
    labels = np.concatenate([batch_labels.numpy() for _, batch_labels in dataset])
    word_ids = np.concatenate([features["word_ids"].numpy() for features, _ in dataset])
    # No sentence lost a word to truncation, so every word has a position.
    assert [row.max() + 1 for row in word_ids] == [len(s.words) for s in sentences]
    return sentences, vocabulary, labels, word_ids


def _first_piece_tags(predicted_ids, word_ids, vocabulary):
    """Per sentence, the predicted tag at each word's first position."""
    tags = []
    for ids, words in zip(predicted_ids, word_ids):
        first = {}
        for position, word in enumerate(words):
            first.setdefault(word, position)
        tags.append([vocabulary.decode(ids[first[w]]) for w in range(words.max() + 1)])
    return tags


def test_ner_loss_is_the_mean_cross_entropy_over_scored_positions(aligned_valid):
    _, vocabulary, labels, _ = aligned_valid
    task = get_task("ner", vocabulary.labels)
    logits = np.random.default_rng(0).normal(size=labels.shape + (len(vocabulary),))
    total, count = task.loss(tf.constant(labels), tf.constant(logits, tf.float32))
    scored = labels >= 0
    expected = _numpy_cross_entropy(np.where(scored, labels, 0), logits)[scored]
    assert int(count) == scored.sum() == sum(len(s.words) for s in aligned_valid[0])
    assert float(total) / float(count) == pytest.approx(expected.mean(), rel=1e-5)


def test_ner_metrics_are_seqeval_on_the_gold_words(aligned_valid):
    sentences, vocabulary, labels, word_ids = aligned_valid
    task = get_task("ner", vocabulary.labels)
    rng = np.random.default_rng(1)
    # Gold tags with a fifth of the positions replaced by random tags.
    predicted_ids = np.where(rng.random(labels.shape) < 0.2,
                             rng.integers(0, len(vocabulary), labels.shape), np.maximum(labels, 0))
    logits = np.eye(len(vocabulary))[predicted_ids] * 5.0
    metrics = task.compute_metrics(logits, labels, word_ids)
    gold = [list(s.tags) for s in sentences]
    predicted = _first_piece_tags(predicted_ids, word_ids, vocabulary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = precision_recall_fscore_support(gold, predicted, average="micro")
    expected = {"entity_precision": p, "entity_recall": r, "entity_f1": f,
                "accuracy": accuracy_score(gold, predicted)}
    assert {k: metrics[k] for k in expected} == pytest.approx(expected, abs=1e-12)
    assert 0.3 < metrics["entity_f1"] < 0.95 and 0.6 < metrics["accuracy"] < 0.95
    # Without word_ids the labelled positions give the same words.
    assert task.compute_metrics(logits, labels) == metrics
    perfect = task.compute_metrics(np.eye(len(vocabulary))[np.maximum(labels, 0)], labels)
    assert perfect["entity_f1"] == 1.0 and perfect["accuracy"] == 1.0


def test_ner_postprocess_gives_entity_spans_with_text(aligned_valid):
    sentences, vocabulary, labels, word_ids = aligned_valid
    task = get_task("ner", vocabulary.labels)
    logits = np.eye(len(vocabulary))[np.maximum(labels, 0)] * 8.0
    entities = task.postprocess(logits, word_ids, [list(s.words) for s in sentences])
    found = 0
    for sentence, sentence_entities in zip(sentences, entities):
        expected = [(t, first, last + 1) for t, first, last in get_entities(list(sentence.tags))]
        assert [(x["type"], x["start"], x["end"]) for x in sentence_entities] == expected
        for x in sentence_entities:
            assert x["text"] == " ".join(sentence.words[x["start"]:x["end"]])
            assert 0.99 < x["score"] <= 1.0
        found += len(sentence_entities)
    assert found > 100


def test_ner_dev_tag_unseen_in_train_names_the_line(tmp_path):
    train, dev = tmp_path / "train.txt", tmp_path / "dev.txt"
    train.write_text("Paris B-LOC\nis O\n\nnice O\n", encoding="utf-8")
    dev.write_text("Paris B-LOC\n\nBob B-PER\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev.txt, line 3, field 'tag'.*'B-PER'"):
        TaggingData.read(str(train), str(dev))


def test_ner_fine_tunes_reloads_and_scores_the_same(conll, tmp_path, tiny_model):
    out = str(tmp_path / "ner_model")
    metrics = fine_tune(task="ner", train_data=conll[0], eval_data=conll[1], model=tiny_model,
                        output_dir=out, epochs=2, **RECIPE)
    first, last = _assert_loss_falls(out, 2 * (256 // 16))
    print(f"ner loss {first:.3f} -> {last:.3f}; dev {metrics}")
    assert {"entity_f1", "entity_precision", "entity_recall", "accuracy"} <= set(metrics)
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("entity_f1", "entity_precision",
                                                    "entity_recall", "accuracy"))
    dev_tags = [t for s in read_conll(conll[1]) for t in s.tags]
    assert metrics["accuracy"] >= dev_tags.count("O") / len(dev_tags) - 0.05
    with open(os.path.join(out, "metrics.json")) as f:
        assert json.load(f) == pytest.approx(metrics)
    train_tags = sorted({t for s in read_conll(conll[0]) for t in s.tags})
    assert LabelVocabulary.load(out).labels == train_tags
    # The model directory loads back as the same NER model.
    model, task, tokenizer, meta = load_model_directory(out)
    assert (task.name, task.labels, meta["head"]) == ("ner", train_tags, "sequence")
    data = TaggingData.read(conll[0], conll[1])
    inputs = data.inputs(tokenizer, batch_size=16, seed=0, batch_mode="bucket")
    # Training also says how many dev sentences its evaluation scored: all of them.
    assert metrics.pop("eval_examples") == len(read_conll(conll[1]))
    assert inputs.evaluate_fn(model) == pytest.approx(metrics, abs=1e-6)


# -- question answering ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def dev_questions(test_data):
    return read_squad(test_data / "squad" / "dev-v1.1.json")[:120]


@pytest.fixture(scope="module")
def dev_features(dev_questions, vocab_file):
    tokenizer = BertTokenizer(vocab_file, sequence_length=128)
    return squad_features(dev_questions, tokenizer, sequence_length=128, doc_stride=48)


def _oracle_logits(features):
    """Logits pointing at each window's target (the answer, or [CLS]), over
    small noise (so that every window has valid spans, scoring about 0)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 0.1, features.token_ids.shape + (2,)).astype(np.float32)
    rows = np.arange(len(features))
    logits[rows, features.start_positions, 0] = 10.0
    logits[rows, features.end_positions, 1] = 10.0
    return logits


def test_qa_loss_is_the_mean_of_start_and_end_cross_entropy(dev_features):
    task = get_task("qa")
    logits = np.random.default_rng(0).normal(size=dev_features.token_ids.shape + (2,))
    labels = {"start_positions": dev_features.start_positions,
              "end_positions": dev_features.end_positions}
    total, count = task.loss({k: tf.constant(v) for k, v in labels.items()},
                             tf.constant(logits, tf.float32))
    expected = (_numpy_cross_entropy(labels["start_positions"], logits[..., 0])
                + _numpy_cross_entropy(labels["end_positions"], logits[..., 1])) / 2
    assert int(count) == len(dev_features) > 120  # some questions need several windows
    assert float(total) / float(count) == pytest.approx(expected.mean(), rel=1e-5)


def test_qa_metrics_and_answers_from_oracle_logits(dev_features):
    task = get_task("qa")
    logits = _oracle_logits(dev_features)
    metrics = task.compute_metrics(logits, dev_features)
    assert set(metrics) == {"exact_match", "f1"}
    assert 90.0 <= metrics["exact_match"] <= metrics["f1"] <= 100.0
    answers = task.postprocess(logits, dev_features)
    assert [a["id"] for a in answers] == [e.qas_id for e in dev_features.examples]
    for answer, example in zip(answers, dev_features.examples):
        assert answer["answer"] in example.context
        assert answer["score"] == pytest.approx(20.0, abs=1.0)
    random_logits = np.random.default_rng(0).normal(size=logits.shape)
    assert task.compute_metrics(random_logits, dev_features)["f1"] < 30.0


def test_qa_version_2_predicts_no_answer_from_cls_with_a_threshold(dev_questions, vocab_file):
    examples = [dataclasses.replace(e, answers=(), is_impossible=True) if i % 4 == 0 else e
                for i, e in enumerate(dev_questions[:40])]
    tokenizer = BertTokenizer(vocab_file, sequence_length=128)
    features = squad_features(examples, tokenizer, sequence_length=128, doc_stride=48)
    logits = _oracle_logits(features)
    task = get_task("qa", None, version_2_with_negative=True)
    metrics = task.compute_metrics(logits, features)
    assert metrics["no_answer_total"] == 10 and metrics["has_answer_total"] == 30
    assert metrics["no_answer_exact_match"] == 100.0
    assert metrics["has_answer_exact_match"] >= 90.0
    answers = {a["id"]: a["answer"] for a in task.postprocess(logits, features)}
    assert all(answers[e.qas_id] == "" for e in examples if e.is_impossible)
    # Null score ~20 vs best span ~0 on unanswerable questions: a threshold above the
    # margin turns them into span answers.
    lenient = get_task("qa", None, version_2_with_negative=True, null_score_diff_threshold=25.0)
    assert lenient.compute_metrics(logits, features)["no_answer_exact_match"] == 0.0
    # A v1.1 task refuses to score unanswerable questions.
    with pytest.raises(ValueError, match="version_2=True"):
        get_task("qa").compute_metrics(logits, features)


def test_qa_v1_refuses_unanswerable_questions(tmp_path):
    path = tmp_path / "v2.json"
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": [{
        "context": "Paris is in France.", "qas": [
            {"id": "q1", "question": "Where?", "answers": [{"text": "France",
                                                             "answer_start": 12}]},
            {"id": "q2", "question": "Why?", "answers": [], "is_impossible": True}]}]}]}))
    with pytest.raises(DataError, match="record q2.*version_2_with_negative"):
        SquadData.read(str(path))
    data = SquadData.read(str(path), version_2_with_negative=True)
    assert [e.is_impossible for e in data.train] == [False, True]


def test_qa_fine_tunes_reloads_and_scores_the_same(squad, tmp_path, tiny_model):
    out = str(tmp_path / "qa_model")
    metrics = fine_tune(task="qa", train_data=squad[0], eval_data=squad[1], model=tiny_model,
                        output_dir=out, epochs=3, **QA_WINDOWS, **RECIPE)
    data = SquadData.read(squad[0], squad[1], **QA_WINDOWS)
    model, task, tokenizer, meta = load_model_directory(out)
    windows = len(data.features(data.train, tokenizer))
    first, last = _assert_loss_falls(out, 3 * (windows // 16))
    print(f"qa loss {first:.3f} -> {last:.3f} over {windows} windows; dev {metrics}")
    # Training's evaluation scored every dev window (eval_examples counts windows).
    assert metrics.pop("eval_examples") == len(data.features(data.dev, tokenizer))
    assert set(metrics) == {"exact_match", "f1"}
    assert 0.0 <= metrics["exact_match"] <= metrics["f1"] <= 100.0
    assert (task.name, task.doc_stride, task.max_query_length) == ("qa", 32, 24)
    assert meta["num_outputs"] == 2 and tokenizer.sequence_length == 64
    inputs = data.inputs(tokenizer, batch_size=16, seed=0, batch_mode="static")
    assert inputs.evaluate_fn(model) == pytest.approx(metrics, abs=1e-6)


# -- the command line -----------------------------------------------------------------------

def _train_cli(*args):
    return subprocess.run([sys.executable, "-m", "kerasbert.train", *args], capture_output=True,
                          text=True, env=ENV, timeout=300)


def _recipe_flags():
    return ["--max_seq_length=64", "--batch_size=16", "--learning_rate=2e-3", "--verbose=0",
            "--checkpoint_every_steps=0", "--epochs=1"]


def test_cli_trains_ner_with_case_markers(conll, tmp_path, tiny_model):
    from kerasbert.serving.predictor import Predictor

    out = tmp_path / "cli_ner"
    result = _train_cli("--task=ner", f"--train_data={conll[0]}", f"--eval_data={conll[1]}",
                        f"--model={tiny_model}", f"--output_dir={out}", "--case_markers",
                        *_recipe_flags())
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["entity_f1"] <= 1.0 and "entity_f1" in result.stdout
    saved = json.loads((out / "kerasbert_task.json").read_text())
    assert (saved["task"], saved["settings"]) == ("ner", {"case_markers": True,
                                                         "ner_head": "softmax"})
    assert len(LabelVocabulary.load(out)) == 9
    # The reloaded model marks the words as training did: the same dev metrics.
    evaluation = Predictor.from_directory(out).evaluate(conll[1])
    assert metrics.pop("eval_examples") == evaluation.num_examples
    assert evaluation.metrics == pytest.approx(metrics, abs=1e-6)


def test_cli_trains_qa(squad, tmp_path, tiny_model):
    out = tmp_path / "cli_qa"
    result = _train_cli("--task=qa", f"--train_data={squad[0]}", f"--eval_data={squad[1]}",
                        f"--model={tiny_model}", f"--output_dir={out}", "--doc_stride=32",
                        "--max_query_length=24", *_recipe_flags())
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert "exact_match" in result.stdout
    # The scores written are the official script's (written out in tests/reference.py)
    # for the answers the trained model gives to the dev questions.
    from kerasbert.serving.predictor import Predictor
    from tests.reference import squad_v1_scores

    questions = [qa for article in json.loads(open(squad[1], encoding="utf-8").read())["data"]
                 for paragraph in article["paragraphs"]
                 for qa in [dict(q, context=paragraph["context"]) for q in paragraph["qas"]]]
    records = Predictor.from_directory(str(out)).predict(
        {"question": [q["question"] for q in questions],
         "context": [q["context"] for q in questions]})
    exact_match, f1 = squad_v1_scores(
        {q["id"]: r["answer"] for q, r in zip(questions, records)},
        {q["id"]: [a["text"] for a in q["answers"]] for q in questions})
    assert len(records) == len(questions) > 5
    assert metrics["exact_match"] == pytest.approx(exact_match, abs=1e-6)
    assert metrics["f1"] == pytest.approx(f1, abs=1e-6)


def test_cli_qa_query_longer_than_the_sequence_is_a_one_line_error(squad, tmp_path, tiny_model):
    result = _train_cli("--task=qa", f"--train_data={squad[0]}", f"--model={tiny_model}",
                        f"--output_dir={tmp_path / 'x'}", "--max_seq_length=32",
                        "--max_query_length=64")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "max_query_length + 4" in lines[0], result.stderr


def test_ner_training_batches_equal_the_tagging_pipeline(aligned_valid, vocab_file):
    """The once-aligned sentences that fine_tune batches each epoch hold what
    `ner_alignment.tagging_dataset` gives for the same sentences."""
    from kerasbert.data.ner_alignment import tagging_dataset as pipeline
    from kerasbert.training.tagging_data import aligned_sentences, sentence_batches

    sentences, vocabulary, _, _ = aligned_valid
    tokenizer = BertTokenizer(vocab_file, sequence_length=32)  # some sentences get cut
    ours = sentence_batches(aligned_sentences(sentences, tokenizer, vocabulary), tokenizer,
                            batch_size=40, mode="static", keep_word_ids=True)
    theirs = pipeline(sentences, tokenizer, vocabulary, batch_size=40, mode="static",
                      keep_word_ids=True)
    batches = 0
    for (f1, l1), (f2, l2) in zip(ours, theirs):
        assert set(f1) == set(f2) == {"token_ids", "segment_ids", "padding_mask", "word_ids"}
        for name in f1:
            np.testing.assert_array_equal(f1[name].numpy(), f2[name].numpy())
        np.testing.assert_array_equal(l1.numpy(), l2.numpy())
        batches += 1
    assert batches == 5
    shuffled = [f["token_ids"].numpy() for f, _ in sentence_batches(
        aligned_sentences(sentences, tokenizer, vocabulary), tokenizer, batch_size=40,
        mode="bucket", shuffle=True, seed=3)]
    assert sum(len(b) for b in shuffled) == len(sentences)
