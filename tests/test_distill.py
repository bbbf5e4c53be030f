"""Distillation (`kerasbert.training.distill`, `python -m kerasbert.distill`) on
tiny random teachers: the student starts from the teacher's chosen layers, its
loss is the soft labels' KL plus the gold labels' cross-entropy, fitting it
moves it toward the teacher, unlabelled rows are trained on, and the student
directory is one that evaluate, predict, export and LoRA training read."""

import importlib
import json

import numpy as np
import pytest

from kerasbert.cli.flags import run_main
from tests.helpers import random_encoder_dir

TINY = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=64)
LABELS = ["0", "1"]  # SST-2's


def _main(program, *args):
    """`python -m kerasbert.PROGRAM ARGS` in this process; returns the exit code."""
    module = importlib.import_module(f"kerasbert.cli.{program}")
    flag_values = getattr(module, "FLAGS", None)
    if flag_values is not None:
        flag_values.unparse_flags()
    try:
        with pytest.raises(SystemExit) as exit_info:
            run_main(module.main, [f"kerasbert.{program}", *map(str, args)])
    finally:
        if flag_values is not None:
            flag_values.unparse_flags()
    return exit_info.value.code


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A random four-layer encoder (width 32) with the wheel's MiniLM vocabulary."""
    return random_encoder_dir(tmp_path_factory.mktemp("tiny_encoder"), **TINY)


@pytest.fixture(scope="module")
def sst2(test_data, tmp_path_factory):
    """Train (96 rows), dev (64 rows) and unlabelled (64 texts, a .txt) slices of SST-2."""
    folder = tmp_path_factory.mktemp("sst2")
    train = (test_data / "glue" / "SST-2" / "train.tsv").read_text().splitlines()
    dev = (test_data / "glue" / "SST-2" / "dev.tsv").read_text().splitlines()
    (folder / "train.tsv").write_text("\n".join(train[:97]) + "\n")
    (folder / "dev.tsv").write_text("\n".join(dev[:65]) + "\n")
    (folder / "more.txt").write_text("\n".join(r.split("\t")[0] for r in train[97:161]) + "\n")
    return folder


@pytest.fixture(scope="module")
def teacher(encoder_dir, sst2, tmp_path_factory):
    """A two-class classifier on the tiny encoder whose head reads its
    features with large weights (so that its labels vary with the text), as
    a model directory."""
    import keras

    import kerasbert

    keras.utils.set_random_seed(11)
    model = kerasbert.BertClassifier.from_preset(str(encoder_dir), num_classes=2,
                                                 sequence_length=32, labels=LABELS,
                                                 pooling="mean")
    logits = model.get_layer("logits")
    rng = np.random.RandomState(0)
    logits.kernel.assign(rng.normal(0, 2.0, logits.kernel.shape).astype("float32"))
    # Centred on the training texts: both labels are given, about half each.
    logits.bias.assign(-np.median(model.predict(_texts(sst2 / "train.tsv"), verbose=0), axis=0))
    directory = tmp_path_factory.mktemp("teacher") / "run"
    model.save_to_preset(str(directory))
    return directory


def _texts(path, column=0):
    return [line.split("\t")[column] for line in path.read_text().splitlines()[1:]]


def test_layer_map_keeps_the_last_layer_of_each_block():
    from kerasbert.training.distill import layer_map

    assert layer_map(6, 2) == [2, 5]
    assert layer_map(6, 3) == [1, 3, 5]
    assert layer_map(12, 6) == [1, 3, 5, 7, 9, 11]
    assert layer_map(4, 1) == [3]
    with pytest.raises(ValueError, match="between 1 and 5"):
        layer_map(6, 6)


