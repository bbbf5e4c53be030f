"""The report a fine-tuning run writes beside its model: `metrics.json`,
`metrics_report.txt` and, for single-label classification, the per-label table
and `confusion_matrix.png`.

    write_dev_report("runs/sentiment", model, task, tokenizer, metrics, "dev.tsv",
                     columns=("sentence", None, "label"), batch_size=32)

The confusion matrix comes from one pass of the final weights over the dev
set, read and batched by the task's data reader as `kerasbert.evaluate` reads a
file (`TextData.evaluate_file`), so both give the same numbers.
"""


def write_dev_report(output_dir, model, task, tokenizer, metrics, source, columns, batch_size,
                     encoding="utf-8", data_dir=None, header="auto"):
    """metrics.json and metrics_report.txt in `output_dir`; for single-label
    classification also the per-label table and confusion_matrix.png.

    Args:
        output_dir: the model directory.
        model: the trained task model (a `BertTask`).
        task: its `kerasbert.tasks.Task`.
        tokenizer: its BertTokenizer.
        metrics: the final dev metrics ({name: value}).
        source: the dev file, or `tfds:NAME`.
        columns: (text, text pair, label) columns of `source` (names or 0-based
            indices; the pair None for single texts).
        batch_size: rows per model call.
        encoding, data_dir, header: how `source` is read (as in `fine_tune`).

    Returns:
        {"metrics": path, "report": path, "confusion_matrix": path or None}.
    """
    from kerasbert.metrics.report import write_metrics_report

    confusion = label_names = num_examples = None
    if task.label_type == "categorical":
        confusion, label_names, num_examples = classification_confusion(
            model, task, tokenizer, source, columns, batch_size, encoding, data_dir, header)
    return write_metrics_report(output_dir, metrics, task=task.name, source=source,
                                label_names=label_names, confusion=confusion,
                                num_examples=num_examples)


def classification_confusion(model, task, tokenizer, source, columns, batch_size,
                             encoding="utf-8", data_dir=None, header="auto"):
    """(confusion, label names, examples) of single-label `model` over `source`:
    `confusion` `[k, k]` int counts, rows the true label, columns the predicted
    one, in the order of `task.labels`; scored as `kerasbert.evaluate` scores
    a file (`TextData.evaluate_file`).

    Raises:
        DataError: a dev label the model was not trained on (naming its line),
            or a source without examples.
    """
    from kerasbert.tasks.registry import load_declared
    from kerasbert.training.task_data import Columns
    from kerasbert.training.text_data import TextData

    text, text_pair, label = columns
    signature = load_declared(task.signature)(task, tokenizer,
                                              {"text_pair": text_pair is not None})
    evaluation = TextData.evaluate_file(signature, model, source,
                                        Columns(text, text_pair, label, header), batch_size,
                                        encoding, data_dir)
    return evaluation.confusion, evaluation.label_names, evaluation.num_examples
