"""Mixed precision by device: bfloat16 on TPU, float16 with loss scaling on GPU.

TPUs compute natively in bfloat16, which keeps float32's exponent range, so
no loss scaling is needed. GPUs are fastest in float16, whose small range
lets small gradients underflow to zero; Keras' `LossScaleOptimizer` scales
the loss up before the backward pass and the gradients down after it. CPUs
gain nothing from either, so they stay in float32 unless asked.
"""

import contextlib

import keras

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
_BY_DEVICE = {"tpu": "mixed_bfloat16", "gpu": "mixed_float16", "cpu": "float32"}


def resolve_precision(mixed_precision, device):
    """The Keras dtype policy name for `mixed_precision` on `device`.

    Args:
        mixed_precision: "auto" or one of `POLICIES`.
        device: "tpu", "gpu" or "cpu", the accelerator the replicas run on.
    """
    if mixed_precision == "auto":
        return _BY_DEVICE[device]
    if mixed_precision not in POLICIES:
        raise ValueError(f"mixed_precision must be 'auto' or one of {', '.join(POLICIES)}; "
                         f"got {mixed_precision!r}")
    return mixed_precision


@contextlib.contextmanager
def precision_policy(name):
    """Set Keras' global dtype policy to `name` inside the block, then restore the previous one."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def wrap_optimizer(optimizer, setup=None):
    """`optimizer` wrapped in a `keras.optimizers.LossScaleOptimizer` under mixed_float16.

    A custom training loop then scales the loss by `optimizer.dynamic_scale`
    (or calls `optimizer.scale_loss(loss)`) before taking gradients and
    applies them as usual: the wrapper unscales the gradients and skips
    updates whose gradients overflow, halving the scale. Plain Keras
    optimizers return the loss unchanged from `scale_loss`, so the same loop
    runs under every policy. The Trainer wraps its optimizer here.

    Args:
        optimizer: a Keras optimizer.
        setup: the `DistributionSetup` from `resolve_strategy` (its policy and
            strategy), or None for Keras' global policy and the current strategy.
    """
    policy = (setup.precision_policy if setup is not None
              else keras.mixed_precision.global_policy().name)
    if policy != "mixed_float16" or isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    if setup is None:
        return keras.optimizers.LossScaleOptimizer(optimizer)
    with setup.strategy.scope():
        return keras.optimizers.LossScaleOptimizer(optimizer)