def test_student_starts_from_the_teachers_chosen_layers(teacher):
    import kerasbert
    from kerasbert.training.distill import make_student

    model = kerasbert.BertClassifier.from_preset(str(teacher))
    student, chosen = make_student(model, 2)
    assert chosen == [1, 3]
    assert len(student.encoder.transformer_layers) == 2
    pairs = [(model.encoder.embeddings, student.encoder.embeddings),
             (model.get_layer("logits"), student.get_layer("logits"))]
    pairs += [(model.encoder.transformer_layers[t], s)
              for t, s in zip(chosen, student.encoder.transformer_layers)]
    for origin, target in pairs:
        assert len(origin.weights) == len(target.weights) > 0
        for a, b in zip(origin.weights, target.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # ... and not from the others: teacher layers 0 and 2 differ from what the student holds.
    other = model.encoder.transformer_layers[0].weights[0].numpy()
    assert not np.array_equal(other, student.encoder.transformer_layers[0].weights[0].numpy())
    assert student.labels == LABELS and student.pooling == "mean"

    # A narrower student: fewer heads of the same size, the leading block of each weight.
    narrow, _ = make_student(model, 2, hidden_size=16)
    config = narrow.encoder.bert_config
    assert (config["hidden_size"], config["num_attention_heads"],
            config["intermediate_size"]) == (16, 2, 32)
    word = model.encoder.embeddings.weights[0].numpy()
    np.testing.assert_array_equal(narrow.encoder.embeddings.weights[0].numpy(), word[:, :16])
    query = model.encoder.transformer_layers[3].weights[0].numpy()
    narrow_query = narrow.encoder.transformer_layers[1].weights[0].numpy()
    np.testing.assert_array_equal(narrow_query, query[tuple(slice(0, n)
                                                            for n in narrow_query.shape)])
    with pytest.raises(ValueError, match="multiple of the teacher's attention head size 8"):
        make_student(model, 2, hidden_size=12)


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_loss_is_the_soft_labels_kl_plus_the_gold_cross_entropy(teacher, sst2):
    import kerasbert
    from kerasbert.training.distill import Distiller, forward, make_student

    model = kerasbert.BertClassifier.from_preset(str(teacher))
    student, chosen = make_student(model, 1)
    head = student.get_layer("logits")  # a student that disagrees: a KL far from 0
    head.kernel.assign(np.random.RandomState(1).normal(0, 2.0, head.kernel.shape))
    texts = _texts(sst2 / "dev.tsv")[:6]
    labels = np.array([0, 1, -100, 1, -100, 0])  # two rows without a gold label
    features = model.preprocessor(texts)
    t, alpha = 3.0, 0.3
    distiller = Distiller(model, student, temperature=t, alpha=alpha)
    losses, labelled = distiller.compute_losses(features, labels)

    s_logits = student(features).numpy().astype(np.float64)
    t_logits = model(features).numpy().astype(np.float64)
    p, log_p, log_q = (np.exp(_log_softmax(t_logits / t)), _log_softmax(t_logits / t),
                       _log_softmax(s_logits / t))
    kl = t * t * (p * (log_p - log_q)).sum(-1).mean()
    keep = labels >= 0
    ce = -_log_softmax(s_logits)[keep, labels[keep]].mean()
    np.testing.assert_allclose(float(losses["soft_loss"]), kl, rtol=1e-4)
    np.testing.assert_allclose(float(losses["gold_loss"]), ce, rtol=1e-4)
    np.testing.assert_allclose(float(losses["loss"]), alpha * ce + (1 - alpha) * kl, rtol=1e-4)
    assert list(np.asarray(labelled)) == list(keep)

    # The hidden-state match: the layers called in turn give the model's own logits, and
    # the loss adds the mean squared error of the mapped layers (and the embeddings).
    logits, states = forward(student, features, hidden_states=True)
    np.testing.assert_allclose(logits.numpy(), student(features).numpy(), atol=1e-5)
    _, teacher_states = forward(model, features, hidden_states=True)
    mask = np.asarray(features["padding_mask"], np.float64)[:, :, None]
    errors = [((states[s].numpy() - teacher_states[u].numpy()) ** 2 * mask).sum()
              for s, u in ((0, 0), (1, chosen[0] + 1))]
    hidden = sum(errors) / (2 * 32 * mask.sum())
    with_hidden = Distiller(model, student, temperature=t, alpha=alpha, hidden_loss_weight=0.5,
                            layer_map=chosen)
    losses, _ = with_hidden.compute_losses(features, labels)
    np.testing.assert_allclose(float(losses["hidden_loss"]), hidden, rtol=1e-4)
    np.testing.assert_allclose(float(losses["loss"]),
                               alpha * ce + (1 - alpha) * kl + 0.5 * hidden, rtol=1e-4)


def test_soft_losses_of_regression_multilabel_and_tagging():
    import tensorflow as tf

    from kerasbert.tasks import get_task
    from kerasbert.training.distill import soft_loss

    rng = np.random.RandomState(3)
    s, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    mask = np.ones((4, 5), np.int32)
    mask[3] = 0  # a padding example: no loss
    total, count = soft_loss(get_task("regression"), s[:, :1], t[:, :1], mask, 2.0)
    assert float(count) == 3
    np.testing.assert_allclose(float(total), ((s[:3, 0] - t[:3, 0]) ** 2).sum(), rtol=1e-5)

    total, _ = soft_loss(get_task("multilabel", ["a", "b", "c"]), s, t, mask, 2.0)
    p, q = 1 / (1 + np.exp(-t / 2)), 1 / (1 + np.exp(-s / 2))
    kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    np.testing.assert_allclose(float(total), 4 * kl.mean(-1)[:3].sum(), rtol=1e-4)

    s, t = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 3))
    tokens = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    total, count = soft_loss(get_task("ner", ["O", "B-X", "I-X"]), tf.constant(s), tf.constant(t),
                             tokens, 1.0)
    log_p, log_q = _log_softmax(t), _log_softmax(s)
    per_token = (np.exp(log_p) * (log_p - log_q)).sum(-1)
    assert float(count) == 8
    np.testing.assert_allclose(float(total), (per_token * tokens).sum(), rtol=1e-4)


