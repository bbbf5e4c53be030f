"""Activation functions by the names `bert_config.json` uses."""

import keras
from keras import ops


_SQRT_HALF = 0.7071067811865476  # 1 / sqrt(2)
_INV_SQRT_2PI = 0.3989422804014327  # 1 / sqrt(2 pi)


@ops.custom_gradient
def gelu_exact(x):
    """GELU with the exact erf form, as the reference BERT uses:
    `x * 0.5 * (1 + erf(x / sqrt(2)))` (transformers' formula).

    The gradient `Phi(x) + x * phi(x)` is written out and reuses the forward's
    `Phi(x)`: autodiff through erf costs about a third more CPU time, and
    GELU runs on the largest activations of the model (`[batch, seq,
    intermediate_size]`).
    """
    one_plus_erf = 1.0 + ops.erf(x * _SQRT_HALF)

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        pdf = ops.exp(-0.5 * ops.square(x)) * _INV_SQRT_2PI
        return upstream * (0.5 * one_plus_erf + x * pdf)

    # This order of the products (the same numbers: halving is exact) is the
    # one LiteRT's converter fuses into its GELU op (it has no Erf kernel).
    return 0.5 * x * one_plus_erf, grad


def gelu_tanh(x):
    """GELU with the tanh approximation (HF's `gelu_new`)."""
    return keras.activations.gelu(x, approximate=True)


_ACTIVATIONS = {
    "gelu": gelu_exact,
    "gelu_python": gelu_exact,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "gelu_approximate": gelu_tanh,
    "relu": ops.relu,
    "tanh": ops.tanh,
    "silu": ops.silu,
    "swish": ops.silu,
}


def get_activation(name):
    """The activation for `hidden_act` name `name` (e.g. "gelu")."""
    if callable(name):
        return name
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown hidden_act {name!r}; known: {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[name]
