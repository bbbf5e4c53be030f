"""`python -m kerasbert.evaluate / predict / export` as a user runs them, the
SavedModel loaded by a Python that imports only tensorflow and
tensorflow_text, and the in-graph serving code of every task against the
tasks' own Python postprocessing."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from reference import SERVING_WITHOUT_KERASBERT

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
TINY = "bert_tiny_en_uncased"  # L-2 H-128 (from the hub stand-in): a fast, real BertEncoder

# Loads each SavedModel of a request file and runs `serving_default` on its
# inputs, importing nothing but TensorFlow and tensorflow-text: kerasbert
# cannot even be imported there.
FRESH_PROCESS = SERVING_WITHOUT_KERASBERT + r"""

results = []
for request in json.load(open(sys.argv[1])):
    loaded = tf.saved_model.load(request["export_dir"])
    outputs = loaded.signatures["serving_default"](
        **{name: tf.constant(values, tf.string) for name, values in request["inputs"].items()})
    metadata = loaded.signatures["metadata"]()
    results.append({
        "outputs": {k: v.numpy().tolist() for k, v in outputs.items()},
        "task": metadata["task"].numpy().decode(),
        "label_names": [x.decode() for x in metadata["label_names"].numpy()]})
print(json.dumps({"results": results,
                  "kerasbert_modules": sorted(m for m in sys.modules
                                              if m.split(".")[0] == "kerasbert")},
                 default=lambda b: b.decode("utf-8")))