def test_distillation_moves_the_student_toward_the_teacher(teacher, sst2):
    import keras

    import kerasbert
    from kerasbert.training.distill import Distiller, make_student

    model = kerasbert.BertClassifier.from_preset(str(teacher))
    keras.utils.set_random_seed(1)
    student, chosen = make_student(model, 1)
    head = student.get_layer("logits")  # a student that starts far from its teacher
    head.kernel.assign(np.random.RandomState(2).normal(0, 2.0, head.kernel.shape))
    texts = _texts(sst2 / "train.tsv")
    teacher_labels = model.predict(texts, verbose=0).argmax(-1)
    assert len(set(teacher_labels)) > 1  # a teacher whose labels vary

    def agreement():
        return float((student.predict(texts, verbose=0).argmax(-1) == teacher_labels).mean())

    before = agreement()
    distiller = Distiller(model, student, temperature=1.0, alpha=0.0, layer_map=chosen)
    distiller.compile(learning_rate=3e-3, warmup_ratio=0.0)
    # No gold label at all: the teacher's soft labels are all there is to learn.
    history = distiller.fit(x=texts, y=np.full(len(texts), -100), batch_size=16, epochs=8,
                            verbose=0)
    after = agreement()
    soft = history.history["soft_loss"]
    assert soft[-1] < 0.5 * soft[0], soft
    # Between 0.84 and 0.91 by the order the rows come in (seeds, shuffle=False).
    assert before < 0.75 and after >= 0.8, (before, after)
    assert history.history["unlabelled_rows"][-1] == 8 * len(texts)
    assert history.history["labelled_rows"][-1] == 0


def test_the_command_line_writes_a_model_directory_the_programs_read(teacher, sst2, tmp_path,
                                                                      capsys):
    student_dir = tmp_path / "student"
    args = [f"--teacher={teacher}", "--num_layers=2", f"--train_data={sst2 / 'train.tsv'}",
            f"--eval_data={sst2 / 'dev.tsv'}", "--text_column=sentence",
            f"--unlabeled_data={sst2 / 'more.txt'}", f"--output_dir={student_dir}",
            "--batch_size=16", "--epochs=1", "--verbose=0"]
    assert _main("distill", *args) == 0
    assert "student layers from teacher layers [1, 3]" in capsys.readouterr().out
    result = json.loads((student_dir / "distill.json").read_text())
    # 96 labelled and 64 unlabelled rows in 10 batches of 16 (drawn at random between both).
    assert result["steps_per_epoch"] == 10
    assert result["labelled_rows"] + result["unlabelled_rows"] == 160
    assert result["unlabelled_rows"] > 0
    assert set(result["teacher"]) == set(result["student"]) and "accuracy" in result["student"]

    code = _main("evaluate", f"--model={student_dir}", f"--eval_data={sst2 / 'dev.tsv'}",
                 "--text_column=sentence", f"--output_dir={tmp_path / 'eval'}")
    assert code == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(result["student"]["accuracy"])
    assert json.loads((student_dir / "metrics.json").read_text())["accuracy"] == \
        pytest.approx(result["student"]["accuracy"])
    capsys.readouterr()
    assert _main("predict", f"--model={student_dir}", "a fine film", "dull") == 0
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["text"] for r in records] == ["a fine film", "dull"]
    assert all(r["label"] in LABELS for r in records)
    export_dir = tmp_path / "export"
    assert _main("export", f"--model={student_dir}", f"--export_dir={export_dir}") == 0
    assert (export_dir / "saved_model.pb").exists()

    # The same flags again start the run over; other flags are refused, in one line.
    assert _main("distill", *args[:-1], "--verbose=0", "--max_steps=1") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a run with other settings (--max_steps=0 there, 1 now)" \
        in err[0], err


