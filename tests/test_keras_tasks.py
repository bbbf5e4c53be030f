"""The Keras task models as a Keras user drives them: `from_preset`, `compile()`
with no arguments, `fit` / `evaluate` / `predict` on raw text, the standard
callbacks (BackupAndRestore across a kill -9), `.keras` and preset round
trips, MirroredStrategy, the dtype policy, and the task registry."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasbert
from kerasbert.encoder.bert_encoder import BertEncoder
from kerasbert.tasks import registry

TINY = "bert_tiny_en_uncased"  # L-2 H-128 from the hub stand-in
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
POSITIVE = ["a great and moving film", "wonderful acting , great story", "i loved it",
            "great fun from start to end", "a moving , wonderful story", "loved every minute"]
NEGATIVE = ["a dull and boring film", "awful acting , terrible story", "i hated it",
            "boring from start to end", "a terrible , awful mess", "hated every minute"]
TEXTS = POSITIVE + NEGATIVE
LABELS = [1] * len(POSITIVE) + [0] * len(NEGATIVE)


def _classifier(**kwargs):
    keras.utils.set_random_seed(7)
    return kerasbert.BertClassifier.from_preset(TINY, num_classes=2, sequence_length=16,
                                                labels=["negative", "positive"], **kwargs)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A classifier fitted on raw strings with compile()'s defaults, and its history."""
    model = _classifier()
    model.compile(learning_rate=1e-3)
    before = model.evaluate(TEXTS, LABELS, verbose=0)[0]
    history = model.fit(TEXTS, LABELS, batch_size=4, epochs=4, verbose=0)
    history.loss_before = before
    return model, history


def test_compile_defaults_are_the_recipe_sized_from_fit(fitted):
    model, history = fitted
    assert isinstance(model.optimizer, kerasbert.optimization.BertAdamW)
    # 12 examples in batches of 4 for 4 epochs: 12 updates, 10% of them warm-up.
    schedule = model._schedule
    assert (schedule.total_steps, schedule.warmup_steps) == (12, 1)
    assert int(model.optimizer.iterations) == 12
    # The schedule's factors multiply the peak rate, a variable the callbacks can set.
    assert float(schedule(12)) == 0.0 and float(schedule(1)) == pytest.approx(1.0)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert float(model.optimizer.current_learning_rate) == 0.0  # the decay reached 0
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    losses = history.history["loss"]
    assert len(losses) == 4 and set(history.history) == {"loss", "accuracy"}
    # evaluate() on raw strings scores what fit() learnt.
    assert model.evaluate(TEXTS, LABELS, verbose=0)[0] < history.loss_before


def test_raw_strings_and_features_give_the_same_predictions(fitted):
    model, _ = fitted
    logits = model.predict(TEXTS[:3], verbose=0)
    assert logits.shape == (3, 2)
    features = model.preprocessor.tokenizer(TEXTS[:3])
    from_features = model.predict({k: v.numpy() for k, v in features.items()}, verbose=0)
    np.testing.assert_allclose(from_features, logits, atol=1e-6)
    from_dataset = model.predict(tf.data.Dataset.from_tensor_slices(TEXTS[:3]).batch(2),
                                 verbose=0)
    np.testing.assert_allclose(from_dataset, logits, atol=1e-6)
    assert model.predict(np.array(TEXTS[:3]), verbose=0) == pytest.approx(logits, abs=1e-6)


def test_keras_file_and_preset_round_trips_are_exact(fitted, tmp_path):
    model, _ = fitted
    expected = model.predict(TEXTS, verbose=0)
    model.save(tmp_path / "sentiment.keras")
    loaded = keras.models.load_model(tmp_path / "sentiment.keras")
    assert type(loaded) is kerasbert.BertClassifier and loaded.labels == ["negative", "positive"]
    np.testing.assert_array_equal(loaded.predict(TEXTS, verbose=0), expected)
    # Compiled again with the recipe on load: it can go on training.
    assert isinstance(loaded.optimizer, kerasbert.optimization.BertAdamW)

    preset = tmp_path / "preset"
    model.save_to_preset(preset)
    # Each weight once: the encoder's and the head's (no model.keras beside them).
    assert sorted(os.listdir(preset)) == ["encoder", "head.safetensors", "kerasbert_task.json"]
    reloaded = kerasbert.BertClassifier.from_preset(preset)
    np.testing.assert_array_equal(reloaded.predict(TEXTS, verbose=0), expected)
    assert reloaded.preprocessor.sequence_length == 16
    with pytest.raises(ValueError, match="BertClassifier, not a BertRegressor"):
        kerasbert.BertRegressor.from_preset(preset)


