"""KerasHub's conventions where KerasHub has a name for the thing: `.keras` files
that load after `import kerasbert` alone (the vocabulary an asset), `compile()`
as the command line's recipe with a settable learning rate, `backbone` and
`preprocessor`, the preprocessor's inputs and `from_preset`, `detokenize`,
LoRA as a method kept through saving, and an export without the optimizer."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasbert
from kerasbert.encoder.bert_encoder import BertEncoder
from kerasbert.tasks.keras_task import BertPreprocessor
from kerasbert.tokenizers.bert_tokenizer import BertTokenizer
from kerasbert.configs.training import TrainingConfig
from kerasbert.optimization import BertAdamW

TINY = "bert_tiny_en_uncased"  # L-2 H-128 from the hub stand-in
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
TEXTS = ["a great and moving film", "wonderful acting , great story", "i loved it",
         "a dull and boring film", "awful acting , terrible story", "i hated it"]
LABELS = [1, 1, 1, 0, 0, 0]

# A fresh process that does only what a user does with a .keras file.
LOAD_RUN = textwrap.dedent("""
    import json, sys
    import kerasbert, keras
    out = {}
    for path in sys.argv[1:]:
        model = keras.models.load_model(path)
        out[path] = {"logits": model.predict(%r, verbose=0).tolist(),
                     "trainable": [w.path for w in model.trainable_weights]}
    print(json.dumps(out))
""" % (TEXTS,))


def _classifier(seed=7):
    keras.utils.set_random_seed(seed)
    return kerasbert.BertClassifier.from_preset(TINY, num_classes=2, sequence_length=16,
                                                dropout=0.0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A classifier and a LoRA classifier (trained a few steps), saved to .keras
    and loaded in one fresh process."""
    directory = tmp_path_factory.mktemp("keras_files")
    plain = _classifier()
    plain.compile()
    lora = _classifier(seed=8)
    lora.enable_lora(4)
    lora.compile(learning_rate=1e-2)
    lora.fit(TEXTS, LABELS, batch_size=2, epochs=1, verbose=0)
    paths = {"plain": str(directory / "plain.keras"), "lora": str(directory / "lora.keras")}
    plain.save(paths["plain"])
    lora.save(paths["lora"])
    run = subprocess.run([sys.executable, "-c", LOAD_RUN, *paths.values()], env=ENV,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    return {"plain": plain, "lora": lora, "paths": paths,
            "loaded": {name: loaded[path] for name, path in paths.items()}}


def test_a_keras_file_loads_after_import_kerasbert_alone_with_the_vocabulary_an_asset(saved):
    model, loaded = saved["plain"], saved["loaded"]["plain"]
    np.testing.assert_allclose(loaded["logits"], model.predict(TEXTS, verbose=0), atol=1e-5)
    with zipfile.ZipFile(saved["paths"]["plain"]) as archive:
        config = archive.read("config.json").decode("utf-8")
        assets = [name for name in archive.namelist() if name.startswith("assets/")]
        vocabulary = archive.read(assets[0]).decode("utf-8").splitlines()
    assert len(config) < 20_000
    assert "##ing" not in config and "[unused" not in config
    assert assets == ["assets/preprocessor/tokenizer/vocabulary.txt"]
    assert vocabulary == model.preprocessor.tokenizer.get_vocabulary()


def test_lora_is_kept_through_a_keras_file_and_a_preset(saved, tmp_path):
    model, loaded = saved["lora"], saved["loaded"]["lora"]
    trainable = [w.path for w in model.trainable_weights]
    # 2 layers x 4 attention projections x (A, B), and the head's kernel and bias.
    assert len(trainable) == 2 * 4 * 2 + 2
    assert all("lora_kernel" in name for name in trainable[:-2])
    expected = model.predict(TEXTS, verbose=0)
    np.testing.assert_allclose(loaded["logits"], expected, atol=1e-5)
    assert loaded["trainable"] == trainable

    model.save_to_preset(tmp_path / "preset")
    again = kerasbert.BertClassifier.from_preset(tmp_path / "preset")
    assert [w.path for w in again.trainable_weights] == trainable
    np.testing.assert_allclose(again.predict(TEXTS, verbose=0), expected, atol=1e-5)
    # The adapters come back apart from the base kernel, as they were trained.
    for name, dense in model.backbone.lora_targets().items():
        other = again.backbone.lora_targets()[name]
        for attribute in ("_kernel", "lora_kernel_a", "lora_kernel_b"):
            np.testing.assert_array_equal(getattr(other, attribute).numpy(),
                                          getattr(dense, attribute).numpy())
    assert np.abs(model.backbone.lora_targets()["layer_0/attention/query"]
                  .lora_kernel_b.numpy()).max() > 0  # trained: B started at zeros
    with pytest.raises(ValueError, match="already enabled"):
        again.enable_lora(4)


def test_compile_defaults_are_the_command_lines_recipe(saved):
    optimizer, recipe = saved["plain"].optimizer, TrainingConfig()
    assert isinstance(optimizer, BertAdamW)
    assert float(optimizer.learning_rate) == pytest.approx(recipe.learning_rate)
    assert optimizer.weight_decay == pytest.approx(recipe.weight_decay)
    assert optimizer.global_clipnorm == pytest.approx(recipe.clip_norm)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        saved["plain"].compile(learning_rate=-1.0)


def _head_kernels(model, callback):
    """Fit 3 epochs of 2 updates with `callback`; the head's kernel at each epoch's
    start and the end, and the peak learning rate at each epoch's start."""
    kernels, rates = [], []

    def record(epoch, logs=None):
        kernels.append(model.get_layer("logits").kernel.numpy().copy())
        rates.append(float(model.optimizer.learning_rate))

    model.fit(TEXTS, LABELS, batch_size=3, epochs=3, shuffle=False, verbose=0,
              callbacks=[callback, keras.callbacks.LambdaCallback(on_epoch_begin=record)])
    kernels.append(model.get_layer("logits").kernel.numpy().copy())
    return kernels, rates


@pytest.mark.parametrize("callback", [
    keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate if epoch == 0 else 0.0),
    keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.0, patience=0, min_delta=1e9),
], ids=["LearningRateScheduler", "ReduceLROnPlateau"])
def test_learning_rate_callbacks_set_the_rate_the_updates_use(callback):
    model = _classifier()
    model.compile(learning_rate=1e-3, warmup_ratio=0.0)
    kernels, rates = _head_kernels(model, callback)
    stopped = rates.index(0.0)  # the first epoch that starts at the rate the callback set
    assert stopped >= 1 and rates[0] == pytest.approx(1e-3)
    assert not np.array_equal(kernels[0], kernels[1])  # epoch 0 trained
    for epoch in range(stopped, 3):  # a rate of 0: the updates change nothing
        np.testing.assert_array_equal(kernels[epoch + 1], kernels[epoch])


