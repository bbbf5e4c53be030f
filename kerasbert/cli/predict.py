"""Predict with a fine-tuned model: texts on the command line, or a file.

    python -m kerasbert.predict --model=runs/sentiment "a gripping film" "dull"
    python -m kerasbert.predict --model=runs/nli "A man sleeps." --text_pair="He is awake."
    python -m kerasbert.predict --model=runs/squad "Who wrote it?" --text_pair="Ann wrote it."
    python -m kerasbert.predict --model=runs/sentiment --input_file=reviews.csv \\
        --output_file=predictions.jsonl

Prints (or writes to --output_file) one JSON object per input row: its inputs
and the task's prediction, e.g. `{"text": ..., "label": "1", "score": 0.93,
"probabilities": {"0": 0.07, "1": 0.93}}`. Pair models take one --text_pair
per text (QA: the question is the text, the context its --text_pair); NER
reads raw text (any script: words as BERT's basic tokenizer splits them, each
CJK character one) and gives entities as character spans, `text[start:end]`.

Many users' LoRA models over one base (`kerasbert.train --adapter=lora`):

    python -m kerasbert.predict --adapter_bank=alice=runs/alice,bob=runs/bob \\
        "great film" "dull" --user=alice --user=bob
    python -m kerasbert.predict --adapter_bank=... --input_file=rows.csv --user_column=user

runs each row with its user's adapters and head (one --user per text, or one
for all; `--user_column` names the file's user column); rows get a "user" field.

A `.tflite` file written by `kerasbert.export --format=litert` predicts the
same way, through the LiteRT interpreter:

    python -m kerasbert.predict --model=exported/sentiment.tflite "a gripping film"
"""

import itertools
import json
import os
import sys

from absl import flags

from kerasbert.cli.flags import (UsageError, check_input_files, check_ranges, check_stride_flag,
                                 define_reader_flags, define_stride_flag, parse_argv,
                                 parse_column, quiet_tensorflow, run_main)
from kerasbert.serving.model_info import (check_model_flag, input_names, is_litert_file,
                                          read_litert_info)


def define_flags(fv):
    flags.DEFINE_string("model", None, "model directory written by kerasbert.train, or a "
                        ".tflite file written by kerasbert.export --format=litert",
                        flag_values=fv)
    flags.DEFINE_multi_string("text_pair", [], "second text of each positional text, in "
                              "order (pair models; QA: the context)", flag_values=fv)
    flags.DEFINE_string("input_file", None, "CSV / TSV / JSONL file of inputs", flag_values=fv)
    flags.DEFINE_string("output_file", None, "JSONL file for the predictions (default: stdout)",
                        flag_values=fv)
    flags.DEFINE_string("text_column", "text", "--input_file's text column (QA: the question)",
                        flag_values=fv)
    flags.DEFINE_string("text_pair_column", None, "--input_file's second text column "
                        "(pair models; QA: the context)", flag_values=fv)
    flags.DEFINE_string("adapter_bank", None, "USER=MODEL_DIR,... : serve many users' LoRA "
                        "models over one base, each row with its --user", flag_values=fv)
    flags.DEFINE_multi_string("user", [], "with --adapter_bank: the user of each positional "
                              "text, in order (or one user for all)", flag_values=fv)
    flags.DEFINE_string("user_column", None, "with --adapter_bank: --input_file's user column",
                        flag_values=fv)
    define_reader_flags(fv)
    flags.DEFINE_integer("batch_size", 32, "rows per model call", flag_values=fv)
    define_stride_flag(fv)


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
    if fv.adapter_bank:
        info = _check_bank_flags(fv, texts)
    else:
        if fv.user or fv.user_column:
            raise UsageError("--user and --user_column go with --adapter_bank")
        if is_litert_file(fv.model):
            info = read_litert_info(fv.model)
            if fv.stride is not None:
                raise UsageError("--stride does not apply to a LiteRT file (--model=*.tflite)")
        else:
            info = check_model_flag(fv.model)
    check_stride_flag(fv.stride, info)
    check_ranges(fv)
    check_row_flags(fv, texts, info)
    return info


def check_row_flags(fv, texts, info, verb="predict"):
    """The flags that give the rows (texts as arguments with --text_pair, or
    --input_file with its columns) and --output_file, for a model of task
    config `info` (also kerasbert.explain's)."""
    names = input_names(info)
    pair = len(names) > 1
    second = "--text_pair" if names[1:] == ("text_pair",) else f"--text_pair (the {names[-1]})"
    if bool(texts) == bool(fv.input_file):
        raise UsageError(f"give texts to {verb} as arguments, or --input_file (not both)")
    if fv.input_file:
        check_input_files(fv, ("input_file",))
        if fv.text_pair:
            raise UsageError("--text_pair goes with texts given as arguments; with "
                             "--input_file use --text_pair_column")
        if pair and fv.text_pair_column is None:
            raise UsageError("--text_pair_column is required: the model reads "
                             f"{' and '.join(input_names(info))}")
        if not pair and fv.text_pair_column is not None:
            raise UsageError("--text_pair_column: the model reads single texts, not pairs")
    elif pair and len(fv.text_pair) != len(texts):
        raise UsageError(f"the model reads {' and '.join(input_names(info))}: give one "
                         f"{second} per text ({len(texts)} texts, {len(fv.text_pair)} given)")
    elif not pair and fv.text_pair:
        raise UsageError("--text_pair: the model reads single texts, not pairs")
    if fv.output_file:
        folder = os.path.dirname(os.path.abspath(fv.output_file))
        if "://" not in fv.output_file and not os.path.isdir(folder):
            raise UsageError(f"--output_file: folder {folder} does not exist")
        if os.path.isdir(fv.output_file):
            raise UsageError(f"--output_file: {fv.output_file} is a folder, not a file")