def test_fit_and_evaluate_batch_raw_text_by_length_as_the_command_line_does(fitted):
    """Labelled raw text goes in batches of similar length, each padded to its
    longest (`data.pipeline.text_batches`, as `kerasbert.train`): the loss is
    that of every row padded to `sequence_length`; predict keeps the order."""
    model, _ = fitted
    texts = TEXTS + ["a much longer review that goes on and on about the film"] * 4
    labels = LABELS + [1] * 4
    batches = list(model._batched(texts, labels, None, 4, bucket=True))
    assert len(batches) == 4
    widths = [features["token_ids"].shape[1] for features, _ in batches]
    lengths = [int(m.sum(axis=1).max()) for m in (f["padding_mask"].numpy() for f, _ in batches)]
    assert widths == lengths and max(widths) == 14 and min(widths) < 9
    assert sorted(np.concatenate([y.numpy() for _, y in batches]).tolist()) == sorted(labels)
    padded = {k: v.numpy() for k, v in model.preprocessor.tokenizer(texts).items()}
    np.testing.assert_allclose(model.evaluate(texts, labels, batch_size=4, verbose=0),
                               model.evaluate(padded, np.array(labels), batch_size=4, verbose=0),
                               rtol=1e-5)
    weights = np.array([1.0] * len(TEXTS) + [0.0] * 4)  # weighted in the same batches
    np.testing.assert_allclose(
        model.evaluate(texts, labels, sample_weight=weights, batch_size=16, verbose=0),
        model.evaluate(padded, np.array(labels), sample_weight=weights, batch_size=16,
                       verbose=0), rtol=1e-5)