def _task_models():
    keras.utils.set_random_seed(3)
    encoder = BertEncoder.from_preset(TINY)
    tokenizer = BertTokenizer.from_preset(TINY, sequence_length=80)
    return encoder, [
        kerasbert.BertClassifier(encoder, 2, BertPreprocessor(tokenizer)),
        kerasbert.BertRegressor(encoder, BertPreprocessor(tokenizer)),
        kerasbert.BertTokenClassifier(encoder, 3,
                                      kerasbert.BertTokenClassifierPreprocessor(tokenizer)),
        kerasbert.BertQuestionAnswerer(encoder,
                                       kerasbert.BertQuestionAnswererPreprocessor(tokenizer)),
        kerasbert.BertMaskedLM(encoder, kerasbert.BertMaskedLMPreprocessor(tokenizer))]


def test_every_task_model_has_a_backbone_and_a_preprocessor():
    encoder, models = _task_models()
    for model in models:
        assert model.backbone is encoder, type(model).__name__
        assert isinstance(model.preprocessor, model.preprocessor_class), type(model).__name__


def test_the_preprocessor_takes_lists_arrays_tensors_and_dataset_elements(tmp_path):
    preprocessor = BertPreprocessor.from_preset(TINY, sequence_length=12)
    expected = preprocessor.tokenizer(tf.constant(TEXTS[:2]))["token_ids"].numpy()
    assert expected.shape == (2, 12)
    element = next(iter(tf.data.Dataset.from_tensor_slices(TEXTS[:2]).batch(2)))
    for x in (TEXTS[:2], np.array(TEXTS[:2]), tf.constant(TEXTS[:2]), element):
        np.testing.assert_array_equal(preprocessor(x)["token_ids"].numpy(), expected)
    np.testing.assert_array_equal(preprocessor(TEXTS[0])["token_ids"].numpy(), expected[0])
    pairs = preprocessor((TEXTS[:1], TEXTS[3:4]))
    assert pairs["segment_ids"].numpy().max() == 1
    features, labels = preprocessor(TEXTS[:2], [1, 0])
    assert labels.numpy().tolist() == [1, 0]

    preprocessor.sequence_length = 32
    assert preprocessor(TEXTS[:2])["token_ids"].shape == (2, 32)
    with pytest.raises(ValueError, match="sequence_length must be >= 3"):
        preprocessor.sequence_length = 1

    model = _classifier()
    model.save_to_preset(tmp_path / "preset")
    from_model = BertPreprocessor.from_preset(tmp_path / "preset", sequence_length=20)
    assert from_model.tokenizer.get_vocabulary() == model.preprocessor.tokenizer.get_vocabulary()
    assert from_model(TEXTS[:1])["token_ids"].shape == (1, 20)