"""


def _run(program, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", f"kerasbert.{program}", *args],
                          capture_output=True, text=True, env=ENV, timeout=timeout)


def _load_in_fresh_process(tmp_path, requests):
    """[(export_dir, {input: [str]})] -> (results, kerasbert modules loaded)."""
    request_file = tmp_path / "requests.json"
    request_file.write_text(json.dumps([{"export_dir": str(d), "inputs": i}
                                        for d, i in requests]))
    out = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(request_file)],
                         capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    return answer["results"], answer["kerasbert_modules"]


def _numpy_outputs(outputs):
    """The fresh process's JSON outputs as numpy arrays (strings as bytes), the
    form `TaskIO.decode_outputs` takes."""
    return {k: (np.array([[x.encode() for x in row] for row in v], dtype=object)
                if v and isinstance(v[0], list) and v[0] and isinstance(v[0][0], str)
                else np.array([x.encode() for x in v], dtype=object)
                if v and isinstance(v[0], str) else np.array(v))
            for k, v in outputs.items()}


def _read_tsv(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def sst2(test_data, tmp_path_factory):
    """Slices of the real SST-2 TSVs: 192 training and 48 dev sentences."""
    folder = tmp_path_factory.mktemp("sst2")
    for split, rows in (("train", 192), ("dev", 48)):
        lines = (test_data / "glue" / "SST-2" / f"{split}.tsv").read_text(
            encoding="utf-8").splitlines()[:rows + 1]
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained(sst2, tmp_path_factory):
    """A tiny classifier fine-tuned by `python -m kerasbert.train`, its head on
    the mean of the token vectors (so every program must rebuild that head)."""
    output_dir = tmp_path_factory.mktemp("run") / "model"
    out = _run("train", "--task=classification", f"--train_data={sst2 / 'train.tsv'}",
               f"--eval_data={sst2 / 'dev.tsv'}", "--text_column=sentence", f"--model={TINY}",
               "--pooling=mean",
               f"--output_dir={output_dir}", "--epochs=2", "--batch_size=16",
               "--max_seq_length=32", "--learning_rate=1e-3", "--verbose=0")
    assert out.returncode == 0, out.stderr
    return output_dir


# -- classification end to end, through the command-line programs ---------------------------

def test_evaluate_writes_metrics_report_and_confusion_matrix(trained, sst2):
    record = ("metrics.json", "metrics_report.txt", "confusion_matrix.png")
    training_record = {name: (trained / name).read_bytes() for name in record}
    training_metrics = json.loads((trained / "metrics.json").read_text())
    out = _run("evaluate", f"--model={trained}", f"--eval_data={sst2 / 'dev.tsv'}",
               "--text_column=sentence")
    assert out.returncode == 0, out.stderr
    assert "accuracy" in out.stdout and "Traceback" not in out.stderr

    # Beside the training record, under the name of the data scored, never over it.
    assert {name: (trained / name).read_bytes() for name in record} == training_record
    scored = trained / "eval" / "dev"
    assert f"wrote {scored / 'metrics.json'}" in out.stdout
    metrics = json.loads((scored / "metrics.json").read_text())
    assert {"accuracy", "f1_macro", "f1_micro", "precision_macro", "recall_macro",
            "mcc"} <= set(metrics)
    # The same dev file through evaluate's pipeline gives training's final metrics
    # (training's also say how many dev examples its evaluation scored).
    assert training_metrics.pop("eval_examples") == 48
    assert metrics.keys() == training_metrics.keys()
    for name, value in training_metrics.items():
        assert metrics[name] == pytest.approx(value, abs=1e-6), name

    report = (scored / "metrics_report.txt").read_text()
    assert f"{metrics['accuracy']:.4f}" in report and "48 examples" in report
    lines = report.splitlines()
    matrix_at = lines.index("confusion matrix (rows: true label, columns: predicted label)")
    counts = [[int(x) for x in line.split()[1:]] for line in lines[matrix_at + 2:matrix_at + 4]]
    gold = [row[1] for row in _read_tsv(sst2 / "dev.tsv")[1:]]
    assert [sum(row) for row in counts] == [gold.count("0"), gold.count("1")]
    assert (counts[0][0] + counts[1][1]) / len(gold) == pytest.approx(metrics["accuracy"])
    assert (scored / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")


def test_evaluate_reads_a_local_tfds_dataset(trained, sst2, tmp_path):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    rows = _read_tsv(sst2 / "dev.tsv")[1:]
    features = tfds.features.FeaturesDict({
        "sentence": tfds.features.Text(), "label": tfds.features.ClassLabel(num_classes=2)})
    split = tf.data.Dataset.from_tensor_slices(
        {"sentence": [r[0] for r in rows], "label": [int(r[1]) for r in rows]})
    tfds.dataset_builders.store_as_tfds_dataset(
        name="sst_slice", version="1.0.0", features=features, split_datasets={"validation": split},
        data_dir=str(tmp_path / "tfds"), disable_shuffling=True)
    out = _run("evaluate", f"--model={trained}", "--eval_data=tfds:sst_slice",
               f"--data_dir={tmp_path / 'tfds'}", "--text_column=sentence",
               f"--output_dir={tmp_path / 'eval'}")
    assert out.returncode == 0, out.stderr
    # The same 48 sentences as the TSV the model was evaluated on when it was trained.
    from_tfds = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    trained_metrics = json.loads((trained / "metrics.json").read_text())
    trained_metrics.pop("eval_examples")
    assert from_tfds == pytest.approx(trained_metrics, abs=1e-6)


def test_predict_export_and_a_fresh_process_agree(trained, sst2, tmp_path):
    predictions_file = tmp_path / "predictions.jsonl"
    out = _run("predict", f"--model={trained}", f"--input_file={sst2 / 'dev.tsv'}",
               "--text_column=sentence", f"--output_file={predictions_file}")
    assert out.returncode == 0, out.stderr
    rows = _read_tsv(sst2 / "dev.tsv")[1:]
    predictions = [json.loads(line) for line in predictions_file.read_text().splitlines()]
    assert [p["text"] for p in predictions] == [r[0] for r in rows]
    for p in predictions:
        assert p["score"] == max(p["probabilities"].values())
        assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert json.loads((trained / "kerasbert_task.json").read_text())["pooling"] == "mean"
    # Their accuracy is the one training measured on the same file.
    accuracy = np.mean([p["label"] == r[1] for p, r in zip(predictions, rows)])
    trained_accuracy = json.loads((trained / "metrics.json").read_text())["accuracy"]
    assert accuracy == pytest.approx(trained_accuracy)

    # The directory is a preset of the Keras task model (each weight in it once), and
    # the model's .keras file a Keras model: both predict what kerasbert.predict printed.
    import keras

    import kerasbert
    from kerasbert.tasks.classification import softmax

    assert not (trained / "model.keras").exists() and not (trained / "checkpoints").exists()
    preset = kerasbert.BertClassifier.from_preset(trained)
    preset.save(tmp_path / "model.keras")
    keras_models = (preset, keras.models.load_model(tmp_path / "model.keras"))
    # (predict reads a text longer than a window as the mean over its windows;
    # a Keras model cuts it: compare the texts that fit in one window.)
    pieces = keras_models[0].preprocessor.tokenizer.tokenize([p["text"] for p in predictions])
    fitting = [p for p, n in zip(predictions, pieces.row_lengths().numpy()) if n <= 30]
    assert len(fitting) > 30
    expected = np.array([[p["probabilities"][name] for name in ("0", "1")] for p in fitting])
    for model in keras_models:
        assert model.labels == ["0", "1"] and model.pooling == "mean"
        logits = model.predict([p["text"] for p in fitting], verbose=0)
        np.testing.assert_allclose(softmax(logits), expected, atol=1e-5)

    export_dir = tmp_path / "export"
    out = _run("export", f"--model={trained}", f"--export_dir={export_dir}")
    assert out.returncode == 0, out.stderr
    assert "labels" in out.stdout and (export_dir / "saved_model.pb").exists()
    assert json.loads((export_dir / "assets.extra" / "kerasbert_task.json").read_text()) == \
        json.loads((trained / "kerasbert_task.json").read_text())

    (result,), modules = _load_in_fresh_process(
        tmp_path, [(export_dir, {"text": [p["text"] for p in predictions]})])
    assert modules == []
    assert result["task"] == "classification"
    names = result["label_names"]
    assert names == json.loads((trained / "label_vocabulary.json").read_text())["labels"]
    outputs = result["outputs"]
    assert outputs["labels"] == [p["label"] for p in predictions]
    expected = np.array([[p["probabilities"][n] for n in names] for p in predictions])
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(outputs["scores"], [p["score"] for p in predictions],
                               atol=1e-5, rtol=0)


def test_predict_prints_one_json_line_per_text(trained, capsys):
    from kerasbert.cli.flags import run_main
    from kerasbert.cli.predict import main

    texts = ["a gripping , funny film", "dull and tedious", "ça , c' est un film"]
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["predict", f"--model={trained}", *texts])
    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    labels = json.loads((trained / "label_vocabulary.json").read_text())["labels"]
    assert [r["text"] for r in records] == texts
    for r in records:
        assert r["label"] in labels and list(r["probabilities"]) == labels
        assert r["score"] == r["probabilities"][r["label"]] == max(r["probabilities"].values())


def test_long_texts_are_classified_by_the_mean_over_their_windows(trained, sst2, capsys):
    from kerasbert.cli.flags import run_main
    from kerasbert.cli.predict import main
    from kerasbert.data.long_text import window_features
    from kerasbert.serving.predictor import Predictor
    from kerasbert.serving.task_io import Columns

    sentences = [row[0] for row in _read_tsv(sst2 / "dev.tsv")[1:]]
    long_text, short_text = " ".join(sentences[:6]), "dull"
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["predict", f"--model={trained}", "--stride=10", long_text, short_text])
    assert exit_info.value.code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]

    predictor = Predictor.from_directory(trained)
    labels = list(records[0]["probabilities"])
    windows = window_features([long_text], predictor.tokenizer, stride=10)
    assert len(windows["document_index"]) > 3  # 6 sentences in windows of 30 pieces
    logits = predictor.model({k: windows[k] for k in ("token_ids", "segment_ids",
                                                      "padding_mask")}).numpy()
    mean = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).mean(0)
    np.testing.assert_allclose([records[0]["probabilities"][n] for n in labels], mean, atol=1e-5)
    # A text that fits one window: the same prediction as without --stride.
    plain = predictor.predict({"text": [short_text]})[0]["probabilities"]
    assert records[1]["probabilities"] == pytest.approx(plain, abs=1e-5)
    evaluation = predictor.evaluate(sst2 / "dev.tsv", Columns(text="sentence"), stride=10)
    # Scored by the mean over each text's windows, recomputed here: sklearn's
    # accuracy and confusion matrix of the argmax of those means.
    from sklearn.metrics import accuracy_score, confusion_matrix

    rows = _read_tsv(sst2 / "dev.tsv")[1:]
    windows = window_features([r[0] for r in rows], predictor.tokenizer, stride=10)
    documents = windows["document_index"]
    assert np.bincount(documents).max() > 1  # some dev texts span several windows
    logits = predictor.model({k: windows[k] for k in ("token_ids", "segment_ids",
                                                      "padding_mask")}).numpy()
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    sums = np.zeros((len(rows), probabilities.shape[1]))
    np.add.at(sums, documents, probabilities)
    predicted = [labels[i] for i in (sums / np.bincount(documents)[:, None]).argmax(-1)]
    gold = [r[1] for r in rows]
    assert evaluation.num_examples == len(rows) == 48
    assert evaluation.metrics["accuracy"] == pytest.approx(accuracy_score(gold, predicted))
    np.testing.assert_array_equal(
        evaluation.confusion, confusion_matrix(gold, predicted, labels=evaluation.label_names))


def test_a_label_unseen_in_training_names_file_and_line(trained, sst2, tmp_path, capsys):
    from kerasbert.cli.evaluate import main
    from kerasbert.cli.flags import run_main

    rows = _read_tsv(sst2 / "dev.tsv")
    rows[5][1] = "2"  # file line 6
    bad = tmp_path / "dev_bad.tsv"
    bad.write_text("\n".join("\t".join(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["evaluate", f"--model={trained}", f"--eval_data={bad}",
                        "--text_column=sentence", f"--output_dir={tmp_path / 'out'}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kerasbert.evaluate: error:")
    assert f"{bad}, line 6" in err[0] and "label not seen in training: '2'" in err[0]
    assert not (tmp_path / "out").exists()


# -- bad flags: one line, exit code 2, before any work -----------------------------------------

def test_missing_model_directory_is_a_one_line_error(sst2):
    out = _run("evaluate", "--model=/no/such/run", f"--eval_data={sst2 / 'dev.tsv'}",
               timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerasbert.evaluate: error: --model needs a "
                                                   "fine-tuned model directory")
    assert "/no/such/run does not exist: make one with python -m kerasbert.train" in lines[0]


@pytest.mark.parametrize("program,args,message", [
    ("evaluate", ["--eval_data={dev}"], "--model is required"),
    ("evaluate", ["--model={empty}", "--eval_data={dev}"], "has no kerasbert_task.json"),
    ("evaluate", ["--model={model}", "--eval_data={dev}", "--output_dir={model}"],
     "is the model directory, whose metrics are those of training"),
    ("evaluate", ["--model={model}", "--eval_data=/no/dev.tsv"],
     "--eval_data: file /no/dev.tsv does not exist"),
    ("evaluate", ["--model={model}", "--eval_data={dev}", "--text_pair_column=x"],
     "the model reads single texts"),
    ("evaluate", ["--model={model}", "--eval_data={dev}", "--batch_size=0"],
     "--batch_size must be >= 1"),
    ("predict", ["--model={model}"], "give texts to predict as arguments, or --input_file"),
    ("predict", ["--model={model}", "--input_file={dev}", "text"], "(not both)"),
    ("predict", ["--model={model}", "--input_file=/no/in.csv"],
     "--input_file: file /no/in.csv does not exist"),
    ("predict", ["--model={model}", "--text_pair=b", "a"], "single texts, not pairs"),
    ("predict", ["--model={model}", "--output_file=/no/dir/out.jsonl", "a"],
     "--output_file: folder /no/dir does not exist"),
    ("predict", ["--model={model}", "--nosuchflag", "a"], "nosuchflag"),
    ("predict", ["--model={model}", "--stride=0", "a"], "--stride must be in [1, 30]"),
    ("evaluate", ["--model={model}", "--eval_data={dev}", "--stride=31"],
     "--stride must be in [1, 30]"),
    ("export", ["--model={model}"], "--export_dir is required"),
    ("export", ["--model={model}", "--export_dir={empty}", "stray"],
     "unexpected argument 'stray'"),
    ("export", ["--model={model}", "--export_dir={model}"], "is not empty"),
    ("export", ["--model=/no/run", "--export_dir={empty}"],
     "--model needs a fine-tuned model directory, and /no/run does not exist"),
])
def test_bad_flags(trained, sst2, tmp_path, capsys, program, args, message):
    import importlib

    from kerasbert.cli.flags import run_main

    empty = tmp_path / "empty"
    empty.mkdir()
    values = {"model": trained, "dev": sst2 / "dev.tsv", "empty": empty}
    main = importlib.import_module(f"kerasbert.cli.{program}").main
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, [program, *(a.format(**values) for a in args)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"kerasbert.{program}: error:"), err
    assert message in err[0]


# -- every task's serving graph against its Python predictions -------------------------------

def _model_directory(directory, task_name, labels=None, text_pair=False, sequence_length=32,
                     seed=0, pooling="cls", **settings):
    """A randomly initialised tiny model directory of `task_name`, written by
    the same writer as `kerasbert.train`."""
    import keras

    from kerasbert import BertEncoder, BertTokenizer
    from kerasbert.data.label_vocabulary import LabelVocabulary
    from kerasbert.tasks import get_task
    from kerasbert.tasks.keras_task import BertTask
    from kerasbert.tasks.model_directory import save_model_directory

    keras.utils.set_random_seed(seed)
    task = get_task(task_name, labels, **settings)
    model = BertTask(BertEncoder.from_preset(TINY, load_weights=False,
                                             max_position_embeddings=128),
                     task.num_outputs, task.head, pooling=pooling)
    tokenizer = BertTokenizer.from_preset(TINY, sequence_length=sequence_length)
    save_model_directory(str(directory), model, task, tokenizer, sequence_length, text_pair)
    if labels:
        LabelVocabulary(labels, multi_label=task_name == "multilabel").save(directory)
    return directory


def _serving_outputs_in_graph(predictor, inputs):
    """Records of the signature's compiled `serving_outputs` on the logits that
    `predict` computes for the same batch (the tokenization and model are
    one code path; the SavedModel tests run the whole ServingModel)."""
    import tensorflow as tf

    io = predictor.io
    logits, extras = io.signature.logits_function(predictor.model)(
        *[tf.constant(inputs[n], tf.string) for n in io.input_names])
    outputs = tf.function(io.serving_outputs, autograph=False)(logits, extras)
    return io.decode_outputs({k: v.numpy() for k, v in outputs.items()})


def _assert_close_records(a, b, tol=1e-5):
    """Equal nested records, floats within `tol` (None only against None)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_close_records(a[k], b[k], tol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_close_records(x, y, tol)
    elif isinstance(a, float):
        assert b == pytest.approx(a, abs=tol)
    else:
        assert a == b


@pytest.mark.parametrize("task_name,labels,text_pair,pooling", [
    ("classification", ["contradiction", "entailment", "neutral"], True, "cls"),
    ("regression", None, True, "mean"),
    ("multilabel", ["action", "comedy", "drama", "romance"], False, "cls"),
])
def test_text_tasks_serving_graph_matches_task_postprocess(test_data, tmp_path, task_name,
                                                           labels, text_pair, pooling):
    from kerasbert.serving.predictor import Predictor
    from tests.reference import sst2_sentences

    directory = _model_directory(tmp_path / task_name, task_name, labels, text_pair,
                                 pooling=pooling)
    predictor = Predictor.from_directory(directory)
    sentences = sst2_sentences(test_data, "dev", limit=40)
    inputs = {"text": sentences[:20]}
    if text_pair:
        inputs["text_pair"] = sentences[20:]
    expected = predictor.predict(inputs, batch_size=8)
    assert len(expected) == 20
    _assert_close_records(expected, _serving_outputs_in_graph(predictor, inputs))
    if task_name == "multilabel":  # random logits straddle the 0.5 threshold
        assert 0 < sum(len(r["labels"]) for r in expected) < 20 * len(labels)


@pytest.fixture(scope="module")
def ner_and_qa(test_data, tmp_path_factory):
    """Tiny NER (with case markers) and QA model directories, their dev slices
    and their exports."""
    from kerasbert.data.label_vocabulary import LabelVocabulary
    from kerasbert.serving.predictor import Predictor
    from kerasbert.serving.serving_model import export_saved_model
    from kerasbert.training.inputs import read_tagged_sentences

    folder = tmp_path_factory.mktemp("ner_qa")
    sentences = read_tagged_sentences(test_data / "english_ner" / "valid.txt")[:48]
    conll = folder / "valid_slice.txt"
    conll.write_text("".join("\n".join(f"{w} _ _ {t}" for w, t in zip(s.words, s.tags)) + "\n\n"
                             for s in sentences), encoding="utf-8")
    tags = LabelVocabulary.from_examples(sentences).labels
    ner = _model_directory(folder / "ner", "ner", tags, sequence_length=24, seed=3,
                           case_markers=True)

    squad = json.loads((test_data / "squad" / "dev-v1.1.json").read_text(encoding="utf-8"))
    article = squad["data"][0]
    article["paragraphs"] = [dict(p, qas=p["qas"][:3]) for p in article["paragraphs"][:4]]
    squad_slice = folder / "squad_slice.json"
    squad_slice.write_text(json.dumps({"version": "1.1", "data": [article]}), encoding="utf-8")
    qa = _model_directory(folder / "qa", "qa", sequence_length=64, seed=1, doc_stride=16,
                          max_query_length=16, n_best_size=5, max_answer_length=8)
    exports, predictors = {}, {}
    for name, directory in (("ner", ner), ("qa", qa)):
        predictors[name] = Predictor.from_directory(directory)
        exports[name] = folder / f"{name}_export"
        export_saved_model(directory, exports[name], predictors[name])
    return {"ner": ner, "qa": qa, "conll": conll, "sentences": sentences,
            "squad": squad_slice, "article": article, "exports": exports,
            "predictors": predictors}


def _qa_inputs(article):
    """Questions on their (multi-window) contexts, plus an accented context and
    an empty one."""
    questions, contexts = [], []
    for paragraph in article["paragraphs"]:
        for qa in paragraph["qas"]:
            questions.append(qa["question"])
            contexts.append(paragraph["context"])
    questions += ["Où est le café ?", "What is here?"]
    contexts += ["Le café est à Zürich, près de l'Université — naïve façade.", ""]
    return {"question": questions, "context": contexts}


def test_ner_and_qa_serving_graphs_match_task_postprocess(ner_and_qa, tmp_path):

    ner = ner_and_qa["predictors"]["ner"]
    ner_inputs = {"text": [" ".join(s.words) for s in ner_and_qa["sentences"]]
                  + ["", "  spaced   out  "]}
    ner_expected = ner.predict(ner_inputs, batch_size=16)
    assert sum(len(r["entities"]) for r in ner_expected) > 20  # a random model tags plenty
    for text, record in zip(ner_inputs["text"], ner_expected):
        for entity in record["entities"]:  # character spans of the text
            assert text[entity["start"]:entity["end"]] == entity["text"]
    qa = ner_and_qa["predictors"]["qa"]
    qa_inputs = _qa_inputs(ner_and_qa["article"])
    qa_expected = qa.predict(qa_inputs, batch_size=16)
    assert qa_expected[-1] == {"answer": "", "score": None}

    results, modules = _load_in_fresh_process(tmp_path, [
        (ner_and_qa["exports"]["ner"], ner_inputs), (ner_and_qa["exports"]["qa"], qa_inputs)])
    assert modules == []
    assert [r["task"] for r in results] == ["ner", "qa"]
    assert ner.task.case_markers
    assert results[0]["label_names"] == ner.task.labels
    _assert_close_records(ner_expected, ner.io.decode_outputs(
        _numpy_outputs(results[0]["outputs"])))
    _assert_close_records(qa_expected, qa.io.decode_outputs(
        _numpy_outputs(results[1]["outputs"])), tol=1e-4)


def test_ner_and_qa_evaluate_agree_with_their_predictions(ner_and_qa, tmp_path, capsys):
    from kerasbert.cli.evaluate import main
    from kerasbert.cli.flags import run_main
    from seqeval.metrics.sequence_labeling import get_entities

    from kerasbert.metrics.squad import squad_metrics

    ner = ner_and_qa["predictors"]["ner"]
    # Sentences whose every word has a position (evaluation does not score
    # words past max_seq_length, prediction tags them O), counting a case
    # marker for every word with a capital.
    # Words that the predictor splits no further (no "U.S.", "1-0"): the raw
    # text has the file's words.
    sentences = [s for s in ner_and_qa["sentences"] if sum(
        max(len(p), 1) + (w.lower() != w)
        for w, p in zip(s.words, ner.tokenizer.tokenize(list(s.words)).to_list())) <= 22
        and ner.tokenizer.split_words_with_offsets([" ".join(s.words)])[0].to_list()[0]
        == [w.encode() for w in s.words]]
    assert len(sentences) >= 20
    conll = tmp_path / "short.txt"
    conll.write_text("".join("\n".join(f"{w} _ _ {t}" for w, t in zip(s.words, s.tags)) + "\n\n"
                             for s in sentences), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["evaluate", f"--model={ner_and_qa['ner']}", f"--eval_data={conll}",
                        f"--output_dir={tmp_path / 'ner'}"])
    assert exit_info.value.code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "ner" / "metrics.json").read_text())
    predicted = ner.predict({"text": [" ".join(s.words) for s in sentences]})
    # Gold entities as character spans of the words joined by spaces.
    gold = [{(t, len(" ".join(s.words[:a])) + (a > 0), len(" ".join(s.words[:b + 1])))
             for t, a, b in get_entities(list(s.tags))} for s in sentences]
    found = [{(e["type"], e["start"], e["end"]) for e in p["entities"]} for p in predicted]
    correct = sum(len(g & f) for g, f in zip(gold, found))
    assert metrics["entity_precision"] == pytest.approx(correct / sum(map(len, found)))
    assert metrics["entity_recall"] == pytest.approx(correct / sum(map(len, gold)))
    assert not (tmp_path / "ner" / "confusion_matrix.png").exists()
    assert "entity_f1" in (tmp_path / "ner" / "metrics_report.txt").read_text()

    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["evaluate", f"--model={ner_and_qa['qa']}",
                        f"--eval_data={ner_and_qa['squad']}", f"--output_dir={tmp_path / 'qa'}"])
    assert exit_info.value.code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "qa" / "metrics.json").read_text())
    article = ner_and_qa["article"]
    qas = [(qa, p["context"]) for p in article["paragraphs"] for qa in p["qas"]]
    answers = ner_and_qa["predictors"]["qa"].predict(
        {"question": [q["question"] for q, _ in qas], "context": [c for _, c in qas]})
    expected = squad_metrics({q["id"]: a["answer"] for (q, _), a in zip(qas, answers)},
                             {q["id"]: [x["text"] for x in q["answers"]] for q, _ in qas})
    assert metrics == pytest.approx(expected)