def test_fit_traces_its_train_step_once():
    """fit's loop (the package's Trainer) traces its train step once, for every
    length bucket: compile()'s optimizer, loss and metrics are built before
    the loop (variables made while tracing would make TensorFlow trace it a
    second time). The model is called in training mode only while tracing."""
    model = _classifier()
    model.compile(learning_rate=1e-3)
    traces, call = [], model.call

    def counted(inputs, training=None, mask=None):
        if training:
            traces.append(inputs["token_ids"].shape.as_list())
        return call(inputs, training=training, mask=mask)

    object.__setattr__(model, "call", counted)  # an attribute Keras does not track
    history = model.fit(TEXTS, LABELS, batch_size=4, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    model.fit(TEXTS, LABELS, batch_size=4, epochs=1, verbose=0)  # kept, as Keras keeps it
    assert traces == [[None, None]]  # one graph for every length bucket and fit


def test_fit_on_a_dataset_creator_with_the_task_loss_makes_the_updates_of_fit_on_its_batches():
    """What `kerasbert.train` does: `compile_for_run` (the recipe's optimizer,
    the task's own loss) and `fit` on a `DatasetCreator` (a function of the
    epoch) with a `TrainingRun`. Its updates are those of `fit` on the same
    batches compiled with Keras' cross-entropy (the task's sum over labelled
    rows / their count is that mean here)."""
    from kerasbert.configs.training import TrainingConfig
    from kerasbert.loop.trainer import (DatasetCreator, TrainingRun, compile_for_run,
                                        recipe_optimizer)

    features = _classifier().preprocessor.tokenizer(TEXTS)
    batches = tf.data.Dataset.from_tensor_slices((dict(features), LABELS)).batch(4)
    config = TrainingConfig(epochs=2, batch_size=4, learning_rate=1e-3, clip_norm=0.0,
                            verbose=0)
    run_model, keras_model = _classifier(dropout=0.0), _classifier(dropout=0.0)
    compile_for_run(run_model, run_model.task_spec(), config, total_steps=6)
    epochs, run = [], TrainingRun(config, run_model.task_spec())

    def dataset_fn(epoch, input_context):
        epochs.append(epoch)
        return batches

    with pytest.raises(ValueError, match="fit on a DatasetCreator needs steps_per_epoch"):
        run_model.fit(DatasetCreator(dataset_fn), batch_size=4, epochs=2)
    run_model.fit(DatasetCreator(dataset_fn), batch_size=4, epochs=2, steps_per_epoch=3,
                  callbacks=[run])
    keras_model.compile(optimizer=recipe_optimizer(keras_model, config, 6),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=None)
    keras_model.fit(batches, epochs=2, shuffle=False, verbose=0)
    assert epochs == [0, 1] and int(run.trainer.state.step) == 6
    assert int(run_model.optimizer.iterations) == int(keras_model.optimizer.iterations) == 6
    for a, b in zip(run_model.weights, keras_model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=a.path)


def test_sentence_pairs_and_validation_split():
    model = _classifier()
    model.compile()
    history = model.fit((TEXTS, TEXTS[::-1]), LABELS, batch_size=4, validation_split=0.25,
                        verbose=0)
    assert {"val_loss", "val_accuracy"} <= set(history.history)
    features = model.preprocessor((tf.constant(TEXTS[:1]), tf.constant(TEXTS[-1:])))
    assert features["segment_ids"].numpy().max() == 1  # the pair is in the second segment
    assert model.predict((TEXTS[:1], TEXTS[-1:]), verbose=0).shape == (1, 2)


def test_standard_callbacks(tmp_path):
    model = _classifier()
    model.compile(learning_rate=1e-3)
    logs, checkpoint = tmp_path / "tensorboard", tmp_path / "best.keras"
    history = model.fit(
        TEXTS, LABELS, batch_size=4, epochs=6, verbose=0, validation_data=(TEXTS, LABELS),
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0),
                   keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss"),
                   keras.callbacks.TensorBoard(logs),
                   keras.callbacks.CSVLogger(tmp_path / "log.csv")])
    # min_delta=10 is never met: EarlyStopping stops after the second epoch.
    assert len(history.history["loss"]) == 2
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert float(rows[-1]["loss"]) == pytest.approx(history.history["loss"][-1], rel=1e-6)
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(logs / "train"))
    np.testing.assert_array_equal(
        keras.models.load_model(checkpoint).predict(TEXTS, verbose=0),
        model.predict(TEXTS, verbose=0))


BACKUP_RUN = textwrap.dedent("""
    import os, signal, sys
    import keras, kerasbert
    sys.path.insert(0, {tests!r})
    import test_keras_tasks as t

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # after the backup of the second epoch
                os.kill(os.getpid(), signal.SIGKILL)

    model = t._backup_model()
    model.fit(t.TEXTS, t.LABELS, batch_size=4, epochs=4, verbose=0,
              callbacks=[keras.callbacks.BackupAndRestore({backup!r}), Kill()])
""")


def _backup_model():
    keras.utils.set_random_seed(11)
    model = kerasbert.BertClassifier.from_preset(TINY, num_classes=2, sequence_length=16,
                                                 dropout=0.0)
    model.compile(learning_rate=1e-3)
    return model


def test_backup_and_restore_resumes_a_killed_fit_to_the_same_weights(tmp_path):
    """Shuffled, as fit shuffles by default: each epoch's order depends on the
    fit's seed and the epoch only, so the resumed epochs see the rows the
    killed run would have."""
    backup = str(tmp_path / "backup")
    script = BACKUP_RUN.format(tests=os.path.dirname(__file__), backup=backup)
    killed = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert os.path.isdir(backup)

    epochs = []
    resumed = _backup_model()
    resumed.fit(TEXTS, LABELS, batch_size=4, epochs=4, verbose=0,
                callbacks=[keras.callbacks.BackupAndRestore(backup),
                           keras.callbacks.LambdaCallback(
                               on_epoch_begin=lambda epoch, logs: epochs.append(epoch))])
    assert epochs == [2, 3]  # the two epochs the killed run had not finished
    straight = _backup_model()
    straight.fit(TEXTS, LABELS, batch_size=4, epochs=4, verbose=0)
    assert int(resumed.optimizer.iterations) == int(straight.optimizer.iterations) == 12
    for a, b in zip(resumed.weights, straight.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=a.path)


