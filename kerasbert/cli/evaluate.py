"""Evaluate a fine-tuned model on labelled data.

    python -m kerasbert.evaluate --model=runs/sentiment --eval_data=dev.tsv \\
        --text_column=sentence

Prints the metrics and writes `metrics.json`, `metrics_report.txt` and, for
classification, `confusion_matrix.png` into MODEL/eval/<data name>/ (e.g.
runs/sentiment/eval/dev/ for dev.tsv), or into --output_dir: beside the
metrics of training, never over them. Labels are read with the label vocabulary saved with the
model: a label it lacks is an error naming the file and line. NER reads a
CoNLL file, QA a SQuAD JSON file (the column flags do not apply to them).
"""

import os
import sys

from absl import flags

from kerasbert.cli.flags import (UsageError, check_input_dir, check_input_files,
                                 check_output_dir, check_ranges, check_stride_flag,
                                 define_reader_flags, define_stride_flag, parse_argv,
                                 parse_column, quiet_tensorflow, run_main)
from kerasbert.serving.model_info import check_model_flag, evaluation_dir
from kerasbert.tasks.registry import task_attribute


def define_flags(fv):
    flags.DEFINE_string("model", None, "model directory written by kerasbert.train",
                        flag_values=fv)
    flags.DEFINE_string("eval_data", None, "labelled CSV / TSV / JSONL file or tfds:NAME "
                        "(ner: CoNLL file, qa: SQuAD JSON)", flag_values=fv)
    flags.DEFINE_string("text_column", "text", "text column (name or 0-based index)",
                        flag_values=fv)
    flags.DEFINE_string("text_pair_column", None, "second text column (pair models)",
                        flag_values=fv)
    flags.DEFINE_string("label_column", "label", "label column", flag_values=fv)
    define_reader_flags(fv)
    flags.DEFINE_string("data_dir", None, "TensorFlow Datasets data directory (tfds: sources)",
                        flag_values=fv)
    flags.DEFINE_integer("batch_size", 32, "examples per model call", flag_values=fv)
    define_stride_flag(fv)
    flags.DEFINE_string("output_dir", None, "where the metrics and report go (default: "
                        "MODEL/eval/<data name>)", flag_values=fv)


def new_flags():
    """A fresh FlagValues with this program's flags (one per run)."""
    fv = flags.FlagValues()
    define_flags(fv)
    return fv


def parse(argv, fv):
    """Parse argv (program name first) and check every flag; returns the model's
    task config."""
    parse_argv(fv, argv, __doc__, positional=False)
    return check_flags(fv)


def check_flags(fv):
    """Every flag checked before any work starts: one line per problem."""
    info = check_model_flag(fv.model)
    check_stride_flag(fv.stride, info)
    check_ranges(fv)
    if not fv.eval_data:
        raise UsageError("--eval_data is required")
    check_input_files(fv, ("eval_data",), allow_tfds=True)
    check_input_dir(fv.data_dir, "--data_dir")
    if task_attribute(info["task"], "reads_text_columns"):
        if info.get("text_pair") and fv.text_pair_column is None:
            raise UsageError("--text_pair_column is required: the model reads text pairs")
        if not info.get("text_pair") and fv.text_pair_column is not None:
            raise UsageError("--text_pair_column: the model reads single texts, not pairs")
    check_output_dir(fv.output_dir)
    if fv.output_dir and os.path.abspath(fv.output_dir) == os.path.abspath(fv.model):
        raise UsageError(f"--output_dir: {fv.output_dir} is the model directory, whose "
                         "metrics are those of training; leave --output_dir out (results go "
                         f"to {evaluation_dir(fv.model, fv.eval_data)}) or choose another")
    return info


def main(argv=None):
    fv = new_flags()
    info = parse(argv or sys.argv, fv)
    quiet_tensorflow()
    from kerasbert.metrics.report import write_metrics_report
    from kerasbert.serving.predictor import Predictor
    from kerasbert.serving.task_io import Columns

    predictor = Predictor.from_directory(fv.model)
    columns = Columns(parse_column(fv.text_column), parse_column(fv.text_pair_column),
                      parse_column(fv.label_column), fv.header)
    evaluation = predictor.evaluate(fv.eval_data, columns, fv.batch_size, fv.encoding,
                                    fv.data_dir, fv.stride)
    output_dir = fv.output_dir or evaluation_dir(fv.model, fv.eval_data)
    paths = write_metrics_report(
        output_dir, evaluation.metrics, task=info["task"], label_names=evaluation.label_names,
        confusion=evaluation.confusion, num_examples=evaluation.num_examples,
        source=fv.eval_data)
    print_metrics(evaluation.metrics, evaluation.num_examples, fv.eval_data)
    print("wrote " + ", ".join(p for p in paths.values() if p))
    return 0


def print_metrics(metrics, num_examples, source):
    print(f"metrics on {source} ({num_examples} examples):")
    width = max((len(k) for k in metrics), default=0)
    for name, value in sorted(metrics.items()):
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"  {name:<{width}}  {shown}")


if __name__ == "__main__":
    run_main(main)
