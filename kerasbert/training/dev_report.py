"""The report a fine-tuning run writes beside its model: `metrics.json`,
`metrics_report.txt` and, for single-label classification, the per-label table
and `confusion_matrix.png`.

    write_dev_report("runs/sentiment", model, task, tokenizer, metrics, "dev.tsv",
                     columns=("sentence", None, "label"), batch_size=32)

The confusion matrix comes from one pass of the final weights over the dev
set, read and batched by the training layer's own readers (the serving layer's
`Predictor.evaluate` gives the same numbers for a saved model; training does
not import serving).
"""


def write_dev_report(output_dir, model, task, tokenizer, metrics, source, columns, batch_size,
                     encoding="utf-8", data_dir=None, header="auto"):
    """metrics.json and metrics_report.txt in `output_dir`; for single-label
    classification also the per-label table and confusion_matrix.png.

    Args:
        output_dir: the model directory.
        model: the trained `BertTaskModel`.
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
    one, in the order of `task.labels`.

    Raises:
        DataError: a dev label the model was not trained on (naming its line),
            or a source without examples.
    """
    from kerasbert.data.label_vocabulary import LabelVocabulary
    from kerasbert.data.pipeline import classification_dataset
    from kerasbert.metrics import confusion_matrix
    from kerasbert.training.inputs import read_text_examples
    from kerasbert.training.predictions import predict_logits

    text, text_pair, label = columns
    vocabulary = LabelVocabulary(task.labels)
    examples = read_text_examples(source, task.name, text, label, text_pair, vocabulary,
                                  split="validation", data_dir=data_dir, encoding=encoding,
                                  header=header)
    dataset = classification_dataset(examples, tokenizer, batch_size=batch_size,
                                     label_vocabulary=vocabulary,
                                     label_type=task.label_type, mode="bucket")
    logits, labels = predict_logits(model, dataset)
    keep = labels >= 0
    matrix = confusion_matrix(labels[keep], logits[keep].argmax(-1), len(task.labels))
    return matrix, list(task.labels), len(examples)
