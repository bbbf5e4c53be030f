"""Every safetensors file kerasbert reads or writes goes through here: the
encoder, a task head, pretraining heads, LoRA adapters, best weights, Hugging
Face `model.safetensors`.

Writing is whole-file or nothing (`kerasbert.outputs.write_file`); reading a
damaged or truncated file is one `DamagedFileError` that names the file and the
cause, not safetensors' own error and a traceback.
"""

import json

import numpy as np
import tensorflow as tf

from kerasbert.errors import UsageError
from kerasbert.outputs import write_file


class DamagedFileError(UsageError):
    """A weights file that cannot be read: truncated, overwritten or not safetensors."""

    def __init__(self, path, cause):
        super().__init__(f"{path}: damaged weights file ({cause}); copy it again from where it "
                         f"came from, or train the model again")


def write_safetensors(path, arrays, metadata=None):
    """Write `{name: array}` (and string `metadata`) to `path` as safetensors."""
    from safetensors.numpy import save

    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    write_file(path, save(arrays, metadata=metadata))


def read_safetensors(path):
    """`({name: array}, {metadata})` of the safetensors file `path` (local or gs://).

    Raises:
        DamagedFileError: the file is not whole safetensors.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = str(path)
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise DamagedFileError(path, f"{len(data)} bytes, not even a header")
    size = int.from_bytes(data[:8], "little")
    if 8 + size > len(data):
        raise DamagedFileError(path, f"its header says {size} bytes, the file has "
                                     f"{len(data) - 8} after the length")
    try:
        header = json.loads(data[8:8 + size])
        arrays = load(data)
    except (SafetensorError, ValueError) as err:
        raise DamagedFileError(path, " ".join(str(err).split())) from None
    return arrays, header.get("__metadata__") or {}


def read_arrays(path):
    """`{name: array}` of the safetensors file `path` (see `read_safetensors`)."""
    return read_safetensors(path)[0]
