"""absl flags for choosing the strategy, shared by every kerasbert training CLI.

    from absl import flags
    from kerasbert.distribute.flags import define_flags, setup_from_flags

    define_flags()
    ...
    setup = setup_from_flags(flags.FLAGS)   # before any other TensorFlow op

This module imports no TensorFlow, so `--help` stays fast.
"""

from absl import flags

from kerasbert.quiet import silenced_stderr

_PRECISIONS = ["auto", "float32", "mixed_float16", "mixed_bfloat16"]


def define_flags(flag_values=flags.FLAGS):
    """Register --tpu, --mixed_precision, --jit_compile, --num_gpus, --cpu_replicas,
    --tpu_timeout on `flag_values`; flags already there are left as they are, so
    several modules of one program may call it."""
    def define(kind, name, default, help_text, **kwargs):
        if name not in flag_values:
            kind(name, default, help=help_text, flag_values=flag_values, **kwargs)

    define(flags.DEFINE_string, "tpu", None,
           "TPU to use: a Cloud TPU name, 'local' (TPU VM), grpc://HOST:PORT, or 'colab' "
           "(or empty) for Colab's TPU. Unset: no TPU.")
    define(flags.DEFINE_enum, "mixed_precision", "auto",
           "Keras dtype policy; auto: mixed_bfloat16 on TPU, mixed_float16 on GPU, "
           "float32 on CPU.", enum_values=_PRECISIONS)
    define(flags.DEFINE_enum, "jit_compile", "auto",
           "XLA-compile the training step; auto: on for TPU and GPU, off on CPU.",
           enum_values=["auto", "true", "false"])
    define(flags.DEFINE_integer, "num_gpus", None,
           "Use the first N visible GPUs (0: CPU only). Unset: all of them.")
    define(flags.DEFINE_integer, "cpu_replicas", None,
           "Split the CPU into N logical devices under a MirroredStrategy (no GPU needed).")
    define(flags.DEFINE_float, "tpu_timeout", 300.0,
           "Seconds to wait for the TPU to answer before giving up.")


def setup_from_flags(flag_values=flags.FLAGS):
    """`resolve_strategy` from parsed flags, with TensorFlow's start-up noise silenced.

    Returns:
        A `kerasbert.distribute.DistributionSetup`.
    """
    with silenced_stderr():  # not quiet_tensorflow: devices must stay unconfigured
        from kerasbert.distribute.strategy import resolve_strategy

        return resolve_strategy(
            tpu=flag_values.tpu, num_gpus=flag_values.num_gpus,
            mixed_precision=flag_values.mixed_precision, jit_compile=flag_values.jit_compile,
            cpu_replicas=flag_values.cpu_replicas, tpu_timeout_s=flag_values.tpu_timeout)
