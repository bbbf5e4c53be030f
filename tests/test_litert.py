"""LiteRT export (`kerasbert.export --format=litert`): one `.tflite` file with
the tokenizer inside, run by a process that has only ai-edge-litert and
tensorflow-text (no kerasbert), by `Predictor.from_litert` and by
`kerasbert.predict --model=model.tflite`, against the SavedModel and the
Python predictions of the same model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from reference import SERVING_WITHOUT_KERASBERT, sst2_sentences

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
TINY = "bert_tiny_en_uncased"
# Float32 LiteRT against TensorFlow: their kernels round differently, and the
# tiny models' heads are scaled up (see _model_directory), the rounding with them.
FLOAT_TOLERANCE = 3e-4

# A user's app: the LiteRT interpreter with tensorflow-text's kernels, strings
# in; kerasbert cannot be imported. Prints each file's outputs and its task
# config (the file's metadata, read with the flatbuffers schema ai-edge-litert ships).
LITERT_APP = SERVING_WITHOUT_KERASBERT + r"""
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import InterpreterWithCustomOps
from tensorflow_text import tflite_registrar

request = json.load(open(sys.argv[1]))
results = {}
for path in request["files"]:
    data = open(path, "rb").read()
    model = schema.Model.GetRootAs(data, 0)
    entries = {model.Metadata(i).Name(): model.Metadata(i).Buffer()
               for i in range(model.MetadataLength())}
    info = json.loads(model.Buffers(entries[b"kerasbert_task"]).DataAsNumpy().tobytes())
    interpreter = InterpreterWithCustomOps(
        model_content=data, custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS)
    serve = interpreter.get_signature_runner("serving_default")
    outputs = {}
    texts = request["texts"]
    for start in range(0, len(texts), 16):  # batches of unequal longest rows
        batch = serve(text=np.array([t.encode() for t in texts[start:start + 16]], dtype=object))
        for name, value in batch.items():
            outputs.setdefault(name, []).extend(value.tolist())
    results[path] = {"info": info, "outputs": outputs}
print(json.dumps({"results": results,
                  "kerasbert_modules": sorted(m for m in sys.modules
                                              if m.split(".")[0] == "kerasbert")},
                 default=lambda b: b.decode("utf-8")))
