"""Shared command-line plumbing: quiet start-up and one-line errors with exit code 2."""

import os
import sys


def quiet_tensorflow():
    """Import TensorFlow without its start-up noise (CUDA probing, oneDNN notes).

    TF 2.21 logs those through absl before its log level applies, so the
    process's stderr file descriptor is pointed at /dev/null while TensorFlow
    imports and initialises its devices. Set KERASBERT_VERBOSE=1 to see them.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if os.environ.get("KERASBERT_VERBOSE") or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow as tf
        import tensorflow_text  # noqa: F401

        tf.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class UsageError(Exception):
    """A bad flag or input: printed as one line, exit code 2, no traceback."""


def run_main(main, argv=None):
    """Run `main(argv)`; turn UsageError (and bad-input errors) into a one-line
    message on stderr and exit code 2."""
    try:
        code = main(argv)
    except (UsageError, FileNotFoundError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"{_program_name(main)}: error: {message}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


def _program_name(main):
    """`kerasbert.train` for kerasbert.cli.train.main."""
    return "kerasbert." + main.__module__.rsplit(".", 1)[-1]
