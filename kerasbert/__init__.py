"""kerasbert: BERT fine-tuning, pretraining and tuning in Keras 3 (TF backend).

The top-level names are imported lazily so that `python -m kerasbert.train --help`
and the data readers do not pay for a TensorFlow import they do not need; Keras
finds the serializable classes by name all the same (`keras_registry`).
"""

from kerasbert import keras_registry
from kerasbert.lazy_names import lazy_names

__version__ = "0.1.0"

_LAZY = {
    "BertEncoder": "kerasbert.encoder.bert_encoder",
    "BertTokenizer": "kerasbert.tokenizers.bert_tokenizer",
    "list_presets": "kerasbert.presets",
    "BertPreprocessor": "kerasbert.tasks.keras_task",
    "BertClassifier": "kerasbert.tasks.classification",
    "BertRegressor": "kerasbert.tasks.regression",
    "BertTokenClassifier": "kerasbert.tasks.token_classification",
    "BertTokenClassifierPreprocessor": "kerasbert.tasks.token_classification",
    "BertQuestionAnswerer": "kerasbert.tasks.question_answering",
    "BertQuestionAnswererPreprocessor": "kerasbert.tasks.question_answering",
    "BertMaskedLM": "kerasbert.tasks.masked_lm",
    "BertMaskedLMPreprocessor": "kerasbert.tasks.masked_lm",
}


__getattr__, __dir__ = lazy_names(globals(), _LAZY)
# `keras.models.load_model` finds the task models without their modules imported.
keras_registry.install()
