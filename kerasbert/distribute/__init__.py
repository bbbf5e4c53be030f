"""kerasbert.distribute: TPU / multi-GPU / multi-worker / CPU strategies on `tf.distribute`.

Names are imported lazily, so that importing `kerasbert.distribute.flags`
for a CLI's `--help` does not import TensorFlow.
"""

from kerasbert.lazy_names import lazy_names

_LAZY = {
    "DistributionSetup": "kerasbert.distribute.strategy",
    "resolve_strategy": "kerasbert.distribute.strategy",
    "TPUNotFoundError": "kerasbert.distribute.tpu",
    "connect_tpu": "kerasbert.distribute.tpu",
    "precision_policy": "kerasbert.distribute.precision",
    "wrap_optimizer": "kerasbert.distribute.precision",
    "check_static_batch": "kerasbert.distribute.inputs",
    "per_replica_batch_size": "kerasbert.distribute.inputs",
    "define_flags": "kerasbert.distribute.flags",
    "setup_from_flags": "kerasbert.distribute.flags",
}


__getattr__, __dir__ = lazy_names(globals(), _LAZY)
