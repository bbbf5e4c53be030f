"""Activation functions by the names `bert_config.json` uses."""

import keras
from keras import ops


def gelu_exact(x):
    """GELU with the exact erf form, as the reference BERT uses."""
    return keras.activations.gelu(x, approximate=False)


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