"""


def _model_directory(directory, task_name, labels=None, text_pair=False, sequence_length=32,
                     seed=0, texts=(), pooling="cls"):
    """A random tiny model directory of `task_name` (as `kerasbert.train`
    writes them). Its head reads the directions in which its pooled vectors
    of `texts` (a list, or a tuple (texts, pairs)) vary most (their principal
    components), scaled to logits of mean 0 and standard deviation 2: the
    predictions differ between rows and are rarely near ties (a random head reads mostly noise, which quantized
    weights would change)."""
    import keras

    from kerasbert import BertEncoder, BertTokenizer
    from kerasbert.data.label_vocabulary import LabelVocabulary
    from kerasbert.tasks import get_task
    from kerasbert.tasks.keras_task import BertTask
    from kerasbert.tasks.model_directory import save_model_directory

    keras.utils.set_random_seed(seed)
    task = get_task(task_name, labels)
    model = BertTask(BertEncoder.from_preset(TINY, load_weights=False,
                                             max_position_embeddings=128),
                     task.num_outputs, task.head, pooling=pooling)
    tokenizer = BertTokenizer.from_preset(TINY, sequence_length=sequence_length)
    head = model.get_layer("logits")
    rows = [list(t) for t in texts] if isinstance(texts, tuple) else [list(texts)]
    pooled = np.asarray(keras.Model(model.inputs, head.input)(tokenizer(*rows)))
    mean = pooled.mean(axis=0)
    directions = np.linalg.svd(pooled - mean, full_matrices=False)[2][:task.num_outputs].T
    kernel = directions * 2.0 / ((pooled - mean) @ directions).std(axis=0)
    head.kernel.assign(kernel)
    head.bias.assign(-mean @ kernel)
    save_model_directory(str(directory), model, task, tokenizer, sequence_length, text_pair)
    if labels:
        LabelVocabulary(labels, multi_label=task_name == "multilabel").save(directory)
    return directory


def _run(program, *args):
    return subprocess.run([sys.executable, "-m", f"kerasbert.{program}", *args],
                          capture_output=True, text=True, env=ENV, timeout=300)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, test_data):
    """A tiny classifier, its SavedModel, and its .tflite files: float32 and
    float16 written by the API, int8 by `python -m kerasbert.export`."""
    from kerasbert.serving.litert import export_litert
    from kerasbert.serving.predictor import Predictor
    from kerasbert.serving.serving_model import export_saved_model

    folder = tmp_path_factory.mktemp("litert")
    texts = sst2_sentences(test_data, "dev", limit=64)
    model_dir = _model_directory(folder / "model", "classification", ["neg", "pos"],
                                 texts=texts)
    predictor = Predictor.from_directory(model_dir)
    export_saved_model(model_dir, folder / "saved", predictor)
    files = {}
    for quantize in ("none", "float16"):
        files[quantize] = folder / f"{quantize}.tflite"
        export_litert(model_dir, files[quantize], quantize, predictor)
    out = _run("export", f"--model={model_dir}", "--format=litert", "--quantize=int8",
               f"--export_dir={folder / 'int8'}")
    assert out.returncode == 0, out.stderr
    files["int8"] = folder / "int8" / "model.tflite"
    assert f"written to {files['int8']}" in out.stdout and "int8 (dynamic range)" in out.stdout
    return {"model": model_dir, "saved": folder / "saved", "files": files,
            "predictor": predictor, "texts": texts}


def test_litert_files_run_without_kerasbert_as_the_savedmodel_does(classifier, tmp_path):
    import tensorflow as tf

    texts = classifier["texts"]
    serve = tf.saved_model.load(str(classifier["saved"])).signatures["serving_default"]
    expected = {k: v.numpy() for k, v in serve(text=tf.constant(texts)).items()}
    assert 10 < sum(expected["labels"] == b"pos") < 54  # both labels occur

    request = tmp_path / "request.json"
    files = classifier["files"]
    request.write_text(json.dumps({"files": [str(p) for p in files.values()], "texts": texts}))
    out = subprocess.run([sys.executable, "-c", LITERT_APP, str(request)], capture_output=True,
                         text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["kerasbert_modules"] == []
    results = {quantize: answer["results"][str(path)] for quantize, path in files.items()}

    for quantize, result in results.items():
        assert result["info"]["task"] == "classification"
        assert result["info"]["labels"] == ["neg", "pos"]
        assert result["info"]["litert_quantize"] == quantize
        assert set(result["outputs"]) == {"labels", "scores", "probabilities"}
    exact = results["none"]["outputs"]
    assert [x.encode() for x in exact["labels"]] == expected["labels"].tolist()
    np.testing.assert_allclose(exact["probabilities"], expected["probabilities"],
                               atol=FLOAT_TOLERANCE)
    np.testing.assert_allclose(exact["scores"], expected["scores"], atol=FLOAT_TOLERANCE)
    # Quantized weights: the same labels on most rows (int8 on a random encoder,
    # whose rows differ little, less often than on a fine-tuned one: 83% here).
    for quantize, min_agreement in (("float16", 0.95), ("int8", 0.75)):
        outputs = results[quantize]["outputs"]
        agree = np.mean([a.encode() == b for a, b in zip(outputs["labels"], expected["labels"])])
        assert agree >= min_agreement, (quantize, agree)
    difference = np.abs(np.array(results["float16"]["outputs"]["probabilities"])
                        - expected["probabilities"])
    assert difference.max() < 0.05, difference.max()

    sizes = {quantize: os.path.getsize(path) for quantize, path in files.items()}
    assert sizes["int8"] <= sizes["none"] / 3, sizes
    assert sizes["float16"] <= sizes["none"] * 0.6, sizes


def test_predict_reads_a_litert_file(classifier, tmp_path):
    texts = classifier["texts"][:20]
    rows = tmp_path / "rows.tsv"
    rows.write_text("sentence\n" + "\n".join(texts) + "\n", encoding="utf-8")
    output = tmp_path / "predictions.jsonl"
    out = _run("predict", f"--model={classifier['files']['none']}", f"--input_file={rows}",
               "--text_column=sentence", f"--output_file={output}", "--batch_size=7")
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    expected = classifier["predictor"].predict({"text": texts})
    assert [r.pop("text") for r in records] == texts
    _assert_close_records(records, expected)


@pytest.mark.parametrize("task_name, labels, text_pair, pooling", [
    ("classification", ["a", "b", "c"], True, "cls"),
    ("classification", ["neg", "pos"], False, "mean"),  # sentence-transformers' pooling
    ("multilabel", ["x", "y", "z", "w"], False, "cls"),
    ("regression", None, False, "cls"),
])
def test_litert_predictor_matches_the_model_directory(tmp_path, test_data, task_name, labels,
                                                      text_pair, pooling):
    from kerasbert.serving.litert import export_litert
    from kerasbert.serving.predictor import Predictor

    sentences = sst2_sentences(test_data, "dev", limit=60)
    inputs = {"text": sentences[:30]}
    if text_pair:  # pairs longer than 24 tokens: cut longest first, as the tokenizer does
        inputs["text_pair"] = sentences[30:]
    model_dir = _model_directory(tmp_path / "model", task_name, labels, text_pair,
                                 sequence_length=24, seed=2, texts=tuple(inputs.values()),
                                 pooling=pooling)
    predictor = Predictor.from_directory(model_dir)
    size = export_litert(model_dir, tmp_path / "model.tflite", predictor=predictor)
    assert size == os.path.getsize(tmp_path / "model.tflite")
    litert = Predictor.from_litert(tmp_path / "model.tflite")
    assert litert.input_names == predictor.input_names
    records = litert.predict(inputs, batch_size=8)
    expected = predictor.predict(inputs, batch_size=8)
    _assert_close_records(records, expected)
    if task_name == "multilabel":
        assert 0 < sum(len(r["labels"]) for r in expected) < 30 * len(labels)
    if task_name == "classification":
        assert len({r["label"] for r in expected}) > 1


def test_each_dense_layer_is_one_fully_connected_op(classifier):
    """The file multiplies each dense layer's weights with one op, without a
    tensordot's shape arithmetic around it (SHAPE, REDUCE_PROD, PACK,
    RESHAPE: 298 ops instead of 190 for a 2-layer MiniLM classifier)."""
    import keras
    from ai_edge_litert import schema_py_generated as schema

    names = {code: name for name, code in vars(schema.BuiltinOperator).items()
             if not name.startswith("_")}
    for quantize, path in classifier["files"].items():
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(path.read_bytes(), 0))
        codes = [model.operatorCodes[op.opcodeIndex] for op in model.subgraphs[0].operators]
        ops = [names[max(code.builtinCode, code.deprecatedBuiltinCode)] for code in codes]
        dense = [layer for layer in classifier["predictor"].model._flatten_layers()
                 if isinstance(layer, keras.layers.Dense)]
        assert ops.count("FULLY_CONNECTED") == len(dense) > 10, (quantize, ops, len(dense))
        assert "REDUCE_PROD" not in ops, quantize


def test_litert_tokenizer_gives_the_bert_tokenizer_features(test_data):
    import tensorflow as tf

    from kerasbert import BertTokenizer
    from kerasbert.serving.litert import LiteRTTokenizer

    tokenizer = BertTokenizer.from_preset(TINY, sequence_length=20)
    litert = LiteRTTokenizer(tokenizer)
    texts = sst2_sentences(test_data, "dev", limit=80) + [
        "Héllo, WÖRLD!! naïve café", "中文字 mixed up", "don't (stop) $5.00 e-mail", "x"]
    pairs = texts[::-1]
    for args in ((texts,), (texts, pairs)):
        expected = tokenizer(*args)
        got = litert(*[tf.constant(a) for a in args])
        length = int(tf.reduce_max(tf.reduce_sum(expected["padding_mask"], axis=1)))
        assert got["token_ids"].shape == (len(texts), length)
        for name in expected:
            np.testing.assert_array_equal(got[name].numpy(), expected[name].numpy()[:, :length],
                                          err_msg=name)


@pytest.mark.parametrize("program, args, message", [
    ("export", ["--model={model}", "--quantize=int8", "--export_dir={empty}"],
     "--quantize goes with --format=litert"),
    ("export", ["--model={model}", "--format=onnx", "--export_dir={empty}"],
     "flag --format=onnx: value should be one of <savedmodel|litert>"),
    ("export", ["--model={model}", "--format=litert", "--quantize=int4",
                "--export_dir={empty}"], "flag --quantize=int4"),
    ("export", ["--model={ner}", "--format=litert", "--export_dir={empty}"],
     "--format=litert: exports classification, multilabel, regression models, not ner"),
    ("predict", ["--model={tflite}", "--stride=8", "a"], "--stride does not apply to a LiteRT"),
    ("predict", ["--model={missing}", "a"], "--model: LiteRT file"),
    ("predict", ["--model={not_tflite}", "a"], "is not a LiteRT model"),
    ("predict", ["--model={tflite}", "--text_pair=b", "a"], "single texts, not pairs"),
])
def test_bad_flags(classifier, tmp_path, capsys, program, args, message):
    import importlib

    from kerasbert.cli.flags import run_main

    empty = tmp_path / "empty"
    empty.mkdir()
    not_tflite = tmp_path / "notes.tflite"
    not_tflite.write_text("not a model\n")
    ner = tmp_path / "ner"
    ner.mkdir()
    info = json.loads((classifier["model"] / "kerasbert_task.json").read_text())
    (ner / "kerasbert_task.json").write_text(json.dumps({**info, "task": "ner"}))
    values = {"model": classifier["model"], "empty": empty, "ner": ner,
              "tflite": classifier["files"]["none"], "missing": tmp_path / "none.tflite",
              "not_tflite": not_tflite}
    main = importlib.import_module(f"kerasbert.cli.{program}").main
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, [program, *(a.format(**values) for a in args)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"kerasbert.{program}: error:"), err
    assert message in err[0]


def _assert_close_records(a, b, tol=FLOAT_TOLERANCE):
    """Equal nested records, floats within `tol`."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_close_records(a[key], b[key], tol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_close_records(x, y, tol)
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=tol)
    else:
        assert a == b