MIRRORED_RUN = textwrap.dedent("""
    import json, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, kerasbert
    texts, labels = {texts!r}, {labels!r}

    def train(strategy):
        keras.utils.set_random_seed(3)
        with strategy.scope():
            model = kerasbert.BertClassifier.from_preset({tiny!r}, num_classes=2,
                                                         sequence_length=16, dropout=0.0)
            model.compile(learning_rate=1e-3)
        history = model.fit(texts, labels, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return history.history["loss"], model.predict(texts, verbose=0).tolist()

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    print(json.dumps({{"replicas": mirrored.num_replicas_in_sync,
                      "mirrored": train(mirrored), "one": train(tf.distribute.get_strategy())}}))
""")


def test_mirrored_strategy_over_two_cpus_fits_raw_strings():
    """fit on raw strings over 2 replicas makes the updates of one device."""
    script = MIRRORED_RUN.format(tiny=TINY, texts=TEXTS, labels=LABELS)
    out = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    (mirrored_loss, mirrored_logits), (one_loss, one_logits) = result["mirrored"], result["one"]
    np.testing.assert_allclose(mirrored_loss, one_loss, rtol=1e-4)
    np.testing.assert_allclose(mirrored_logits, one_logits, atol=1e-4)
    assert np.asarray(mirrored_logits).shape == (len(TEXTS), 2)


def test_multi_label_and_regression_have_their_own_defaults(tmp_path):
    keras.utils.set_random_seed(5)
    multi = kerasbert.BertClassifier.from_preset(TINY, num_classes=3, multi_label=True,
                                                 sequence_length=16)
    multi.compile(learning_rate=1e-3)
    y = np.array([[1, 0, 1], [0, 1, 0]] * 6, "float32")
    losses = multi.fit(TEXTS, y, batch_size=4, epochs=3, verbose=0).history["loss"]
    assert isinstance(multi.loss, keras.losses.BinaryCrossentropy) and losses[-1] < losses[0]
    multi.save_to_preset(tmp_path / "multi")
    assert json.loads((tmp_path / "multi" / "kerasbert_task.json").read_text())["task"] == \
        "multilabel"
    again = kerasbert.BertClassifier.from_preset(tmp_path / "multi")
    assert again.multi_label
    np.testing.assert_array_equal(again.predict(TEXTS, verbose=0), multi.predict(TEXTS, verbose=0))

    regressor = kerasbert.BertRegressor.from_preset(TINY, sequence_length=16)
    regressor.compile(learning_rate=1e-3)
    scores = np.linspace(0.0, 5.0, len(TEXTS)).astype("float32")
    history = regressor.fit(TEXTS, scores, batch_size=4, epochs=3, verbose=0).history
    assert isinstance(regressor.loss, keras.losses.MeanSquaredError)
    assert history["loss"][-1] < history["loss"][0]
    assert regressor.predict(TEXTS, verbose=0).shape == (len(TEXTS), 1)


WORDS = [["John", "lives", "in", "Paris"], ["Mary", "visited", "Rome", "yesterday", "."],
         ["The", "Smiths", "left", "London"]] * 4
TAGS = [[1, 0, 0, 2], [1, 0, 2, 0, 0], [0, 1, 0, 2]] * 4


