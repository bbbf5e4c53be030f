"""Classification, multi-label and regression metrics over a whole dev set."""

import numpy as np


def confusion_matrix(labels, predictions, num_classes):
    """`[num_classes, num_classes]` counts, rows true, columns predicted."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def _prf(tp, fp, fn):
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp, float), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp, float), where=(tp + fn) > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return precision, recall, f1


def matthews_corrcoef(matrix):
    """Multiclass Matthews correlation from a confusion matrix (sklearn's formula)."""
    t, p = matrix.sum(1).astype(float), matrix.sum(0).astype(float)
    c, s = float(np.trace(matrix)), float(matrix.sum())
    denominator = np.sqrt((s * s - p @ p) * (s * s - t @ t))
    return float((c * s - t @ p) / denominator) if denominator else 0.0


def classification_metrics(labels, predictions, label_names):
    """accuracy, precision/recall/F1 macro and micro, per-class F1, MCC."""
    k = len(label_names)
    matrix = confusion_matrix(labels, predictions, k)
    tp = np.diag(matrix).astype(float)
    fp, fn = matrix.sum(0) - tp, matrix.sum(1) - tp
    precision, recall, f1 = _prf(tp, fp, fn)
    _, _, f1_micro = _prf(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))
    metrics = {
        "accuracy": float(tp.sum() / max(matrix.sum(), 1)),
        "precision_macro": float(precision.mean()), "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()), "f1_micro": float(f1_micro[0]),
        "mcc": matthews_corrcoef(matrix),
    }
    metrics.update({f"f1/{name}": float(v) for name, v in zip(label_names, f1)})
    return metrics


def multilabel_metrics(labels, predictions, label_names):
    """Micro and macro F1 over a 0/1 indicator matrix, and subset accuracy."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    tp = (labels * predictions).sum(0).astype(float)
    fp = ((1 - labels) * predictions).sum(0).astype(float)
    fn = (labels * (1 - predictions)).sum(0).astype(float)
    _, _, f1 = _prf(tp, fp, fn)
    p_micro, r_micro, f1_micro = _prf(np.array([tp.sum()]), np.array([fp.sum()]),
                                      np.array([fn.sum()]))
    metrics = {"accuracy": float((labels == predictions).all(1).mean()),
               "f1_micro": float(f1_micro[0]), "f1_macro": float(f1.mean()),
               "precision_micro": float(p_micro[0]), "recall_micro": float(r_micro[0])}
    metrics.update({f"f1/{name}": float(v) for name, v in zip(label_names, f1)})
    return metrics


def _ranks(values):
    """Average ranks (ties share the mean of their positions), 1-based."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), float)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def regression_metrics(labels, predictions):
    """Pearson and Spearman correlations and the mean squared error."""
    labels = np.asarray(labels, float)
    predictions = np.asarray(predictions, float)

    def pearson(a, b):
        a, b = a - a.mean(), b - b.mean()
        denominator = np.sqrt((a * a).sum() * (b * b).sum())
        return float((a * b).sum() / denominator) if denominator else 0.0

    return {"pearson": pearson(labels, predictions),
            "spearman": pearson(_ranks(labels), _ranks(predictions)),
            "mse": float(((labels - predictions) ** 2).mean())}
