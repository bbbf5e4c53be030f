"""The Colab notebooks in colab/: each runs top to bottom in a fresh Jupyter
kernel with FAST = True and shows what it promises (metrics, the confusion
matrix, a SavedModel that agrees with the Predictor, the search table and plot,
entities and answers, per-user adapters that disagree); the committed files
carry no outputs and switch to the fast setting with one parameter."""

import base64
import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

COLAB = Path(__file__).resolve().parent.parent / "colab"
NOTEBOOKS = ("finetune_tpu", "tune", "ner_and_qa", "pretrain_and_customize", "small_and_fast",
             "chinese")
CELL_TIMEOUT_S = 300
PROBE = "NOTEBOOK-PROBE "
# The kernels inherit HF_ENDPOINT / HF_HOME from tests/conftest.py: presets come
# from its hub stand-in on 127.0.0.1 (so no HF_HUB_OFFLINE here).
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def read(name):
    return nbformat.read(COLAB / f"{name}.ipynb", as_version=4)


def parameters_cell(nb):
    """The one code cell tagged `parameters` (papermill's convention)."""
    cells = [c for c in nb.cells
             if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one parameters cell, found {len(cells)}"
    return cells[0]


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A `python3` kernel spec on this interpreter, so that the notebooks run with
    the kerasbert under test whatever kernel specs the machine has installed."""
    from ipykernel.kernelspec import write_kernel_spec

    kernels = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(kernels / "python3")
    return kernels


@pytest.fixture
def run_notebook(kernel_dir, tmp_path):
    """`run(name, probe=None, parameters=None, until=None)`: execute the notebook with
    FAST = True in tmp_path (its working directory); `parameters` is code run right
    after the parameters cell (as papermill injects it), `probe` an expression of the
    notebook's variables that a cell appended at the end prints as JSON, `until` a
    piece of code: the notebook stops after the first cell that holds it. Returns
    the executed notebook."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    def run(name, probe=None, parameters=None, until=None):
        nb = read(name)
        if until is not None:  # the cells up to the first whose code holds `until`
            last = next(i for i, c in enumerate(nb.cells) if until in c.source)
            nb.cells = nb.cells[:last + 1]
        cell = parameters_cell(nb)
        assert cell.source.count("FAST = False") == 1
        cell.source = cell.source.replace("FAST = False", "FAST = True")
        if parameters:
            nb.cells.insert(nb.cells.index(cell) + 1, nbformat.v4.new_code_cell(parameters))
        if probe:
            nb.cells.append(nbformat.v4.new_code_cell(
                f"import json\nprint({PROBE!r} + json.dumps({probe}, default=float))"))
        specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
        manager = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)
        client = NotebookClient(nb, km=manager, timeout=CELL_TIMEOUT_S,
                                resources={"metadata": {"path": str(tmp_path)}})
        start = time.monotonic()
        # cleanup_kc: nbclient shuts down only kernels it started itself, and a
        # kernel left running holds its 1.5-3 GB until the test process ends.
        client.execute(cleanup_kc=True, env={**os.environ, **KERNEL_ENV})
        print(f"{name}.ipynb ran in {time.monotonic() - start:.0f} s")
        return nb

    return run


def outputs(nb):
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


def text(nb):
    """Everything the notebook printed (streams and plain-text results)."""
    parts = []
    for output in outputs(nb):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"].rstrip("\n") + "\n")  # a line of its own
    return "".join(parts)


def shown(nb, mime):
    """The displayed values of one MIME type, in order."""
    return [output.data[mime] for output in outputs(nb) if mime in output.get("data", {})]


def png_images(nb):
    return [base64.b64decode(data) for data in shown(nb, "image/png")]


def probed(nb):
    lines = [line for line in text(nb).splitlines() if line.startswith(PROBE)]
    assert len(lines) == 1
    return json.loads(lines[0][len(PROBE):])


SAMPLES = Path(__file__).resolve().parent.parent / "kerasbert" / "data" / "samples"