def test_detokenize_joins_word_pieces_and_drops_padding():
    tokenizer = BertTokenizer.from_preset(TINY, sequence_length=16)
    assert len(tokenizer.tokenize(["unbelievably"])[0]) > 1  # a word of several pieces
    ids = tokenizer(["An unbelievably GOOD film!", "dull"])["token_ids"]
    assert (ids.numpy() == tokenizer.pad_token_id).any()
    texts = tokenizer.detokenize(ids).numpy().tolist()
    assert texts == [b"[CLS] an unbelievably good film ! [SEP]", b"[CLS] dull [SEP]"]
    assert tokenizer.detokenize(ids[1].numpy().tolist()).numpy() == b"[CLS] dull [SEP]"
    assert tokenizer.detokenize(tokenizer.tokenize(["a film"])).numpy().tolist() == [b"a film"]
    with pytest.raises(ValueError, match="integer token ids"):
        tokenizer.detokenize(tf.constant([1.0, 2.0]))


def test_an_unbatched_dataset_is_refused_in_one_line(saved):
    model = saved["plain"]
    unbatched = tf.data.Dataset.from_tensor_slices((TEXTS, LABELS))
    for run in (lambda: model.fit(unbatched, verbose=0),
                lambda: model.evaluate(unbatched, verbose=0),
                lambda: model.predict(tf.data.Dataset.from_tensor_slices(TEXTS), verbose=0)):
        with pytest.raises(ValueError, match=r"not batched.*\.batch\(batch_size\)") as error:
            run()
        assert "\n" not in str(error.value)


def test_fit_before_compile_and_keras_only_arguments_are_refused_in_one_line():
    model = _classifier()
    with pytest.raises(ValueError, match=r"call model\.compile\(\) before fit") as error:
        model.fit(TEXTS, LABELS, verbose=0)
    assert "\n" not in str(error.value)
    model.compile()
    with pytest.raises(ValueError, match="fit does not take class_weight"):
        model.fit(TEXTS, LABELS, class_weight={0: 1.0, 1: 2.0}, verbose=0)


def test_export_after_fit_holds_the_model_variables_only(tmp_path):
    """What an export before fit holds (the model's variables), not the optimizer's."""
    model = _classifier()
    model.compile()
    model.fit(TEXTS, LABELS, batch_size=3, epochs=1, verbose=0)
    assert len(model.optimizer.variables) > len(model.trainable_variables)
    model.export(tmp_path / "exported")
    saved = [shape for name, shape in
             tf.train.list_variables(str(tmp_path / "exported" / "variables" / "variables"))
             if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert len(saved) == len(model.variables)
    assert sum(np.prod(shape) for shape in saved) == sum(np.prod(v.shape)
                                                         for v in model.variables)
    serve = tf.saved_model.load(str(tmp_path / "exported")).signatures["serving_default"]
    probabilities = serve(text=tf.constant(TEXTS[:2]))["probabilities"].numpy()
    np.testing.assert_allclose(probabilities, tf.nn.softmax(model.predict(TEXTS[:2], verbose=0)),
                               atol=1e-5)


def test_every_registered_class_is_in_the_lazy_table():
    """`kerasbert.keras_registry.SERIALIZABLE` names the module of every class
    kerasbert registers with Keras, so that `load_model` after `import kerasbert`
    finds each one (a class added without its line there would not load)."""
    import importlib
    import pkgutil

    import keras

    import kerasbert
    from kerasbert.keras_registry import SERIALIZABLE

    for module in pkgutil.walk_packages(kerasbert.__path__, "kerasbert."):
        if not module.name.endswith("__main__") and ".samples." not in module.name:
            importlib.import_module(module.name)
    registered = {name: keras.saving.get_registered_object(name).__module__
                  for name in keras.saving.get_custom_objects() if name.startswith("kerasbert>")}
    assert registered == SERIALIZABLE


def test_float_labels_and_sample_weights_reach_fit_unchanged():
    """The preprocessor (an int32 Keras layer) passes labels and weights on as
    they are: Keras would cast them to int32 (a 0.5 label to 0, a 0.25 weight
    to 0). Checked on the pairs a raw-text `fit` trains on, and by the loss
    `fit` reports against the loss computed from the model's outputs."""
    keras.utils.set_random_seed(3)
    model = kerasbert.BertRegressor.from_preset(TINY, sequence_length=16, dropout=0.0)
    labels = np.array([0.25, 0.5, 0.75, 1.5, 2.5, 0.125], np.float32)
    weights = np.array([1.0, 0.25, 0.5, 1.0, 0.75, 0.5], np.float32)
    x, y, w = model.preprocessor(TEXTS, labels, weights)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(w, weights)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    reported = model.evaluate(TEXTS, labels, sample_weight=weights, batch_size=6,
                              verbose=0, return_dict=True)["loss"]
    predicted = model.predict(TEXTS, batch_size=6, verbose=0).reshape(-1)
    expected = np.sum(weights * (predicted - labels) ** 2) / len(labels)
    assert reported == pytest.approx(expected, rel=1e-4)