def _check_bank_flags(fv, texts):
    from kerasbert.adapters.bank_model import parse_bank_spec

    if fv.model:
        raise UsageError("give --model or --adapter_bank, not both")
    users = parse_bank_spec(fv.adapter_bank)
    info = [check_model_flag(path, f"--adapter_bank user {user!r}")
            for user, path in users.items()][0]
    if fv.stride is not None:
        raise UsageError("--stride does not apply to --adapter_bank")
    if fv.input_file:
        if fv.user_column is None:
            raise UsageError("--user_column is required with --adapter_bank and --input_file")
        if fv.user:
            raise UsageError("--user goes with texts given as arguments; with --input_file "
                             "use --user_column")
    elif len(fv.user) not in (1, len(texts)):
        raise UsageError(f"give one --user per text, or one for all ({len(texts)} texts, "
                         f"{len(fv.user)} --user given)")
    unknown = sorted(set(fv.user) - set(users))
    if unknown:
        raise UsageError(f"--user: unknown user {unknown[0]!r}; the bank holds "
                         f"{', '.join(users)}")
    return info


def _iter_users(path, column, header, encoding):
    """The user column of an input file, a row at a time (as `read_delimited`
    reads its rows)."""
    from kerasbert.training.inputs import text_source

    source = text_source(path, None, column, None, None, encoding=encoding, labelled=False,
                         header=header)
    return (example.text for example in source.examples())


def main(argv=None):
    fv = new_flags()
    info, texts = parse(argv or sys.argv, fv)
    quiet_tensorflow()
    from kerasbert.serving.predictor import Predictor
    from kerasbert.serving.task_io import Columns

    if fv.adapter_bank:
        from kerasbert.adapters.bank_model import parse_bank_spec
        from kerasbert.serving.bank_serving import BankPredictor

        predictor = BankPredictor.from_users(parse_bank_spec(fv.adapter_bank))
    elif is_litert_file(fv.model):
        predictor = Predictor.from_litert(fv.model)
    else:
        predictor = Predictor.from_directory(fv.model)
    names = predictor.input_names
    file_users = None
    if fv.input_file:
        # A file is read, predicted and written a chunk of rows at a time (for
        # an adapter bank, its users' column is read beside it, in step).
        columns = Columns(parse_column(fv.text_column), parse_column(fv.text_pair_column), None,
                          fv.header)
        chunks = predictor.io.iter_inputs(fv.input_file, columns, fv.encoding)
        if fv.adapter_bank:
            file_users = _iter_users(fv.input_file, parse_column(fv.user_column), fv.header,
                                     fv.encoding)
    else:
        chunks = [dict(zip(names, (texts, fv.text_pair)))]

    def rows():
        for inputs in chunks:
            extra = {}
            if fv.adapter_bank:
                count = len(inputs[names[0]])
                users = (list(itertools.islice(file_users, count)) if file_users is not None
                         else fv.user * count if len(fv.user) == 1 else fv.user)
                if len(users) != count:
                    raise ValueError(f"--user_column: {fv.input_file} has fewer users than "
                                     f"rows")
                predictions = predictor.predict(inputs, users, batch_size=fv.batch_size)
                extra = {"user": users}
            else:
                predictions = predictor.predict(inputs, batch_size=fv.batch_size,
                                                stride=fv.stride)
            for i, p in enumerate(predictions):
                yield json.dumps({**{n: inputs[n][i] for n in names},
                                  **{k: v[i] for k, v in extra.items()}, **p},
                                 ensure_ascii=False)
        if file_users is not None and next(file_users, None) is not None:
            raise ValueError(f"--user_column: {fv.input_file} has more users than rows")

    if fv.output_file:
        count = write_lines(fv.output_file, rows())
        print(f"wrote {count} predictions to {fv.output_file}")
    else:
        for row in rows():
            print(row)
    return 0


def write_lines(path, lines):
    """Write `lines` (an iterable) to `path` through a temporary name renamed
    when complete, so a failure midway leaves no half file (nor a previous
    file cut short); returns how many were written."""
    import tensorflow as tf

    partial, count = f"{path}.partial-{os.getpid()}", 0
    try:
        with tf.io.gfile.GFile(partial, "w") as f:
            for line in lines:
                f.write(line + "\n")
                count += 1
        tf.io.gfile.rename(partial, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(partial):
            tf.io.gfile.remove(partial)
    return count


if __name__ == "__main__":
    run_main(main)