def dev_rows(path):
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def dev_accuracy(model_dir, path):
    """Accuracy of the predictions of the model saved in `model_dir` on the
    text,label CSV `path`, recomputed here apart from the notebook."""
    from kerasbert.serving import Predictor

    rows = dev_rows(path)
    predicted = Predictor.from_directory(str(model_dir)).predict(
        {"text": [row["text"] for row in rows]})
    assert len(predicted) == len(rows)
    return sum(p["label"] == row["label"] for p, row in zip(predicted, rows)) / len(rows)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_clean_and_has_a_fast_parameter(name):
    nb = read(name)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].cell_type == "markdown"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.id} has outputs"
            assert cell.execution_count is None, f"cell {cell.id} has an execution count"
    source = parameters_cell(nb).source
    assert re.search(r"^FAST = False\b", source, re.M)
    assert re.search(r"^INSTALL = None\b", source, re.M)  # install where kerasbert is missing
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "if INSTALL:" in code and '"-m", "kerasbert.install"' in code


def test_finetune_tpu_notebook(run_notebook, tmp_path):
    nb = run_notebook("finetune_tpu", probe=(
        '{"metrics": metrics, "evaluation": evaluation.metrics, '
        '"confusion": evaluation.confusion.tolist(), "label_names": evaluation.label_names, '
        '"served": served, "direct": direct, "explanations": explanations}'))
    printed, values = text(nb), probed(nb)
    assert "No TPU" in printed and "Falling back to the CPU." in printed
    assert "strategy: default strategy (cpu), 1 replica" in printed
    model_dir = tmp_path / "runs" / "finetune"
    # Training's dev accuracy and the Predictor's are both the saved model's,
    # recomputed here from its predictions on the dev rows.
    accuracy = dev_accuracy(model_dir, SAMPLES / "sentiment_dev.csv")
    assert values["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert values["evaluation"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert f"'accuracy': {round(values['metrics']['accuracy'], 4)}" in printed
    # The confusion matrix: rows are the dev rows' true labels, its diagonal the hits.
    confusion, names = values["confusion"], values["label_names"]
    rows = dev_rows(SAMPLES / "sentiment_dev.csv")
    assert [sum(row) for row in confusion] == [
        sum(r["label"] == name for r in rows) for name in names]
    assert sum(map(sum, confusion)) == len(rows)
    assert sum(confusion[i][i] for i in range(len(names))) == round(accuracy * len(rows))
    scored = model_dir / "eval" / "sentiment_dev"  # beside training's metrics, not over them
    written = json.loads((scored / "metrics.json").read_text())
    assert written["accuracy"] == pytest.approx(values["evaluation"]["accuracy"])
    assert (scored / "confusion_matrix.png").read_bytes() in png_images(nb)
    trained = json.loads((model_dir / "metrics.json").read_text())
    assert trained["accuracy"] == pytest.approx(values["metrics"]["accuracy"])
    assert "confusion matrix (rows: true label" in printed

    assert (tmp_path / "runs" / "finetune_savedmodel" / "saved_model.pb").is_file()
    served, direct = values["served"], values["direct"]
    assert len(served) == len(direct) == 4
    for s, d in zip(served, direct):
        assert s["label"] == d["label"]
        assert s["score"] == pytest.approx(d["score"], abs=1e-5)
        for label, p in d["probabilities"].items():
            assert s["probabilities"][label] == pytest.approx(p, abs=1e-5)
    assert "labels agree: True" in printed
    # Section 6: the directory is a Keras preset, and Keras alone trains one.
    assert "Keras model agrees with the Predictor: True" in printed
    assert "Keras fit dev accuracy:" in printed
    # Section 7: the Keras model explains the first two texts' predictions, shown as HTML.
    explanations = values["explanations"]
    assert [e["text"] for e in explanations] == [
        "The cast was a real joy to watch.", "It drags on without any purpose."]
    for record, d in zip(explanations, direct):
        assert record["label"] == d["label"]
        assert record["score"] == pytest.approx(d["score"], abs=1e-4)
        assert record["convergence_delta"] == pytest.approx(
            sum(record["attributions"]) - (record["score"] - record["baseline_score"]),
            abs=1e-6)
    pages = [page for page in shown(nb, "text/html") if "kerasbert explanations" in page]
    assert len(pages) == 1 and pages[0].count('class="row"') == 2
    for record in explanations:
        for token, value in zip(record["tokens"], record["attributions"]):
            assert f'title="{token}: {value:.6g}"' in pages[0]
    assert printed.count("strongest words:") == 2
    assert (tmp_path / "runs" / "finetune_keras" / "kerasbert_task.json").is_file()


def test_finetune_tpu_notebook_reads_a_tfds_dataset(run_notebook, tmp_path):
    """TFDS_NAME: the notebook prepares the dataset and trains on it as CSV."""
    import csv

    import tensorflow as tf
    import tensorflow_datasets as tfds

    from kerasbert.data.delimited import read_delimited

    samples = Path(__file__).resolve().parent.parent / "kerasbert" / "data" / "samples"
    names = ["negative", "positive"]

    def split(file_name):
        rows = read_delimited(samples / file_name, "text", "label")
        return tf.data.Dataset.from_tensor_slices(
            {"review": [r.text for r in rows], "stars": [names.index(r.label) for r in rows]})

    tfds.dataset_builders.store_as_tfds_dataset(
        name="kerasbert_reviews", version="1.0.0", data_dir=str(tmp_path / "tfds"),
        features=tfds.features.FeaturesDict({"review": tfds.features.Text(),
                                             "stars": tfds.features.ClassLabel(names=names)}),
        split_datasets={"train": split("sentiment_train.csv"),
                        "validation": split("sentiment_dev.csv")}, disable_shuffling=True)
    # Up to the evaluation: what follows is the same as from the sample's CSV files.
    nb = run_notebook("finetune_tpu", until="predictor.evaluate(", parameters=(
        f'TFDS_NAME = "kerasbert_reviews"\nTFDS_DIR = {str(tmp_path / "tfds")!r}\n'
        'TFDS_TEXT, TFDS_LABEL = "review", "stars"'))
    printed = text(nb)
    assert "train: data/train.csv: 240 rows" in printed
    assert "dev: data/eval.csv: 120 rows" in printed
    with open(tmp_path / "data" / "eval.csv", newline="", encoding="utf-8") as f:
        written = [(row["text"], row["label"]) for row in csv.DictReader(f)]
    expected = read_delimited(samples / "sentiment_dev.csv", "text", "label")
    assert written == [(e.text, e.label) for e in expected]
    metrics = json.loads((tmp_path / "runs" / "finetune" / "metrics.json").read_text())
    accuracy = dev_accuracy(tmp_path / "runs" / "finetune", tmp_path / "data" / "eval.csv")
    assert metrics["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert f"'accuracy': {round(metrics['accuracy'], 4)}" in printed
    assert "confusion matrix (rows: true label" in printed


def test_tune_notebook(run_notebook, tmp_path):
    nb = run_notebook("tune")
    search = tmp_path / "runs" / "search"
    results = json.loads((search / "results.json").read_text())
    trials = results["trials"]
    assert len(trials) == 2
    assert all(t["status"] == "COMPLETED" for t in trials)
    assert set(trials[0]["hyperparameters"]) == {"learning_rate", "batch_size"}
    # Each trial's objective is the dev accuracy its own run wrote; the best trial
    # is the one with the highest, and best_model/ is its model.
    for trial in trials:
        written = json.loads((tmp_path / trial["output_dir"] / "metrics.json").read_text())
        assert trial["objective"] == pytest.approx(written["accuracy"], abs=1e-6)
    top = max(t["objective"] for t in trials)
    best = next(t for t in trials if t["trial_id"] == results["best_trial"])
    assert results["direction"] == "max" and best["objective"] == top
    dev = SAMPLES / "sentiment_dev.csv"
    assert dev_accuracy(search / "best_model", dev) == pytest.approx(top, abs=1e-6)

    tables = [h for h in shown(nb, "text/html") if "kerasbert-search-results" in h]
    assert len(tables) == 1 and tables[0].count("<tr") == 1 + len(trials)
    assert (search / "search.png").read_bytes() in png_images(nb)
    assert "2 trials: 2 completed, 0 failed" in text(nb)

    assert (search / "best_config.yaml").is_file()
    retrained = json.loads((tmp_path / "runs" / "best" / "metrics.json").read_text())
    assert retrained["accuracy"] == pytest.approx(dev_accuracy(tmp_path / "runs" / "best", dev),
                                                  abs=1e-6)
    assert (f"best trial's dev accuracy: {top:.4f}; retrained: {retrained['accuracy']:.4f}"
            in text(nb))
    assert "retrained dev metrics:" in text(nb)


def test_ner_and_qa_notebook(run_notebook, tmp_path):
    from kerasbert.metrics.sequence_labeling import entity_spans
    from kerasbert.metrics.squad import squad_metrics
    from kerasbert.serving import Predictor

    nb = run_notebook("ner_and_qa", probe=(
        '{"ner_metrics": ner_metrics, "qa_metrics": qa_metrics, "sentences": sentences, '
        '"ner": ner_predictions, "questions": questions, "qa": qa_predictions}'))
    values, printed = probed(nb), text(nb)
    # Entity F1 recomputed from the saved NER model's entities on the dev file the
    # notebook wrote, against that file's BIO tags (exact spans, micro over entities).
    sentences = [[line.split() for line in block.splitlines()] for block in
                 (tmp_path / "data" / "ner_dev.txt").read_text(encoding="utf-8").split("\n\n")
                 if block.strip()]
    found = Predictor.from_directory(str(tmp_path / "runs" / "ner")).predict(
        {"text": [" ".join(word for word, _ in s) for s in sentences]})
    # Gold entities as character spans of the words joined by spaces, as predicted.
    words = [[w for w, _ in s] for s in sentences]
    gold = {(i, (t, len(" ".join(words[i][:a])) + (a > 0), len(" ".join(words[i][:b + 1]))))
            for i, s in enumerate(sentences) for t, a, b in entity_spans([t for _, t in s])}
    guessed = {(i, (e["type"], e["start"], e["end"]))
               for i, p in enumerate(found) for e in p["entities"]}
    f1 = 2 * len(gold & guessed) / (len(gold) + len(guessed))
    assert values["ner_metrics"]["entity_f1"] == pytest.approx(f1, abs=1e-6)
    # Exact match and F1 recomputed by the package's SQuAD metric from the saved QA
    # model's answers to the dev questions the notebook wrote.
    squad = json.loads((tmp_path / "data" / "squad_dev.json").read_text(encoding="utf-8"))
    qas = [(qa, p["context"]) for a in squad["data"] for p in a["paragraphs"] for qa in p["qas"]]
    answers = Predictor.from_directory(str(tmp_path / "runs" / "qa")).predict(
        {"question": [qa["question"] for qa, _ in qas], "context": [c for _, c in qas]})
    scores = squad_metrics({qa["id"]: a["answer"] for (qa, _), a in zip(qas, answers)},
                           {qa["id"]: [g["text"] for g in qa["answers"]] for qa, _ in qas})
    assert values["qa_metrics"]["exact_match"] == pytest.approx(scores["exact_match"], abs=1e-6)
    assert values["qa_metrics"]["f1"] == pytest.approx(scores["f1"], abs=1e-6)
    entities = [e for p in values["ner"] for e in p["entities"]]
    assert entities, "no entity found in the example sentences"
    for sentence, prediction in zip(values["sentences"], values["ner"]):
        for entity in prediction["entities"]:
            assert entity["type"] in {"PER", "LOC", "ORG"}
            assert entity["text"] == sentence[entity["start"]:entity["end"]]
            assert f"{entity['text']} [{entity['type']}" in printed
    html = "".join(shown(nb, "text/html"))
    assert html.count("<mark") >= len(entities) + len(values["qa"])
    assert f"<sub>{entities[0]['type']}</sub>" in html

    for context, prediction in zip(values["questions"]["context"], values["qa"]):
        assert prediction["answer"] and prediction["answer"] in context
        assert f"A: {prediction['answer']!r}" in printed
    assert values["ner_metrics"]["entity_f1"] > 0.5, "the tiny NER data is learnable"


def test_pretrain_and_customize_notebook(run_notebook, tmp_path):
    nb = run_notebook("pretrain_and_customize", probe=(
        '{"before": pretraining["before"], "after": pretraining["after"], '
        '"steps": pretraining["steps"], "adapters": adapters, "bank": bank_labels, '
        '"merged": merged_labels}'))
    values = probed(nb)
    # What the notebook shows is what pretrain wrote; the steps are the epochs'
    # full batches of the instances written.
    written = json.loads((tmp_path / "runs" / "adapted" / "metrics.json").read_text())
    for when in ("before", "after"):
        assert values[when] == pytest.approx(written[when], abs=1e-9)
        assert (f"held-out {when:>6}: masked-LM accuracy {written[when]['mlm_accuracy']:.4f}, "
                f"perplexity {written[when]['perplexity']:.1f}") in text(nb)
    batch_size, epochs = 16, 1  # the notebook's BATCH_SIZE and PRETRAIN_EPOCHS with FAST
    assert values["steps"] == written["steps"] == written["train_instances"] // batch_size * epochs

    for user in ("alice", "bob"):
        adapter = tmp_path / values["adapters"][user]
        encoder = tmp_path / "runs" / "users" / user / "encoder"
        merged_bytes = sum(f.stat().st_size for f in encoder.rglob("*") if f.is_file())
        assert adapter.is_file() and adapter.stat().st_size < 0.05 * merged_bytes
    bank, merged = values["bank"], values["merged"]
    assert bank == merged, "the bank must give each user's merged-model predictions"
    differ = sum(a != b for a, b in zip(bank["alice"], bank["bob"]))
    assert differ > len(bank["alice"]) // 2, f"alice and bob disagree on only {differ} texts"
    assert any("kerasbert-adapters" in h for h in shown(nb, "text/html"))


def test_small_and_fast_notebook(run_notebook, tmp_path):
    # distill -> export (LiteRT) -> predict, checked against what the notebook wrote.
    from kerasbert.serving import Predictor

    nb = run_notebook("small_and_fast", probe=(
        '{"teacher": teacher_metrics["accuracy"], "student": student_accuracy, '
        '"sizes": sizes, "litert": [p["label"] for p in litert_predictions], '
        '"litert_accuracy": litert_accuracy, "agreement": agreement, '
        '"ms": {k: v.batch1_ms for k, v in timings.items()}}'))
    values, printed = probed(nb), text(nb)
    runs = tmp_path / "runs"
    distilled = json.loads((runs / "student" / "distill.json").read_text())
    assert distilled["num_layers"] == 2 and distilled["layer_map"] == [2, 5]
    assert values["student"] == pytest.approx(distilled["student"]["accuracy"], abs=1e-9)
    dev = SAMPLES / "sentiment_dev.csv"
    assert values["student"] == pytest.approx(dev_accuracy(runs / "student", dev), abs=1e-6)
    assert values["teacher"] == pytest.approx(dev_accuracy(runs / "teacher", dev), abs=1e-6)
    # The int8 file is what the notebook says, about a third of the float32 one, and its
    # labels (recomputed here from the file) are the notebook's.
    files = {q: runs / "student_litert" / f"model_{q}.tflite" for q in ("none", "int8")}
    assert {q: f.stat().st_size for q, f in files.items()} == values["sizes"]
    assert values["sizes"]["int8"] < 0.4 * values["sizes"]["none"]
    rows = dev_rows(dev)
    labels = [p["label"] for p in Predictor.from_litert(str(files["int8"])).predict(
        {"text": [r["text"] for r in rows]})]
    assert labels == values["litert"]
    assert values["litert_accuracy"] == sum(
        a == r["label"] for a, r in zip(labels, rows)) / len(rows)
    assert values["agreement"] >= 0.9
    assert f"agrees with the student on {values['agreement']:.1%} of the dev rows" in printed
    assert set(values["ms"]) == {"teacher SavedModel", "student LiteRT int8"}
    assert "x faster" in printed


def test_chinese_notebook(run_notebook, tmp_path):
    """From scratch on generated Chinese text: a vocabulary with no [UNK] for the
    test sentence, whole-word-masking pretraining, a CRF NER model whose entities
    on raw text are character spans (recomputed here from the saved model and
    from the SavedModel the notebook wrote)."""
    import tensorflow as tf

    from kerasbert.serving import Predictor

    nb = run_notebook("chinese", probe=(
        '{"unknown": unknown, "entities": entities, "served": served_entities, '
        '"f1": ner_metrics["entity_f1"], "steps": pretraining["steps"]}'))
    values, printed = probed(nb), text(nb)
    runs = tmp_path / "runs"
    settings = json.loads(
        (runs / "zh_bert" / "pretraining_data" / "pretraining_data.json").read_text())
    assert settings["settings"]["chinese_words"] == "jieba"  # whole-word masking, by jieba
    assert values["unknown"] == 0 and values["steps"] == 20
    texts = ["王芳在深圳工作。", "李娜昨天到杭州开会。"]
    predicted = Predictor.from_directory(str(runs / "zh_ner")).predict({"text": texts})
    entities = [[[e["type"], e["start"], e["end"], e["text"]] for e in row["entities"]]
                for row in predicted]
    assert values["entities"] == values["served"] == entities
    assert entities[0] == [["PER", 0, 2, "王芳"], ["LOC", 3, 5, "深圳"]]
    for text_, row in zip(texts, entities):
        assert all(text_[start:end] == word for _, start, end, word in row)
    info = json.loads((runs / "zh_ner" / "kerasbert_task.json").read_text())
    assert info["settings"]["ner_head"] == "crf"
    served = tf.saved_model.load(str(runs / "zh_ner_savedmodel"))
    assert "serving_default" in served.signatures
    assert "the SavedModel agrees: True" in printed
