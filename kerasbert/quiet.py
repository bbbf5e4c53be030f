"""Quiet start-up: TensorFlow's import and device set-up without their noise.

TF 2.21 logs CUDA probing and oneDNN notes through absl, to file descriptor 2,
before any log level applies. Every program and the strategy set-up
(`kerasbert.distribute.flags`) use these; `kerasbert.cli.flags` re-exports
them. Set KERASBERT_VERBOSE=1 to see what is silenced.
"""

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