def test_a_keras_model_in_memory_serves_and_exports_raw_strings(fitted, tmp_path):
    # No model directory: the fitted Keras model itself is served and exported,
    # and gives what its preset directory gives through kerasbert.export.
    from kerasbert.serving import Predictor, export_saved_model
    from kerasbert.tasks.classification import softmax

    model, _ = fitted
    probabilities = softmax(model.predict(TEXTS, verbose=0))
    records = Predictor.from_model(model).predict({"text": TEXTS})
    assert [r["label"] for r in records] == [
        ["negative", "positive"][i] for i in probabilities.argmax(-1)]
    np.testing.assert_allclose([r["probabilities"]["positive"] for r in records],
                               probabilities[:, 1], atol=1e-5)
    model.export(tmp_path / "exported")  # Keras' call: raw strings in, as below
    model.save_to_preset(tmp_path / "preset")
    export_saved_model(tmp_path / "preset", tmp_path / "from_preset")
    outputs = []
    for name in ("exported", "from_preset"):
        loaded = tf.saved_model.load(str(tmp_path / name))
        serve = loaded.signatures["serving_default"]
        outputs.append({k: v.numpy() for k, v in serve(text=tf.constant(TEXTS)).items()})
        np.testing.assert_allclose(outputs[-1]["probabilities"], probabilities, atol=1e-5)
        assert [x.decode() for x in outputs[-1]["labels"]] == [r["label"] for r in records]
    np.testing.assert_array_equal(outputs[0]["probabilities"], outputs[1]["probabilities"])
    assert json.loads((tmp_path / "exported" / "assets.extra" / "kerasbert_task.json")
                      .read_text()) == json.loads(
        (tmp_path / "preset" / "kerasbert_task.json").read_text())
    bare = kerasbert.BertClassifier(model.encoder, num_classes=2)
    with pytest.raises(ValueError, match="needs its preprocessor"):
        Predictor.from_model(bare)
    # Without a preprocessor, export is Keras' own: the encoder's features in.
    bare.export(tmp_path / "features")
    features = model.preprocessor.tokenizer(TEXTS[:2])
    loaded = tf.saved_model.load(str(tmp_path / "features"))  # kept: it owns the variables
    served = loaded.serve({k: tf.cast(v, tf.int32) for k, v in features.items()})
    np.testing.assert_allclose(served.numpy(), bare.predict(
        {k: v.numpy() for k, v in features.items()}, verbose=0), atol=1e-5)


def test_token_classifier_words_in_word_logits_out(tmp_path):
    keras.utils.set_random_seed(9)
    model = kerasbert.BertTokenClassifier.from_preset(TINY, num_tags=3, sequence_length=16,
                                                      labels=["O", "B-PER", "B-LOC"])
    model.compile(learning_rate=1e-3)
    losses = model.fit(WORDS, TAGS, batch_size=4, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0]

    sentences = [["Mary", "visited", "Rome"], ["unbelievably", "long", "Paris"]]
    word_logits = model.predict(sentences, verbose=0)
    assert word_logits.shape == (2, 16, 3)
    # Each word's logits are those of its first sub-token; nothing past the last word.
    aligned = model.preprocessor.aligned(tf.ragged.constant(sentences))
    positions = model({k: aligned[k] for k in ("token_ids", "segment_ids", "padding_mask")})
    word_ids = aligned["word_ids"].numpy()
    for row in range(2):
        starts = [int(np.flatnonzero(word_ids[row] == w)[0]) for w in range(3)]
        np.testing.assert_allclose(word_logits[row, :3], positions.numpy()[row, starts],
                                   atol=1e-5)
        assert not word_logits[row, 3:].any()
    # Sentences given as strings are split at whitespace the same way.
    np.testing.assert_allclose(model.predict(["Mary visited Rome"], verbose=0)[0],
                               word_logits[0], atol=1e-6)

    model.save(tmp_path / "ner.keras")
    loaded = keras.models.load_model(tmp_path / "ner.keras")
    np.testing.assert_array_equal(loaded.predict(sentences, verbose=0), word_logits)
    model.save_to_preset(tmp_path / "ner")
    again = kerasbert.BertTokenClassifier.from_preset(tmp_path / "ner")
    assert again.labels == ["O", "B-PER", "B-LOC"]
    np.testing.assert_array_equal(again.predict(sentences, verbose=0), word_logits)
    # Served from memory: each word's tag is the argmax of its word logits.
    from kerasbert.serving import Predictor, export_task_model

    predictor = Predictor.from_model(model)
    records = predictor.predict({"text": [" ".join(w) for w in sentences]})
    exported = export_task_model(model, tmp_path / "ner_savedmodel")
    loaded = tf.saved_model.load(str(tmp_path / "ner_savedmodel"))
    serve = loaded.signatures["serving_default"]
    outputs = {k: v.numpy() for k, v in serve(text=tf.constant(
        [" ".join(w) for w in sentences])).items()}
    assert list(exported.input_names) == ["text"]

    def spans(rows):
        return [[(e["type"], e["start"], e["end"], e["text"]) for e in r["entities"]]
                for r in rows]

    assert spans(predictor.io.decode_outputs(outputs)) == spans(records)
    tags = ["O", "B-PER", "B-LOC"]
    for row in range(2):
        assert [t.decode() for t in outputs["tags"][row][:3]] == [
            tags[i] for i in word_logits[row, :3].argmax(-1)]


