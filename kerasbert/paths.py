"""Paths: local or remote (gs://) input files, and where kerasbert finds data that lives
outside the package. No TensorFlow import: the command-line programs check their
flags with these before paying for one."""

import os
from pathlib import Path

SHARED_DATA_ENV = "KERASBERT_SHARED_DATA"


def is_remote(path):
    """Whether `path` is a URL for `tf.io.gfile` (gs://, ...) rather than a local path."""
    return "://" in str(path)


def input_file_exists(path):
    """Whether the input file `path` exists, locally or on gs:// (TensorFlow is
    imported only for a remote path)."""
    if is_remote(path):
        import tensorflow as tf

        return tf.io.gfile.exists(str(path))
    return os.path.isfile(path)


def shared_data_dir() -> Path:
    """The shared data sets folder: $KERASBERT_SHARED_DATA, else ../shared/data
    beside the repository checkout. The benchmarks (bench/) read the full data
    sets there, in the layout `glue/SST-2/`, `conll2003/`, `squad/`; the tests
    never do (they read the slices in tests/data)."""
    if os.environ.get(SHARED_DATA_ENV):
        return Path(os.environ[SHARED_DATA_ENV])
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"
