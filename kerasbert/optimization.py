"""The BERT optimisation recipe: AdamW (no decay on LayerNorm and biases),
linear warm-up then linear decay, optional layer-wise learning-rate decay."""

import re

import keras
import tensorflow as tf
from keras import ops

_NO_DECAY = ["gamma", "beta", "bias"]  # LayerNorm scale/offset and every bias


@keras.saving.register_keras_serializable(package="kerasbert")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`peak * step / warmup` for the first `warmup_steps` updates, then linear
    decay to 0 at `total_steps` (as transformers' get_linear_schedule_with_warmup)."""

    def __init__(self, peak_learning_rate, total_steps, warmup_steps):
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.cast(max(self.warmup_steps, 1), "float32")
        decay_span = ops.cast(max(self.total_steps - self.warmup_steps, 1), "float32")
        warm = step / warmup
        decay = ops.maximum(0.0, (self.total_steps - step) / decay_span)
        factor = ops.where(step < self.warmup_steps, warm, decay)
        return self.peak_learning_rate * factor

    def get_config(self):
        return {"peak_learning_rate": self.peak_learning_rate, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps}


def layer_depth(variable_path, num_layers):
    """Depth of a weight for layer-wise decay: embeddings 0, transformer layer i
    at i + 1, everything above the encoder (pooler, task head) at num_layers + 1."""
    if variable_path.startswith("embeddings/") or "/embeddings/" in variable_path:
        return 0
    match = re.search(r"transformer_layer_(\d+)/", variable_path)
    return int(match.group(1)) + 1 if match else num_layers + 1


@keras.saving.register_keras_serializable(package="kerasbert")
class BertAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate is multiplied per weight by
    `layer_decay ** (num_layers + 1 - depth)` (ELECTRA's layer-wise decay);
    `layer_decay=1.0` is plain AdamW.

    `warmup_decay`: a schedule of factors (a `WarmupLinearDecay` of peak 1.0)
    that multiplies the learning rate at each update, in the step and in the
    weight decay. The learning rate itself then stays a variable, the peak,
    which `keras.callbacks.LearningRateScheduler` and `ReduceLROnPlateau` read
    and set (a `LearningRateSchedule` as `learning_rate` cannot be set);
    `current_learning_rate` is the rate of the next update.
    """

    def __init__(self, layer_decay=1.0, num_layers=0, warmup_decay=None, **kwargs):
        super().__init__(**kwargs)
        self.layer_decay = float(layer_decay)
        self.num_layers = int(num_layers)
        if isinstance(warmup_decay, dict):
            warmup_decay = keras.saving.deserialize_keras_object(warmup_decay)
        self.warmup_decay = warmup_decay
        self._applying = False
        self.exclude_from_weight_decay(var_names=_NO_DECAY)

    @property
    def current_learning_rate(self):
        """The learning rate of the next update (the peak times the warm-up /
        decay factor at this step)."""
        return self._scaled(super()._get_current_learning_rate())

    def _scaled(self, rate):
        if self.warmup_decay is None:
            return rate
        return rate * ops.cast(self.warmup_decay(self.iterations), rate.dtype)

    def _get_current_learning_rate(self):
        rate = super()._get_current_learning_rate()
        return self._scaled(rate) if getattr(self, "_applying", False) else rate

    def _clip_gradients(self, grads):
        """`global_clipnorm` as the trainer clips: on the dense gradients (an
        embedding's comes as IndexedSlices, whose repeated rows Keras' norm
        would count apart) of the whole batch. Under a strategy of several
        replicas Keras would clip each replica's part, so the parts are summed
        (all-reduce), clipped, and handed on divided by the replicas (the
        optimizer sums them again)."""
        if not self.global_clipnorm:
            return super()._clip_gradients(grads)
        grads = [tf.convert_to_tensor(g) for g in grads]
        context = tf.distribute.get_replica_context()
        replicas = 1 if context is None else context.num_replicas_in_sync
        if replicas > 1:
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        clipped, _ = tf.clip_by_global_norm(grads, self.global_clipnorm)
        return [g / replicas for g in clipped] if replicas > 1 else clipped

    def apply(self, grads, trainable_variables=None):
        # While the update is traced, `learning_rate` (read by the step and by
        # the weight decay) is the scaled rate; outside, the settable peak.
        self._applying = True
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._applying = False

    def build(self, variables):
        super().build(variables)
        # update_step gets the backend's variable (a tf.Variable, no Keras path): the
        # depths are read here from the Keras variables, by index.
        self._depths = [layer_depth(v.path, self.num_layers) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        if self.layer_decay != 1.0:
            depth = self._depths[self._get_variable_index(variable)]
            learning_rate = learning_rate * self.layer_decay ** (self.num_layers + 1 - depth)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "layer_decay": self.layer_decay,
                "num_layers": self.num_layers,
                "warmup_decay": (None if self.warmup_decay is None else
                                 keras.saving.serialize_keras_object(self.warmup_decay))}


def create_optimizer(learning_rate, total_steps, warmup_ratio=0.1, weight_decay=0.01,
                     layer_decay=1.0, num_layers=0, epsilon=1e-6):
    """The optimizer of the BERT recipe. `total_steps` counts optimizer updates."""
    schedule = WarmupLinearDecay(learning_rate, total_steps, round(total_steps * warmup_ratio))
    return BertAdamW(learning_rate=schedule, weight_decay=weight_decay, beta_1=0.9,
                     beta_2=0.999, epsilon=epsilon, layer_decay=layer_decay,
                     num_layers=num_layers)