def test_question_answerer_targets_are_run_squads(test_data, tmp_path):
    from kerasbert.data.squad import read_squad
    from reference import run_squad_windows

    examples = [e for e in read_squad(test_data / "squad" / "dev-v1.1.json")[:6]]
    model = kerasbert.BertQuestionAnswerer.from_preset(TINY, sequence_length=64, doc_stride=24,
                                                       max_query_length=16)
    reference = run_squad_windows(examples, model.preprocessor.tokenizer, 64, 24, 16)
    x = ([e.question for e in examples], [e.context for e in examples])
    y = ([e.answers[0].start for e in examples], [e.answers[0].text for e in examples])
    features, targets = model.preprocessor((tf.constant(x[0]), tf.constant(x[1])),
                                           (tf.constant(y[0]), tf.constant(y[1])))
    np.testing.assert_array_equal(features["token_ids"].numpy(), reference["token_ids"])
    np.testing.assert_array_equal(targets.numpy()[:, 0], reference["start_positions"])
    np.testing.assert_array_equal(targets.numpy()[:, 1], reference["end_positions"])
    assert reference["start_positions"].any()  # some windows hold their answer
    # Independently of both: by transformers' tokenizer of the same vocabulary,
    # each target span is the shortest run of tokens that holds its example's
    # answer text (a whole token may be longer: "golden" for the answer "gold").
    from transformers import BertTokenizerFast

    from kerasbert.checkpoints.sources import resolve

    hf = BertTokenizerFast(os.path.join(resolve(TINY), "vocab.txt"), do_lower_case=True)
    token_ids, spans = features["token_ids"].numpy(), targets.numpy()

    def text(window, first, last):
        return "".join(hf.decode(token_ids[window, first:last + 1].tolist()).split())

    for window in np.flatnonzero(spans[:, 0]):
        start, end = spans[window]
        answer = "".join(examples[reference["example_index"][window]].answers[0].text.lower().split())
        assert answer in text(window, start, end), (text(window, start, end), answer)
        if end > start:
            assert answer not in text(window, start + 1, end)
            assert answer not in text(window, start, end - 1)

    model.compile(learning_rate=1e-3)
    losses = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"]
    assert np.isfinite(losses).all()
    answers = model.predict(x, verbose=0)
    assert answers["answers"].shape == (6,) and answers["scores"].shape == (6,)
    for answer, context in zip(answers["answers"], x[1]):
        assert answer in context
    model.save(tmp_path / "qa.keras")
    loaded = keras.models.load_model(tmp_path / "qa.keras")
    assert loaded.preprocessor.doc_stride == 24
    assert list(loaded.predict(x, verbose=0)["answers"]) == list(answers["answers"])


def test_dtype_policy_is_serialized_and_reaches_every_sublayer():
    encoder = BertEncoder(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=32, dtype="bfloat16")
    again = BertEncoder.from_config(encoder.get_config())
    inputs = {name: tf.ones((1, 4), tf.int32) for name in ("token_ids", "segment_ids",
                                                           "padding_mask")}
    for model in (encoder, again):
        outputs = model(inputs)
        assert outputs["sequence_output"].dtype == tf.bfloat16
        assert outputs["pooled_output"].dtype == tf.bfloat16
        block = model.transformer_layers[0]
        assert block.attention.query.compute_dtype == "bfloat16"
        assert block.intermediate.kernel.dtype == "bfloat16"
        assert block.attention_layer_norm.compute_dtype == "float32"  # kept in float32


