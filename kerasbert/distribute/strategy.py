"""Pick the `tf.distribute` strategy, precision and XLA setting for this machine.

    setup = resolve_strategy(tpu=FLAGS.tpu)     # first, before any other TF op
    print(setup.describe(global_batch_size=32))
    with setup.strategy.scope():
        model = ...

Order of preference: a TPU when `tpu` is given; MultiWorkerMirroredStrategy
when TF_CONFIG lists several workers; MirroredStrategy over N logical CPUs
when `cpu_replicas` > 1; MirroredStrategy over several GPUs; the default
strategy on one GPU or on the CPU.
"""

import dataclasses
import json
import os

import keras
import tensorflow as tf

from kerasbert.distribute.inputs import per_replica_batch_size
from kerasbert.distribute.precision import resolve_precision
from kerasbert.distribute.tpu import connect_tpu
from kerasbert.distribute.xla import parse_jit_compile, resolve_jit_compile

_NAMES = {"tpu": "TPUStrategy", "multi_worker": "MultiWorkerMirroredStrategy",
          "mirrored": "MirroredStrategy", "one_device": "default strategy",
          "cpu": "default strategy"}
KINDS = tuple(_NAMES)


@dataclasses.dataclass
class DistributionSetup:
    """The resolved strategy and the numeric settings that go with it.

    Attributes:
        strategy: a `tf.distribute.Strategy` (the default strategy for one device).
        kind: one of `KINDS`.
        num_replicas: replicas in sync; the global batch is split over them.
        precision_policy: the Keras dtype policy name set globally.
        jit_compile: whether the training step should be XLA-compiled.
    """

    strategy: tf.distribute.Strategy
    kind: str
    num_replicas: int
    precision_policy: str
    jit_compile: bool

    def describe(self, global_batch_size):
        """The one start-up line: strategy, replicas, precision, XLA, global and per-replica batch.

        Raises:
            ValueError: if `global_batch_size` does not divide over the replicas.
        """
        per_replica = per_replica_batch_size(global_batch_size, self)
        replicas = f"{self.num_replicas} replica{'s' if self.num_replicas > 1 else ''}"
        xla = "on" if self.jit_compile else "off"
        return (f"{_NAMES[self.kind]} ({self.kind}), {replicas}, "
                f"precision {self.precision_policy}, XLA {xla}, "
                f"global batch {global_batch_size} ({per_replica} per replica)")


def resolve_strategy(tpu=None, num_gpus=None, mixed_precision="auto", jit_compile="auto",
                     cpu_replicas=None, tpu_timeout_s=300.0):
    """Create the strategy for this machine and set Keras' global dtype policy.

    Call it first: logical CPU devices, visible GPUs and multi-worker
    collectives can only be configured before TensorFlow initialises.

    Args:
        tpu: None for no TPU; else a Cloud TPU name, "local", "grpc://HOST:PORT",
            or "" / "colab" for Colab's TPU.
        num_gpus: GPUs to use (the first N visible); None for all, 0 for the CPU.
        mixed_precision: "auto" (bfloat16 on TPU, float16 on GPU, float32 on
            CPU), "float32", "mixed_float16" or "mixed_bfloat16".
        jit_compile: "auto" (on for TPU and GPU, off on CPU), "true", "false".
        cpu_replicas: N > 1 splits the CPU into N logical devices under a
            MirroredStrategy (tests, or multi-replica runs without GPUs).
        tpu_timeout_s: deadline for reaching the TPU.

    Returns:
        A `DistributionSetup`.
    """
    _check_arguments(tpu, num_gpus, cpu_replicas, mixed_precision, jit_compile)
    if tpu is not None:
        strategy, kind, device = connect_tpu(tpu, tpu_timeout_s), "tpu", "tpu"
    else:
        _limit_gpus(0 if cpu_replicas else num_gpus)
        strategy, kind, device = _local_or_multi_worker(cpu_replicas)
    replicas = strategy.num_replicas_in_sync
    policy = resolve_precision(mixed_precision, device)
    keras.mixed_precision.set_global_policy(policy)
    return DistributionSetup(strategy, kind, replicas, policy,
                             resolve_jit_compile(jit_compile, device, replicas))


def _check_arguments(tpu, num_gpus, cpu_replicas, mixed_precision, jit_compile):
    """Reject bad or conflicting settings before any device is configured."""
    resolve_precision(mixed_precision, "cpu")
    if cpu_replicas and cpu_replicas > 1:
        resolve_jit_compile(jit_compile, "cpu", cpu_replicas)
    else:
        parse_jit_compile(jit_compile)
    if num_gpus is not None and num_gpus < 0:
        raise ValueError(f"num_gpus must be >= 0, got {num_gpus}")
    if cpu_replicas is not None and cpu_replicas < 1:
        raise ValueError(f"cpu_replicas must be >= 1, got {cpu_replicas}")
    if cpu_replicas and num_gpus:
        raise ValueError("cpu_replicas runs on the CPU; it cannot be combined with num_gpus > 0")
    if tpu is not None and (cpu_replicas or num_gpus):
        raise ValueError("--tpu cannot be combined with --cpu_replicas or --num_gpus")


def _local_or_multi_worker(cpu_replicas):
    """(strategy, kind, device) without a TPU."""
    gpus = tf.config.list_physical_devices("GPU")
    device = "gpu" if gpus else "cpu"
    if _tf_config_workers() > 1:
        if cpu_replicas:
            raise ValueError("cpu_replicas cannot be combined with a multi-worker TF_CONFIG")
        return _multi_worker_strategy(), "multi_worker", device
    if cpu_replicas and cpu_replicas > 1:
        return tf.distribute.MirroredStrategy(_logical_cpus(cpu_replicas)), "mirrored", "cpu"
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy(), "mirrored", "gpu"
    return tf.distribute.get_strategy(), "one_device" if gpus else "cpu", device


def _tf_config_workers():
    """Workers (and chief) that TF_CONFIG lists; 0 without TF_CONFIG."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (json.JSONDecodeError, AttributeError) as err:
        raise ValueError(f"TF_CONFIG is not a JSON object with a 'cluster': {err}") from None
    if cluster.get("ps"):
        raise ValueError("TF_CONFIG lists parameter servers ('ps'); only "
                         "MultiWorkerMirroredStrategy (workers, chief) is supported")
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _multi_worker_strategy():
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as err:
        raise RuntimeError(f"{err}: call resolve_strategy before any other TensorFlow op "
                           "when TF_CONFIG lists several workers") from None


def _limit_gpus(num_gpus):
    """Make only the first `num_gpus` GPUs visible (None: all of them)."""
    gpus = tf.config.list_physical_devices("GPU")
    if num_gpus is None or num_gpus == len(gpus):
        return
    if num_gpus > len(gpus):
        raise ValueError(f"num_gpus={num_gpus}, but only {len(gpus)} GPU"
                         f"{'' if len(gpus) == 1 else 's'} visible")
    try:
        tf.config.set_visible_devices(gpus[:num_gpus], "GPU")
    except RuntimeError as err:
        raise RuntimeError(f"{err}: call resolve_strategy before any other TensorFlow op "
                           "to choose the GPUs") from None


def _logical_cpus(count):
    """Names of `count` logical CPU devices, splitting the physical CPU if needed."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)
    if configured is None or len(configured) != count:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
        except RuntimeError:
            have = len(tf.config.list_logical_devices("CPU"))
            raise RuntimeError(
                f"cpu_replicas={count}: TensorFlow already initialised {have} CPU device(s); "
                "call resolve_strategy before any other TensorFlow op") from None
    return [device.name for device in tf.config.list_logical_devices("CPU")]
