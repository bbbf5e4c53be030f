"""kerasbert: BERT fine-tuning, pretraining and tuning in Keras 3 (TF backend).

The top-level names are imported lazily so that `python -m kerasbert.train --help`
and the data readers do not pay for a TensorFlow import they do not need.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "BertEncoder": "kerasbert.encoder.bert_encoder",
    "BertTokenizer": "kerasbert.tokenizers.bert_tokenizer",
    "list_presets": "kerasbert.presets",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kerasbert' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