def test_a_task_from_another_package_is_declared_by_its_entry_point(tmp_path, monkeypatch):
    """A task from another package, declared by a TaskSpec under the
    `kerasbert.tasks` entry-point group, is listed and answers the programs'
    questions without its module (or TensorFlow) imported, and is built and
    trained through the registry."""
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "specs.py").write_text(textwrap.dedent('''
        from kerasbert.tasks.specs import TaskSpec

        SENTENCE_LENGTH = TaskSpec(
            "sentence_length", "plugins.sentence_length:SentenceLengthTask",
            "plugins.sentence_length:LengthRegressor", label_type="regression",
            signature="plugins.sentence_length:LengthSignature")
    '''))
    (package / "sentence_length.py").write_text(textwrap.dedent('''
        import keras
        import tensorflow as tf
        from kerasbert.tasks.regression import BertRegressor, RegressionSignature, RegressionTask
        from kerasbert.tasks.registry import register_task

        @register_task("sentence_length")
        class SentenceLengthTask(RegressionTask):
            def postprocess(self, logits):
                return [{"score": float(x), "words": int(round(float(x)))} for x in logits[:, 0]]

        @keras.saving.register_keras_serializable(package="plugins")
        class LengthRegressor(BertRegressor):
            task_name = "sentence_length"

        class LengthSignature(RegressionSignature):
            """Its SavedModel also answers in whole words."""

            def serving_outputs(self, logits, extras):
                return {**super().serving_outputs(logits, extras),
                        "words": tf.cast(tf.round(logits[:, 0]), tf.int32)}

            def decode_outputs(self, outputs):
                return [{"score": float(s), "words": int(w)}
                        for s, w in zip(outputs["scores"], outputs["words"])]
    '''))
    # The other package, installed: its metadata with the entry point, on sys.path.
    dist = tmp_path / "plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[kerasbert.tasks]\nsentence_length = plugins.specs:SENTENCE_LENGTH\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._declared.cache_clear()
    try:
        assert registry.task_names() == ("classification", "regression", "multilabel", "ner",
                                         "qa", "sentence_length")
        # What the command-line programs ask of it, from its spec alone.
        assert registry.task_attribute("sentence_length", "label_type") == "regression"
        assert not registry.task_has("sentence_length", "accepts_label_list")
        assert "sentence_length" not in registry.tasks_with("setting_names", "case_markers")
        assert "plugins.sentence_length" not in sys.modules
        assert registry.get_task("sentence_length").main_metric == "pearson"
        # Its class carries its spec's fields; what it does not declare is the spec's default.
        task_class = registry.task_class("sentence_length")
        assert task_class.signature == "plugins.sentence_length:LengthSignature"
        assert task_class.search_space == registry.task_attribute("regression", "search_space")
        model_class = registry.model_class("sentence_length")
        assert model_class.__name__ == "LengthRegressor"
        model = model_class.from_preset(TINY, sequence_length=16)
        model.compile()
        model.fit(TEXTS, [len(t.split()) for t in TEXTS], batch_size=6, verbose=0)
        assert model.task_spec().name == "sentence_length"
        _train_predict_and_tune_a_plugin_task(tmp_path)
        # A spec under another name than its entry point's is refused, naming both.
        (dist / "entry_points.txt").write_text(
            "[kerasbert.tasks]\nlength = plugins.specs:SENTENCE_LENGTH\n")
        registry._declared.cache_clear()
        with pytest.raises(ValueError, match="entry point length = plugins.specs:SENTENCE_"
                           "LENGTH .* is not the TaskSpec of a task named 'length'"):
            registry.task_names()
    finally:
        registry._declared.cache_clear()
        sys.modules.pop("plugins.sentence_length", None)
        registry._REGISTERED.pop("sentence_length", None)


def test_a_task_defined_in_python_is_registered_from_its_class():
    """A notebook's task, registered under a name no spec declares, gets the
    spec its class's attributes give, listed after the declared tasks."""
    from kerasbert.tasks.regression import RegressionTask

    try:
        @registry.register_task("half_length")
        class HalfLength(RegressionTask):
            keras_model = "kerasbert.tasks.regression:BertRegressor"
            stride_windows = True

        assert registry.task_names()[-1] == "half_length"
        spec = registry.task_spec("half_length")
        assert spec.task_class.endswith(":test_a_task_defined_in_python_is_registered_from_"
                                        "its_class.<locals>.HalfLength")
        assert (spec.label_type, spec.stride_windows) == ("regression", True)
        assert registry.model_class("half_length") is kerasbert.BertRegressor
        assert registry.get_task("half_length").num_outputs == 1
    finally:
        registry._REGISTERED.pop("half_length", None)
        registry._DEFINED.pop("half_length", None)