def test_predict_reads_pairs_from_flags_and_files(ner_and_qa, tmp_path, capsys):
    from kerasbert.cli.flags import run_main
    from kerasbert.cli.predict import main

    inputs = {k: v[-5:-1] for k, v in _qa_inputs(ner_and_qa["article"]).items()}
    expected = ner_and_qa["predictors"]["qa"].predict(inputs)
    model = f"--model={ner_and_qa['qa']}"
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["predict", model, *inputs["question"],
                        *(f"--text_pair={c}" for c in inputs["context"])])
    assert exit_info.value.code == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    source = tmp_path / "questions.jsonl"
    source.write_text("".join(json.dumps({"q": q, "c": c}) + "\n" for q, c in zip(
        inputs["question"], inputs["context"])), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["predict", model, f"--input_file={source}", "--text_column=q",
                        "--text_pair_column=c", f"--output_file={tmp_path / 'answers.jsonl'}"])
    assert exit_info.value.code == 0
    written = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    rows = [{"question": q, "context": c, **e}
            for q, c, e in zip(inputs["question"], inputs["context"], expected)]
    assert printed == rows and written == rows

    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["predict", model, "Who?"])
    assert exit_info.value.code == 2
    assert "give one --text_pair (the context) per text" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:.* seems not to be NE tag")
