"""The metrics of a final evaluation, for people: `metrics.json`, a text
report, and for single-label classification the confusion matrix as a PNG.

    write_metrics_report("runs/sentiment", metrics, task="classification",
                         label_names=["0", "1"], confusion=matrix,
                         num_examples=872, source="dev.tsv")

`kerasbert.evaluate` writes these after evaluating; training calls the same
function after its final evaluation.
"""

import io
import os

import numpy as np

from kerasbert import outputs

METRICS_FILE = "metrics.json"
REPORT_FILE = "metrics_report.txt"
CONFUSION_FILE = "confusion_matrix.png"
_PER_LABEL = "/"  # `metric/label` keys are per-label values
_FROM_CONFUSION = ("precision", "recall", "f1", "support")
_MAX_ANNOTATED = 30


def write_metrics_report(output_dir, metrics, *, task=None, label_names=None, confusion=None,
                         num_examples=None, source=None, write_json=True):
    """Write the metrics and their report into `output_dir`.

    Args:
        output_dir: directory (local or gs://), created if needed.
        metrics: `{name: value}` as a task's `compute_metrics` returns them
            (flat; per-label values under `<metric>/<label>`).
        task: the task name, for the report's header.
        label_names: names of the confusion matrix's rows / columns.
        confusion: `[k, k]` counts, rows true, columns predicted (single-label
            classification), or None: then no PNG and no per-label
            precision / recall / support.
        num_examples: how many examples were scored.
        source: where the examples came from (a path), for the header.
        write_json: also write `metrics.json` (sorted keys, indent 2).

    Returns:
        `{"metrics": path or None, "report": path, "confusion_matrix": path or None}`.
    """
    import tensorflow as tf

    output_dir = str(output_dir)
    tf.io.gfile.makedirs(output_dir)
    paths = {"metrics": None, "report": os.path.join(output_dir, REPORT_FILE),
             "confusion_matrix": None}
    if write_json:
        paths["metrics"] = os.path.join(output_dir, METRICS_FILE)
        outputs.write_json(paths["metrics"], _plain(metrics), sort_keys=True)
    text = format_metrics_report(metrics, task=task, label_names=label_names,
                                 confusion=confusion, num_examples=num_examples, source=source)
    outputs.write_file(paths["report"], text)
    if confusion is not None:
        paths["confusion_matrix"] = os.path.join(output_dir, CONFUSION_FILE)
        outputs.write_file(paths["confusion_matrix"],
                           confusion_matrix_png(confusion, label_names,
                                                title=_title(task, source)))
    return paths


def format_metrics_report(metrics, *, task=None, label_names=None, confusion=None,
                          num_examples=None, source=None):
    """The report as text: header, metrics, per-label table, confusion matrix."""
    lines = ["kerasbert evaluation report"]
    if task:
        lines.append(f"task:     {task}")
    if source or num_examples is not None:
        count = f" ({num_examples} examples)" if num_examples is not None else ""
        lines.append(f"data:     {source or ''}{count}".rstrip())
    overall = {k: v for k, v in metrics.items() if _PER_LABEL not in k}
    if overall:
        width = max(len(k) for k in overall)
        lines += ["", "metrics"]
        lines += [f"  {name:<{width}}  {_number(overall[name])}" for name in sorted(overall)]
    lines += _per_label_table(metrics, label_names, confusion)
    if confusion is not None:
        lines += ["", "confusion matrix (rows: true label, columns: predicted label)"]
        lines += _matrix_lines(np.asarray(confusion), _names(label_names, len(confusion)))
    return "\n".join(lines) + "\n"


def per_label_scores(confusion):
    """(precision, recall, f1, support) arrays per label of a confusion matrix."""
    from kerasbert.metrics.classification import _prf

    confusion = np.asarray(confusion)
    tp = np.diag(confusion).astype(float)
    precision, recall, f1 = _prf(tp, confusion.sum(0) - tp, confusion.sum(1) - tp)
    return precision, recall, f1, confusion.sum(1)


def _per_label_table(metrics, label_names, confusion):
    """Rows of `metric/label` values (e.g. `f1/pos`, `entity_f1/PER`), one per
    label; with a confusion matrix, precision / recall / f1 / support from it."""
    table, columns = {}, []
    for key, value in metrics.items():
        if _PER_LABEL in key:
            metric, label = key.split(_PER_LABEL, 1)
            table.setdefault(label, {})[metric] = value
            columns += [] if metric in columns else [metric]
    if confusion is not None:
        names = _names(label_names, len(confusion))
        for name, *scores in zip(names, *per_label_scores(confusion)):
            table.setdefault(name, {}).update(zip(_FROM_CONFUSION, scores))
        columns = list(_FROM_CONFUSION) + [c for c in columns if c not in _FROM_CONFUSION]
        table = {name: table[name] for name in names}
    if not table:
        return []
    width = max(len("label"), *(len(name) for name in table))
    widths = [max(9, len(c)) for c in columns]
    rows = ["", "per label", "  " + f"{'label':<{width}}" + "".join(
        f"  {c:>{w}}" for c, w in zip(columns, widths))]
    for name, values in table.items():
        rows.append("  " + f"{name:<{width}}" + "".join(
            f"  {_number(values[c]) if c in values else '':>{w}}"
            for c, w in zip(columns, widths)))
    return rows


def _matrix_lines(matrix, names):
    width = max(len(str(int(matrix.max()))) if matrix.size else 1, *(len(n) for n in names))
    head = max(len(n) for n in names)
    lines = ["  " + " " * head + "  " + "  ".join(f"{n:>{width}}" for n in names)]
    for name, row in zip(names, matrix):
        lines.append(f"  {name:<{head}}  " + "  ".join(f"{int(c):>{width}d}" for c in row))
    return lines


def confusion_matrix_png(confusion, label_names=None, title=None):
    """PNG bytes of the confusion matrix: cells coloured by the share of their
    row (so rare labels read as well as common ones), annotated with counts."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.asarray(confusion)
    names = _names(label_names, len(matrix))
    k = len(names)
    rows = matrix.sum(1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    size = min(max(4.0, 0.6 * k + 2.5), 20.0)
    figure = Figure(figsize=(size, size), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of true label")
    axes.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    axes.set_yticks(range(k), names)
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_title(title or "confusion matrix")
    if k <= _MAX_ANNOTATED:
        for i in range(k):
            for j in range(k):
                axes.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                          color="white" if share[i, j] > 0.5 else "black")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _names(label_names, k):
    return [str(n) for n in label_names] if label_names is not None else [str(i) for i in range(k)]


def _title(task, source):
    parts = [p for p in (task, os.path.basename(str(source)) if source else None) if p]
    return "confusion matrix" + (f": {' on '.join(parts)}" if parts else "")


def _number(value):
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4f}"
    return str(value)


def _plain(metrics):
    """JSON-able copy: numpy scalars become Python numbers."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in metrics.items()}
