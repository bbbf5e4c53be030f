"""Assigning named arrays to named variables, with one error for every mismatch."""

import numpy as np


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model: lists every offending name and shape."""


def check_and_assign(variables, arrays, source):
    """Assign `arrays[name]` to `variables[name]` for every name.

    Args:
        variables: {name: Keras variable} the model needs.
        arrays: {name: np.ndarray} read from the checkpoint (already in the
            variable's layout). Extra names not in `variables` are reported.
        source: the checkpoint path, named in the error.
    Raises:
        CheckpointMismatchError listing missing names, unexpected names and
        shape mismatches together, before any variable is changed.
    """
    missing = [n for n in variables if n not in arrays]
    unexpected = [n for n in arrays if n not in variables]
    wrong = [(n, tuple(arrays[n].shape), tuple(v.shape))
             for n, v in variables.items()
             if n in arrays and tuple(arrays[n].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        lines = [f"checkpoint {source} does not match the model:"]
        lines += [f"  missing: {n} (model shape {tuple(variables[n].shape)})" for n in missing]
        lines += [f"  unexpected: {n} (checkpoint shape {tuple(arrays[n].shape)})"
                  for n in unexpected]
        lines += [f"  shape mismatch: {n}: checkpoint {c}, model {m}" for n, c, m in wrong]
        raise CheckpointMismatchError("\n".join(lines))
    for name, variable in variables.items():
        variable.assign(np.asarray(arrays[name], dtype=variable.dtype))