def _train_predict_and_tune_a_plugin_task(tmp_path):
    """The plug-in task trains as `kerasbert.train` runs it, is served by
    `Predictor` and by its SavedModel through its own signature, and has the
    tuner's default space: from its module alone."""
    from kerasbert.cli.tune import tunable_flags
    from kerasbert.serving.predictor import Predictor
    from kerasbert.serving.serving_model import export_saved_model
    from kerasbert.training.run_config import FineTuneConfig, run_fine_tune
    from kerasbert.tuning.search_space import load_search_space

    data = tmp_path / "lengths.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((text, len(text.split())) for text in TEXTS * 2)
    out = tmp_path / "run"
    metrics = run_fine_tune(FineTuneConfig(
        task="sentence_length", train_data=str(data), eval_data=str(data), model=TINY,
        output_dir=str(out), max_seq_length=16, pooling="cls", epochs=1, batch_size=8,
        learning_rate=1e-3, verbose=0, checkpoint_every_steps=0))
    assert "pearson" in metrics
    assert json.loads((out / "kerasbert_task.json").read_text())["task"] == "sentence_length"
    predictor = Predictor.from_directory(out)
    assert predictor.input_names == ("text",)
    texts = ["a short one", "i loved it"]
    predictions = predictor.predict({"text": texts})
    assert [sorted(p) for p in predictions] == [["score", "words"], ["score", "words"]]
    # Its own serving signature, from its module, is what the SavedModel serves.
    export_saved_model(out, tmp_path / "export", predictor)
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    served = predictor.io.decode_outputs(
        {k: v.numpy() for k, v in serve(text=tf.constant(texts)).items()})
    assert [p["words"] for p in served] == [p["words"] for p in predictions]
    np.testing.assert_allclose([p["score"] for p in served],
                               [p["score"] for p in predictions], rtol=1e-5, atol=1e-6)
    space = load_search_space(None, "sentence_length", tunable_flags())
    assert space.to_dict() == load_search_space(None, "regression", tunable_flags()).to_dict()
    assert set(space.to_dict()) >= {"learning_rate", "batch_size", "epochs"}


def test_registry_lists_tasks_without_importing_them():
    code = ("import sys; from kerasbert.tasks import TASK_NAMES; print(TASK_NAMES); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.split("\n")[:2] == [
        "('classification', 'regression', 'multilabel', 'ner', 'qa')", "False"]
    with pytest.raises(ValueError, match="unknown task 'nope'; choose one of classification"):
        registry.get_task("nope")


def test_masked_lm_continues_pretraining_into_an_encoder_directory(tmp_path):
    keras.utils.set_random_seed(13)
    model = kerasbert.BertMaskedLM.from_preset(TINY, sequence_length=16, max_predictions=4)
    model.compile(learning_rate=1e-3)
    features, ids, weights = model.preprocessor(tf.constant(TEXTS[:4]))
    # BERT's masking: the chosen positions, the original tokens and their weights.
    assert features["masked_positions"].shape == ids.shape == weights.shape == (4, 4)
    original = model.preprocessor.tokenizer(TEXTS[:4])["token_ids"].numpy()
    np.testing.assert_array_equal(
        np.take_along_axis(original, features["masked_positions"].numpy(), 1) * weights.numpy(),
        ids.numpy() * weights.numpy())
    losses = model.fit(TEXTS, batch_size=4, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0]

    model.save_to_preset(tmp_path / "adapted")
    again = kerasbert.BertMaskedLM.from_preset(tmp_path / "adapted", sequence_length=16,
                                               max_predictions=4)
    np.testing.assert_array_equal(again(features).numpy(), model(features).numpy())
    classifier = kerasbert.BertClassifier.from_preset(tmp_path / "adapted", num_classes=2,
                                                      sequence_length=16)
    np.testing.assert_array_equal(classifier.encoder.weights[0].numpy(),
                                  model.encoder.weights[0].numpy())
    model.save(tmp_path / "mlm.keras")
    loaded = keras.models.load_model(tmp_path / "mlm.keras")
    np.testing.assert_array_equal(loaded(features).numpy(), model(features).numpy())