def test_entity_chunking_in_graph_follows_seqeval():
    """IOB1 / IOB2 / IOBES and malformed tag sequences, chunked a batch of rows
    at once in the serving graph: seqeval's entities, as character spans of
    the text with its texts and mean scores."""
    import tensorflow as tf
    from seqeval.metrics.sequence_labeling import get_entities

    from kerasbert.tasks.token_classification import _entities

    rng = np.random.default_rng(0)
    vocabulary = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-LOC", "S-MISC", "I-MISC", ".",
                  "B", "Q-PER", "E-PER", "S-LOC"]
    sentences = [list(rng.choice(vocabulary, size=rng.integers(0, 10))) for _ in range(300)]
    width = max(map(len, sentences))
    words = [[f"w{j}" * (1 + j % 3) for j in range(len(s))] for s in sentences]
    texts = ["  ".join(row) for row in words]
    offsets = [[(len("  ".join(row[:j])) + 2 * (j > 0), len("  ".join(row[:j + 1])))
                for j in range(len(row))] for row in words]
    tags = tf.constant([s + ["O"] * (width - len(s)) for s in sentences])
    starts = tf.constant([[a for a, _ in row] + [-1] * (width - len(row)) for row in offsets],
                         tf.int64)
    ends = tf.constant([[b for _, b in row] + [-1] * (width - len(row)) for row in offsets],
                       tf.int64)
    scores = rng.random((len(sentences), width)).astype("float32")
    out = {k: v.numpy() for k, v in _entities(tags, tf.constant(scores), tf.constant(texts),
                                              starts, ends).items()}
    assert out["num_entities"].sum() > 500
    for i, sentence in enumerate(sentences):
        expected = get_entities(sentence)
        assert out["num_entities"][i] == len(expected)
        for k, (type_, first, last) in enumerate(expected):
            start, end = offsets[i][first][0], offsets[i][last][1]
            assert out["entity_types"][i, k].decode() == type_
            assert (out["entity_starts"][i, k], out["entity_ends"][i, k]) == (start, end)
            assert out["entity_texts"][i, k].decode() == texts[i][start:end]
            assert out["entity_scores"][i, k] == pytest.approx(
                scores[i, first:last + 1].mean(), abs=1e-5)
