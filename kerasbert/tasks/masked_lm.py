"""Masked-language-model pretraining as a Keras model: `BertMaskedLM`, the
task behind `python -m kerasbert.pretrain` (without next-sentence prediction),
for continued (domain-adaptive) pretraining from Keras.

    model = kerasbert.BertMaskedLM.from_preset("bert_base_en_uncased", sequence_length=128)
    model.compile()
    model.fit(x=domain_sentences, batch_size=32, epochs=1)
    model.save_to_preset("runs/adapted")      # an encoder directory (with its MLM head)
    kerasbert.BertClassifier.from_preset("runs/adapted", num_classes=2)

Masking follows google-research/bert (`tasks.masking.BertMasker`):
15% of the tokens (at most `max_predictions`), 80% [MASK], 10% a random
token, 10% unchanged, drawn afresh for every batch (dynamic masking). It is
not a `--task` of `kerasbert.train`, so it is not in the task registry.
"""

import keras
import tensorflow as tf

from kerasbert.checkpoints.name_map import pretraining_head_variables
from kerasbert.encoder.bert_encoder import INPUT_NAMES, BertEncoder
from kerasbert.layers.pretraining_heads import MaskedLMHead
from kerasbert.tasks.masking import BertMasker
from kerasbert.tasks.keras_task import BertPreprocessor, TaskMixin
from kerasbert.tokenizers.bert_tokenizer import BertTokenizer


@keras.saving.register_keras_serializable(package="kerasbert")
class BertMaskedLMPreprocessor(BertPreprocessor):
    """Raw text -> masked inputs, the original tokens and their weights.

    Call: `x` strings (or `(texts, pairs)`). Returns `(features, y,
    sample_weight)`: features hold the encoder's inputs, with the chosen
    tokens replaced, and `masked_positions` int32 `[batch, max_predictions]`;
    y the original tokens there, int32 `[batch, max_predictions]`;
    sample_weight 1.0 on real predictions, 0.0 on the padding of the list.

    Args:
        tokenizer: a `BertTokenizer` (its vocabulary needs [MASK]).
        masked_lm_prob, max_predictions, whole_word: the masking rule.
    """

    def __init__(self, tokenizer, masked_lm_prob=0.15, max_predictions=20, whole_word=False,
                 **kwargs):
        super().__init__(tokenizer, **kwargs)
        self.masked_lm_prob, self.max_predictions = float(masked_lm_prob), int(max_predictions)
        self.whole_word = bool(whole_word)
        self._masker = None

    @property
    def masker(self):
        """The masking rule (`BertMasker`) on the tokenizer's vocabulary (made
        on first use: a .keras file's vocabulary comes after the config)."""
        if self._masker is None:
            self._masker = BertMasker.from_tokenizer(
                self.tokenizer, masked_lm_prob=self.masked_lm_prob,
                max_predictions=self.max_predictions, whole_word=self.whole_word)
        return self._masker

    def call(self, x, y=None, sample_weight=None):
        features = self.features(x)
        if "masked_positions" in features:  # already masked
            return keras.utils.pack_x_y_sample_weight(features, y, sample_weight)
        seed = tf.random.uniform([2], 0, 2 ** 62, dtype=tf.int64)
        masked = self.masker(features["token_ids"], features["padding_mask"], seed)
        features = {**features, "token_ids": masked["token_ids"],
                    "masked_positions": masked["masked_positions"]}
        return features, masked["masked_ids"], masked["masked_weights"]

    def get_config(self):
        return {**super().get_config(), "masked_lm_prob": self.masked_lm_prob,
                "max_predictions": self.max_predictions, "whole_word": self.whole_word}


@keras.saving.register_keras_serializable(package="kerasbert")
class BertMaskedLM(TaskMixin, keras.Model):
    """Encoder + the masked-LM head (tied to the word embeddings).

    Inputs (a dict): the encoder's `token_ids`, `segment_ids`, `padding_mask`
    and `masked_positions`, int32. Output: float32 logits `[batch,
    max_predictions, vocab_size]` at the masked positions.

    Args:
        encoder: a `BertEncoder`.
        preprocessor: a `BertMaskedLMPreprocessor`, or None (masked features in).
    """

    preprocessor_class = BertMaskedLMPreprocessor
    preprocessor_arguments = ("masked_lm_prob", "max_predictions", "whole_word")
    weighted_metrics_by_default = True

    def __init__(self, encoder, preprocessor=None, **kwargs):
        encoder.pooler.trainable = False  # nothing reads it: it gets no gradient
        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
                  for name in INPUT_NAMES + ("masked_positions",)}
        encoded = encoder({name: inputs[name] for name in INPUT_NAMES})
        masked_lm = MaskedLMHead.for_encoder(encoder, name="masked_lm")
        logits = masked_lm(encoded["sequence_output"], inputs["masked_positions"])
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder, self.masked_lm, self.next_sentence_head = encoder, masked_lm, None
        self.preprocessor = preprocessor

    def head_variables(self):
        """{TF1 name: variable} of the head (`cls/predictions/...`)."""
        return pretraining_head_variables(self.masked_lm, None)

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight")

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    @classmethod
    def from_preset(cls, preset, load_weights=True, sequence_length=128, allow_pickle=False,
                    **preprocessing):
        """From a preset, hub handle or checkpoint directory: the encoder and,
        where the checkpoint has one (kerasbert's `pretraining_heads.
        safetensors`, a TF1 or Hugging Face pretraining checkpoint), the MLM
        head; else a fresh head on the tied embeddings."""
        from kerasbert.checkpoints.sources import resolve
        from kerasbert.tasks.pretraining_model import load_heads

        encoder = BertEncoder.from_preset(preset, load_weights=load_weights,
                                          allow_pickle=allow_pickle)
        tokenizer = BertTokenizer.from_preset(preset, sequence_length=sequence_length)
        model = cls(encoder, BertMaskedLMPreprocessor(tokenizer, **preprocessing))
        if load_weights:
            load_heads(model, resolve(str(preset), allow_pickle=allow_pickle))
        return model

    def save_to_preset(self, directory):
        """Write the encoder (kerasbert's checkpoint layout, which every
        `from_preset` and `--model` reads), its vocabulary and the MLM head."""
        from kerasbert.checkpoints.loading import save_encoder
        from kerasbert.tasks.pretraining_model import save_heads

        directory = str(directory)
        save_encoder(self.encoder, directory)
        if self.preprocessor is not None:
            self.preprocessor.tokenizer.save_to_dir(directory)
        save_heads(self, directory)
