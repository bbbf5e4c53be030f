"""Shared command-line plumbing: quiet start-up and one-line errors with exit code 2."""

import contextlib
import os
import sys


def quiet_tensorflow():
    """Import TensorFlow without its start-up noise (CUDA probing, oneDNN notes).

    TF 2.21 logs those through absl before its log level applies, so the
    process's stderr is silenced while TensorFlow imports and initialises its
    devices. Set KERASBERT_VERBOSE=1 to see them.
    """
    if "tensorflow" in sys.modules:
        return
    with silenced_stderr():
        import keras  # noqa: F401
        import tensorflow as tf
        import tensorflow_text  # noqa: F401

        tf.get_logger().setLevel("ERROR")


@contextlib.contextmanager
def silenced_stderr():
    """Point file descriptor 2 at /dev/null for the block (unless KERASBERT_VERBOSE
    is set): TensorFlow writes there before any log level applies."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if os.environ.get("KERASBERT_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class UsageError(Exception):
    """A bad flag or input: printed as one line, exit code 2, no traceback."""


class JobFailed(Exception):
    """The run could not go on (e.g. a worker died): one line, exit code 1."""


def run_main(main, argv=None):
    """Run `main(argv)`; turn UsageError (and bad-input errors) into a one-line
    message on stderr and exit code 2."""
    try:
        code = main(argv)
    except (UsageError, FileNotFoundError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"{_program_name(main)}: error: {message}", file=sys.stderr)
        sys.exit(2)
    except JobFailed as err:
        print(f"{_program_name(main)}: error: {err}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code or 0)


def _program_name(main):
    """`kerasbert.train` for kerasbert.cli.train.main."""
    return "kerasbert." + main.__module__.rsplit(".", 1)[-1]


@contextlib.contextmanager
def worker_failures_reported():
    """Turn a lost peer under several workers (TensorFlow's UnavailableError,
    raised once heartbeats stop) into a one-line JobFailed that says how to resume."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError) as err:
        detail = " ".join(str(err.message).split())
        unhealthy = detail.find("The following tasks are unhealthy")
        detail = detail[unhealthy:].split(". ")[0] if unhealthy >= 0 else detail[:200]
        raise JobFailed(f"a worker of this job stopped ({detail}); start the same command "
                        "on every worker again to resume from the last checkpoint") from None


def parse_column(value):
    """A column flag: a 0-based index when it is all digits, else a header name."""
    return int(value) if value is not None and value.isdigit() else value


def define_reader_flags(fv, header=True):
    """The flags of every program that reads the user's files: --encoding, and
    (`header`: for programs that read CSV / TSV files) --header."""
    import codecs

    from absl import flags

    flags.DEFINE_string("encoding", "utf-8", "text encoding of the input files, e.g. latin-1 "
                        "or cp1252 (UTF-8 is read with or without a byte-order mark)",
                        flag_values=fv)

    def known(name):
        try:
            codecs.lookup(name)
        except LookupError:
            return False
        return True

    flags.register_validator("encoding", known, "unknown encoding; give a Python codec name "
                             "such as utf-8, latin-1 or cp1252", flag_values=fv)
    if header:
        flags.DEFINE_enum("header", "auto", ["auto", "yes", "no"], "CSV / TSV files: is the "
                          "first row a header? auto: yes when a column is given by name, or "
                          "when the first row is text where the rows below hold numbers",
                          flag_values=fv)


def parse_argv(fv, argv, doc, positional=True):
    """Parse `argv` (program name first) into the FlagValues `fv`; returns the
    positional arguments. `--help` prints `doc` and the flags and exits 0;
    an unknown or malformed flag, or a positional argument where
    `positional` is False, is a UsageError."""
    from absl import flags

    if any(arg in ("-h", "--help", "--helpfull") for arg in argv[1:]):
        print(doc.rstrip() + "\n\nflags:\n" + fv.get_help())
        sys.exit(0)
    try:
        rest = fv(argv)[1:]
    except flags.Error as err:
        raise UsageError(str(err)) from None
    if rest and not positional:
        raise UsageError(f"unexpected argument {rest[0]!r}")
    return rest


def check_input_files(fv, names, allow_tfds=False):
    """Each flag of `names` that is set must name an existing input file, local or
    gs:// (or, with `allow_tfds`, a `tfds:NAME` source)."""
    from kerasbert.paths import input_file_exists

    for name in names:
        value = fv[name].value
        if value and not (allow_tfds and value.startswith("tfds:")) \
                and not input_file_exists(value):
            raise UsageError(f"--{name}: file {value} does not exist")


def define_stride_flag(fv):
    """--stride of evaluate and predict: long texts classified by windows."""
    from absl import flags

    flags.DEFINE_integer("stride", None, "classify texts longer than the model's "
                         "max_seq_length by windows this many wordpieces apart, averaging "
                         "their class probabilities (classification; default: truncate)",
                         flag_values=fv)


def check_stride_flag(stride, info):
    """--stride against the model's task config (`kerasbert_task.json`)."""
    if stride is None:
        return
    if info["task"] != "classification":
        raise UsageError(f"--stride applies to classification models, not {info['task']}")
    if info.get("text_pair"):
        raise UsageError("--stride needs a single-text model (this one reads text pairs)")
    width = info["max_seq_length"] - 2
    if not 0 < stride <= width:
        raise UsageError(f"--stride must be in [1, {width}] (max_seq_length - 2), got {stride}")