@pytest.mark.parametrize("args, message", [
    (["--num_layers=4"], "--num_layers must be below the teacher's 4 layers, got 4"),
    (["--num_layers=0"], "--num_layers must be >= 1, got 0"),
    (["--teacher={tmp}/missing"], "--teacher needs a fine-tuned model directory, and "
                                     "{tmp}/missing does not exist"),
    (["--alpha=1.5"], "--alpha must be in [0, 1], got 1.5"),
    (["--temperature=0"], "--temperature must be > 0, got 0.0"),
    (["--hidden_size=12"], "--hidden_size must be a multiple of the teacher's attention head "
                           "size 8 below its width 32, got 12"),
    (["--hidden_size=16", "--hidden_loss_weight=1"], "--hidden_loss_weight needs a student of "
                                                     "the teacher's width"),
    (["--unlabeled_data={tmp}/none.txt"], "--unlabeled_data: file {tmp}/none.txt does not exist"),
    (["--output_dir={teacher}"], "--output_dir must not be the --teacher directory"),
])
def test_bad_flags_stop_before_any_work(teacher, sst2, tmp_path, capsys, args, message):
    base = {"teacher": f"--teacher={teacher}", "num_layers": "--num_layers=2",
            "output_dir": f"--output_dir={tmp_path}/out"}
    for arg in args:
        base[arg.split("=")[0][2:]] = arg
    argv = [a.format(tmp=tmp_path, teacher=teacher) for a in base.values()]
    code = _main("distill", *argv, f"--train_data={sst2 / 'train.tsv'}")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert message.format(tmp=tmp_path) in err[0]
    assert not (tmp_path / "out").exists()


def test_regression_multilabel_and_ner_teachers_distil_and_lora_trains_on_a_student(
        encoder_dir, sst2, test_data, tmp_path):
    from kerasbert.training.distill import distill
    from kerasbert.training.fine_tune import fine_tune

    import kerasbert

    recipe = dict(batch_size=16, epochs=1, verbose=0)
    kerasbert.BertRegressor.from_preset(str(encoder_dir), sequence_length=32).save_to_preset(
        str(tmp_path / "regression"))
    conll = (test_data / "english_ner" / "train.txt").read_text().split("\n\n")
    (tmp_path / "ner.txt").write_text("\n\n".join(conll[:40]) + "\n")
    # Tags in an order of their own: the student's data is read with the teacher's tags.
    tags = sorted({line.split()[-1] for block in conll[:40] for line in block.splitlines()},
                  reverse=True)
    kerasbert.BertTokenClassifier.from_preset(str(encoder_dir), num_tags=len(tags), labels=tags,
                                              sequence_length=32).save_to_preset(
        str(tmp_path / "ner"))

    result = distill(tmp_path / "regression", 1, str(sst2 / "train.tsv"), str(sst2 / "dev.tsv"),
                     str(tmp_path / "regression_student"), text_column="sentence",
                     unlabeled_data=str(sst2 / "more.txt"), **recipe)
    assert "pearson" in result["student"] and result["unlabelled_rows"] > 0
    # Multi-label: rows of label sets, unlabelled rows at -1 beside them.
    rows = [line.split("\t") for line in (sst2 / "train.tsv").read_text().splitlines()[1:]]
    (tmp_path / "multi.tsv").write_text("text\tlabel\n" + "".join(
        f"{text}\t{'good,film' if label.strip() == '1' else 'film'}\n" for text, label in rows))
    kerasbert.BertClassifier.from_preset(str(encoder_dir), num_classes=2, multi_label=True,
                                         labels=["film", "good"], sequence_length=32
                                         ).save_to_preset(str(tmp_path / "multilabel"))
    result = distill(tmp_path / "multilabel", 1, str(tmp_path / "multi.tsv"),
                     str(tmp_path / "multi.tsv"), str(tmp_path / "multilabel_student"),
                     unlabeled_data=str(sst2 / "more.txt"), **recipe)
    assert "f1_micro" in result["student"] and result["unlabelled_rows"] > 0

    sentences = [" ".join(line.split()[0] for line in block.splitlines())
                 for block in conll[40:60] if not block.startswith("-DOCSTART-")]
    (tmp_path / "ner_more.txt").write_text("\n".join(sentences) + "\n")
    result = distill(tmp_path / "ner", 2, str(tmp_path / "ner.txt"), str(tmp_path / "ner.txt"),
                     str(tmp_path / "ner_student"), unlabeled_data=str(tmp_path / "ner_more.txt"),
                     hidden_loss_weight=1.0, **recipe)
    assert "entity_f1" in result["student"] and result["unlabelled_rows"] > 0
    assert result["layer_map"] == [1, 3]
    student_tags = json.loads((tmp_path / "ner_student" / "kerasbert_task.json").read_text())
    assert student_tags["labels"] == tags

    # LoRA training from a student directory, as train --adapter=lora --model=STUDENT does.
    metrics = fine_tune(task="ner", train_data=str(tmp_path / "ner.txt"),
                        eval_data=str(tmp_path / "ner.txt"), model=str(tmp_path / "ner_student"), adapter="lora",
                        output_dir=str(tmp_path / "ner_lora"), max_seq_length=32, max_steps=2,
                        **recipe)
    # ... on the student's weights: its adapters start from the student's encoder.
    from kerasbert import BertEncoder

    lora_layers = BertEncoder.from_preset(str(tmp_path / "ner_lora" / "encoder")).bert_config
    assert lora_layers["num_hidden_layers"] == 2
    assert "entity_f1" in metrics and (tmp_path / "ner_lora" / "adapter.safetensors").exists()
