"""Input pipelines across replicas: per-replica batches, sharding, static shapes.

The global batch is split evenly over the replicas, and each input pipeline
(one per worker) reads its own shard. TPUs (and XLA generally) compile one
program per input shape, so a TPU batch must have every dimension fixed and
only int32 / float32 features.
"""

import keras
import tensorflow as tf

_TPU_DTYPES = (tf.int32, tf.float32)
_KERAS_POSITIONS = ("features", "labels", "sample_weights")


def split_batch(global_batch_size, num_replicas):
    """`global_batch_size // num_replicas`, or a ValueError if it does not divide evenly."""
    if global_batch_size < 1:
        raise ValueError(f"global batch size must be >= 1, got {global_batch_size}")
    if global_batch_size % num_replicas:
        raise ValueError(
            f"global batch size {global_batch_size} is not divisible by the {num_replicas} "
            f"replicas; use a multiple of {num_replicas}")
    return global_batch_size // num_replicas


def per_replica_batch_size(global_batch_size, setup):
    """Examples each replica sees per step under `setup` (a `DistributionSetup`)."""
    return split_batch(global_batch_size, setup.num_replicas)


def check_static_batch(dataset_or_element_spec, global_batch_size, num_replicas):
    """Check that batches can be compiled once by XLA / a TPU.

    Every feature must be a dense int32 or float32 tensor whose shape is fully
    known, with a leading batch dimension equal to the global batch (a batch
    before distribution) or the per-replica batch (inside a replica's
    pipeline).

    Args:
        dataset_or_element_spec: a batched `tf.data.Dataset` or its `element_spec`.
        global_batch_size: examples per step across all replicas.
        num_replicas: replicas in sync.

    Returns:
        The per-replica batch size.

    Raises:
        ValueError: naming each offending feature with its shape or dtype.
    """
    per_replica = split_batch(global_batch_size, num_replicas)
    spec = getattr(dataset_or_element_spec, "element_spec", dataset_or_element_spec)
    problems = [problem for path, leaf in keras.tree.flatten_with_path(spec)
                if (problem := _problem(_feature_name(path, spec), leaf,
                                        {global_batch_size, per_replica}))]
    if problems:
        raise ValueError("batch is not XLA/TPU-ready: " + "; ".join(problems) +
                         " (batch with drop_remainder=True, pad to a fixed sequence length, "
                         "cast to int32/float32)")
    return per_replica


def _problem(name, spec, batch_sizes):
    """What is wrong with one feature's spec, or None."""
    if not isinstance(spec, tf.TensorSpec):
        return f"feature '{name}' is a {type(spec).__name__}, not a dense tensor"
    shape = tuple(spec.shape) if spec.shape.rank is not None else None
    if shape is None or None in shape:
        return f"feature '{name}' has dynamic shape {shape if shape else 'of unknown rank'}"
    if spec.dtype not in _TPU_DTYPES:
        return f"feature '{name}' is {spec.dtype.name}, expected int32 or float32"
    if not shape or shape[0] not in batch_sizes:
        sizes = " or ".join(str(size) for size in sorted(batch_sizes, reverse=True))
        return f"feature '{name}' has shape {shape}, expected a batch dimension of {sizes}"
    return None


def _feature_name(path, spec):
    """`features/token_ids` for path (0, "token_ids") of a Keras (x, y[, w]) tuple."""
    parts = [str(part) for part in path]
    if isinstance(spec, tuple) and 2 <= len(spec) <= 3 and parts:
        parts[0] = _KERAS_POSITIONS[int(parts[0])]
    return "/".join(parts) or "element"
