"""The metrics report: metrics.json, the text report and the confusion-matrix PNG."""

import csv
import json

import numpy as np
import pytest

from kerasbert.metrics import classification_metrics, confusion_matrix, regression_metrics
from kerasbert.metrics.report import (CONFUSION_FILE, METRICS_FILE, REPORT_FILE,
                                      format_metrics_report, per_label_scores,
                                      write_metrics_report)


@pytest.fixture(scope="module")
def sst2_dev_labels(test_data):
    """Gold labels of the real SST-2 dev set and a deterministic, imperfect
    'prediction' of them (every 7th label flipped)."""
    with open(test_data / "glue" / "SST-2" / "dev.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    gold = np.array([int(r[1]) for r in rows])
    predicted = gold.copy()
    predicted[::7] = 1 - predicted[::7]
    return gold, predicted


def _table_rows(text, title):
    """Data rows of the report section whose first line is `title` (the
    "metrics" section has no column header)."""
    lines = text.splitlines()
    start = lines.index(title) + (1 if title == "metrics" else 2)
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_classification_report_files(tmp_path, sst2_dev_labels):
    gold, predicted = sst2_dev_labels
    names = ["negative", "positive"]
    metrics = classification_metrics(gold, predicted, names)
    matrix = confusion_matrix(gold, predicted, 2)
    paths = write_metrics_report(tmp_path / "eval", metrics, task="classification",
                                 label_names=names, confusion=matrix, num_examples=len(gold),
                                 source="dev.tsv")
    assert paths == {"metrics": str(tmp_path / "eval" / METRICS_FILE),
                     "report": str(tmp_path / "eval" / REPORT_FILE),
                     "confusion_matrix": str(tmp_path / "eval" / CONFUSION_FILE)}

    assert json.loads((tmp_path / "eval" / METRICS_FILE).read_text()) == metrics

    text = (tmp_path / "eval" / REPORT_FILE).read_text()
    assert f"dev.tsv ({len(gold)} examples)" in text
    shown = {row[0]: float(row[1]) for row in _table_rows(text, "metrics")}
    assert set(shown) == {k for k in metrics if "/" not in k}
    for name, value in shown.items():
        assert value == pytest.approx(metrics[name], abs=5e-5), name
    # Per-label rows: precision / recall / f1 / support, from the matrix.
    per_label = {row[0]: [float(x) for x in row[1:]] for row in
                 _table_rows(text, "per label")}
    for i, name in enumerate(names):
        precision, recall, f1, support = per_label[name]
        assert f1 == pytest.approx(metrics[f"f1/{name}"], abs=5e-5)
        assert support == (gold == i).sum()
        assert precision == pytest.approx(((predicted == i) & (gold == i)).sum()
                                          / (predicted == i).sum(), abs=5e-5)
        assert recall == pytest.approx(((predicted == i) & (gold == i)).sum()
                                       / (gold == i).sum(), abs=5e-5)
    counts = [[int(x) for x in row[1:]] for row in _table_rows(
        text, "confusion matrix (rows: true label, columns: predicted label)")]
    assert counts == matrix.tolist()
    assert sum(map(sum, counts)) == len(gold)

    png = (tmp_path / "eval" / CONFUSION_FILE).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    import matplotlib.image

    pixels = matplotlib.image.imread(tmp_path / "eval" / CONFUSION_FILE)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 300
    assert pixels[..., :3].std() > 0.05  # drawn, not blank


def test_per_label_scores_match_the_classification_metrics(sst2_dev_labels):
    gold, predicted = sst2_dev_labels
    metrics = classification_metrics(gold, predicted, ["0", "1"])
    precision, recall, f1, support = per_label_scores(confusion_matrix(gold, predicted, 2))
    assert f1.mean() == pytest.approx(metrics["f1_macro"])
    assert precision.mean() == pytest.approx(metrics["precision_macro"])
    assert recall.mean() == pytest.approx(metrics["recall_macro"])
    assert support.tolist() == np.bincount(gold).tolist()


def test_regression_report_has_no_confusion_matrix(tmp_path, sst2_dev_labels):
    gold, predicted = sst2_dev_labels
    metrics = regression_metrics(gold.astype(float), predicted * 0.8 + 0.1)
    paths = write_metrics_report(tmp_path, metrics, task="regression", num_examples=len(gold))
    assert paths["confusion_matrix"] is None and not (tmp_path / CONFUSION_FILE).exists()
    text = (tmp_path / REPORT_FILE).read_text()
    shown = {row[0]: float(row[1]) for row in _table_rows(text, "metrics")}
    assert shown.keys() == {"pearson", "spearman", "mse"}
    assert shown["pearson"] == pytest.approx(metrics["pearson"], abs=5e-5)
    assert "per label" not in text


def test_per_label_metrics_of_any_task_form_a_table():
    metrics = {"entity_f1": 0.5, "entity_f1/PER": 0.75, "support/PER": 4,
               "entity_f1/LOC": 0.25, "support/LOC": 2}
    text = format_metrics_report(metrics, task="ner")
    assert _table_rows(text, "metrics") == [["entity_f1", "0.5000"]]
    assert _table_rows(text, "per label") == [["PER", "0.7500", "4"], ["LOC", "0.2500", "2"]]
    header = text.splitlines()[text.splitlines().index("per label") + 1].split()
    assert header == ["label", "entity_f1", "support"]


def test_json_is_skipped_on_request(tmp_path):
    write_metrics_report(tmp_path, {"accuracy": np.float32(0.5)}, write_json=False)
    assert not (tmp_path / METRICS_FILE).exists()
    assert "accuracy  0.5000" in (tmp_path / REPORT_FILE).read_text()
