"""Explain a fine-tuned model's predictions: integrated gradients per token.

    python -m kerasbert.explain --model=runs/sentiment "a gripping film" --html=why.html
    python -m kerasbert.explain --model=runs/sentiment --input_file=reviews.csv \\
        --output_file=explanations.jsonl --html=why.html --target=positive --steps=64
    python -m kerasbert.explain --model=runs/ner "John lives in Paris" --html=why.html
    python -m kerasbert.explain --model=runs/squad "Who wrote it?" --text_pair="Ann wrote it."

Prints (or writes to --output_file) one JSON object per input row: its inputs,
the explained `label` and its `score` (probability; for regression the
output), the `baseline_score` (the same model on [PAD] tokens between [CLS]
and [SEP]), the WordPiece `tokens` with their `attributions`, the
whitespace `words` (CJK: characters) with `word_attributions` (the sum over
their pieces) and `word_offsets` ([start, end) characters in the text), and
`convergence_delta` = sum(attributions) - (score - baseline_score).
`--html` also writes a self-contained page shading each token by its
attribution. Input files are read, explained and written a chunk of rows at a
time, as kerasbert.predict reads them. See kerasbert.tasks.integrated_gradients
for the method.

NER models explain every predicted entity of a row (`entities`, each with its
`type`, `text`, character `start` / `end` (also as `char_start` / `char_end`),
`word_start` / `word_end`, the mean
probability of its words' tags as `score`, and its own `attributions` over
the row's `tokens`); QA models (the question as the text, the context as its
--text_pair) explain the predicted answer's start and end probabilities
(`start_attributions`, `end_attributions`), in the context's first window.
See kerasbert.tasks.explain_ner_qa. They take no --target.
"""

import json
import os
import sys

from absl import flags

from kerasbert.cli.flags import (UsageError, check_ranges, define_reader_flags, parse_argv,
                                 parse_column, quiet_tensorflow, run_main)
from kerasbert.cli.predict import check_row_flags, write_lines
from kerasbert.serving.model_info import check_model_flag

EXPLAINED_TASKS = ("classification", "multilabel", "regression", "ner", "qa")
SEQUENCE_TASKS = ("ner", "qa")  # no --target: their predictions are explained


def define_flags(fv):
    flags.DEFINE_string("model", None, "model directory written by kerasbert.train",
                        flag_values=fv)
    flags.DEFINE_multi_string("text_pair", [], "second text of each positional text, in "
                              "order (pair models)", flag_values=fv)
    flags.DEFINE_string("input_file", None, "CSV / TSV / JSONL file of inputs", flag_values=fv)
    flags.DEFINE_string("output_file", None, "JSONL file for the explanations (default: "
                        "stdout)", flag_values=fv)
    flags.DEFINE_string("text_column", "text", "--input_file's text column", flag_values=fv)
    flags.DEFINE_string("text_pair_column", None, "--input_file's second text column (pair "
                        "models)", flag_values=fv)
    flags.DEFINE_string("html", None, "also write the explanations as an HTML page here",
                        flag_values=fv)
    flags.DEFINE_string("target", None, "the label to explain, by name or index (default: "
                        "each row's predicted label)", flag_values=fv)
    flags.DEFINE_integer("steps", 32, "integrated-gradients steps (trapezoid rule)",
                         flag_values=fv)
    define_reader_flags(fv)
    flags.DEFINE_integer("batch_size", 4, "rows per model call (each runs --steps sequences)",
                         flag_values=fv)


def new_flags():
    """A fresh FlagValues with this program's flags (one per run)."""
    fv = flags.FlagValues()
    define_flags(fv)
    return fv


def parse(argv, fv):
    """Parse argv (program name first) and check every flag; returns
    (model task config, positional texts)."""
    texts = parse_argv(fv, argv, __doc__)
    return check_flags(fv, texts), texts


def check_flags(fv, texts):
    """Every flag checked before any work starts: one line per problem."""
    info = check_model_flag(fv.model)
    if info["task"] not in EXPLAINED_TASKS:
        raise UsageError(f"--model: {fv.model} is a {info['task']} model; explanations cover "
                         f"{', '.join(EXPLAINED_TASKS)} models")
    check_ranges(fv)
    check_row_flags(fv, texts, info, verb="explain")
    if fv.html:
        folder = os.path.dirname(os.path.abspath(fv.html))
        if "://" not in fv.html and not os.path.isdir(folder):
            raise UsageError(f"--html: folder {folder} does not exist")
        if os.path.isdir(fv.html):
            raise UsageError(f"--html: {fv.html} is a folder, not a file")
    if fv.target is not None:
        if info["task"] in SEQUENCE_TASKS:
            raise UsageError(f"--target: a {info['task']} model's explanations are of its "
                             f"predicted {'entities' if info['task'] == 'ner' else 'answer'}; "
                             f"there is no target to choose")
        check_target(fv.target, info)
    return info


def check_target(target, info):
    """--target must name one of the model's labels (or index one)."""
    labels = [str(label) for label in info.get("labels") or []]
    if info["task"] == "regression":
        if target != "0":
            raise UsageError(f"--target: a regression model has one output, got {target!r}")
        return
    if target in labels:
        return
    count = len(labels) or int(info.get("num_outputs", 0))
    if target.isdigit() and int(target) < count:
        return
    known = ", ".join(labels) if labels else f"0..{count - 1}"
    raise UsageError(f"--target: unknown label {target!r}; the model's labels are {known}")


class HtmlWriter:
    """A file written a piece at a time under a temporary name, renamed to
    `path` on `commit` (so a failure leaves no half page)."""

    def __init__(self, path):
        import tensorflow as tf

        self.path, self.partial = path, f"{path}.partial-{os.getpid()}"
        self._file = tf.io.gfile.GFile(self.partial, "w")

    def write(self, text):
        self._file.write(text + "\n")

    def commit(self):
        import tensorflow as tf

        self._file.close()
        tf.io.gfile.rename(self.partial, self.path, overwrite=True)

    def discard(self):
        import tensorflow as tf

        self._file.close()
        if tf.io.gfile.exists(self.partial):
            tf.io.gfile.remove(self.partial)


def main(argv=None):
    fv = new_flags()
    _, texts = parse(argv or sys.argv, fv)
    quiet_tensorflow()
    from kerasbert.explain.html import page_end, page_start, render_record
    from kerasbert.serving.predictor import Predictor
    from kerasbert.serving.task_io import Columns

    predictor = Predictor.from_directory(fv.model)
    names = predictor.input_names
    if fv.input_file:
        columns = Columns(parse_column(fv.text_column), parse_column(fv.text_pair_column), None,
                          fv.header)
        chunks = predictor.io.iter_inputs(fv.input_file, columns, fv.encoding)
    else:
        chunks = [dict(zip(names, (texts, fv.text_pair)))]
    html = HtmlWriter(fv.html) if fv.html else None

    def rows():
        for inputs in chunks:
            for record in predictor.explain(inputs, target=fv.target, steps=fv.steps,
                                            batch_size=fv.batch_size):
                if html is not None:
                    html.write(render_record(record))
                yield json.dumps(record, ensure_ascii=False)

    try:
        if html is not None:
            html.write(page_start())
        if fv.output_file:
            count = write_lines(fv.output_file, rows())
            print(f"wrote {count} explanations to {fv.output_file}")
        else:
            for row in rows():
                print(row)
        if html is not None:
            html.write(page_end())
            html.commit()
            print(f"wrote the HTML report to {fv.html}", file=sys.stderr)
    finally:
        if html is not None:
            html.discard()
    return 0


if __name__ == "__main__":
    run_main(main)
