"""Keras finds kerasbert's serializable classes without their modules imported.

`keras.models.load_model("model.keras")` looks each class up by its
registered name (`"kerasbert>BertClassifier"`) in Keras' table of custom
objects, which `@keras.saving.register_keras_serializable` fills when the
class's module is imported. kerasbert imports its modules lazily (so that
`--help` stays fast), so after `import kerasbert` alone the table would not
know them. `install()` (run by `import kerasbert`) makes that table import the
module of a kerasbert name the first time Keras asks for it; it imports
neither Keras nor TensorFlow itself: when Keras is not imported yet, it waits
for Keras' registration module to be imported (an import hook that removes
itself once it has fired).
"""

import importlib
import importlib.abc
import importlib.machinery
import sys

# The Keras module that holds the table (`GLOBAL_CUSTOM_OBJECTS`).
KERAS_REGISTRATION = "keras.src.saving.object_registration"
# Registered name -> the module whose import registers it.
SERIALIZABLE = {
    "kerasbert>BertEncoder": "kerasbert.encoder.bert_encoder",
    "kerasbert>AttentionBias": "kerasbert.encoder.bert_encoder",
    "kerasbert>BertTokenizer": "kerasbert.tokenizers.bert_tokenizer",
    "kerasbert>BertLayerNorm": "kerasbert.layers.layer_norm",
    "kerasbert>MaskedMeanPooling": "kerasbert.layers.mean_pooling",
    "kerasbert>CRF": "kerasbert.layers.crf",
    "kerasbert>MaskedLMHead": "kerasbert.layers.pretraining_heads",
    "kerasbert>NextSentenceHead": "kerasbert.layers.pretraining_heads",
    "kerasbert>WarmupLinearDecay": "kerasbert.optimization",
    "kerasbert>BertAdamW": "kerasbert.optimization",
    "kerasbert>BertPreprocessor": "kerasbert.tasks.keras_task",
    "kerasbert>BertClassifier": "kerasbert.tasks.classification",
    "kerasbert>BertRegressor": "kerasbert.tasks.regression",
    "kerasbert>BertTokenClassifier": "kerasbert.tasks.token_classification",
    "kerasbert>BertTokenClassifierPreprocessor": "kerasbert.tasks.token_classification",
    "kerasbert>BertQuestionAnswerer": "kerasbert.tasks.question_answering",
    "kerasbert>BertQuestionAnswererPreprocessor": "kerasbert.tasks.question_answering",
    "kerasbert>span_loss": "kerasbert.tasks.question_answering",
    "kerasbert>BertMaskedLM": "kerasbert.tasks.masked_lm",
    "kerasbert>BertMaskedLMPreprocessor": "kerasbert.tasks.masked_lm",
}


class LazyCustomObjects(dict):
    """Keras' table of custom objects, importing a kerasbert class's module
    when its registered name is first looked up."""

    def _import(self, name):
        module = SERIALIZABLE.get(name) if isinstance(name, str) else None
        if module is not None and not dict.__contains__(self, name):
            importlib.import_module(module)  # its decorators register the names

    def __contains__(self, name):
        self._import(name)
        return dict.__contains__(self, name)

    def __getitem__(self, name):
        self._import(name)
        return dict.__getitem__(self, name)

    def get(self, name, default=None):
        self._import(name)
        return dict.get(self, name, default)


def _make_lazy(registration):
    table = registration.GLOBAL_CUSTOM_OBJECTS
    if not isinstance(table, LazyCustomObjects):
        registration.GLOBAL_CUSTOM_OBJECTS = LazyCustomObjects(table)


class _Loader(importlib.abc.Loader):
    """Keras' loader of the registration module, which then makes its table lazy."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _make_lazy(module)

    def __getattr__(self, name):  # get_source, get_code, ...: the real loader's
        return getattr(self.loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Waits for Keras' registration module to be imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != KERAS_REGISTRATION:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install():
    """Make Keras' table of custom objects import kerasbert's classes on demand
    (now if Keras is imported, else when it is)."""
    registration = sys.modules.get(KERAS_REGISTRATION)
    if registration is not None:
        _make_lazy(registration)
    elif not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
