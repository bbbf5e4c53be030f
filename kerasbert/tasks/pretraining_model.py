"""The pretraining model: a `BertEncoder` with the masked-LM head (tied to the
word embeddings) and, optionally, the next-sentence head; and the heads'
weights in and out of checkpoints, under their TF1 names (`cls/...`)."""

import os

import keras
import tensorflow as tf

from kerasbert.checkpoints.assign import check_and_assign
from kerasbert.checkpoints.name_map import hf_name, pretraining_head_variables
from kerasbert.checkpoints.safetensors_file import read_arrays, write_safetensors
from kerasbert.encoder.bert_encoder import INPUT_NAMES
from kerasbert.layers.pretraining_heads import MaskedLMHead, NextSentenceHead
from kerasbert.tasks.keras_task import TaskMixin

HEADS_FILE = "pretraining_heads.safetensors"


class BertPretrainingModel(TaskMixin, keras.Model):
    """Encoder + MLM head (+ NSP head), trained by the task models' `fit`
    (`TaskMixin`: the package's loop) on batches of features and labels, as
    `kerasbert.pretrain` trains it (compiled with the `PretrainingTask` loss).

    Inputs (a dict): the encoder's `token_ids`, `segment_ids`, `padding_mask`
    int32 `[batch, seq]` and `masked_positions` int32 `[batch, max_predictions]`.
    Outputs (a dict): `mlm_logits` float32 `[batch, max_predictions, vocab]`
    and, with `next_sentence`, `nsp_logits` float32 `[batch, 2]`. Without
    next-sentence prediction nothing reaches the pooler, so it is frozen (it
    would get no gradient) and keeps its weights.
    """

    def __init__(self, encoder, next_sentence=True, **kwargs):
        config = encoder.bert_config
        if not next_sentence:
            encoder.pooler.trainable = False
        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
                  for name in INPUT_NAMES + ("masked_positions",)}
        encoded = encoder({name: inputs[name] for name in INPUT_NAMES})
        masked_lm = MaskedLMHead(
            encoder.embeddings.word_embeddings.embeddings, hidden_act=config["hidden_act"],
            layer_norm_eps=config["layer_norm_eps"],
            initializer_range=config["initializer_range"], name="masked_lm")
        outputs = {"mlm_logits": masked_lm(encoded["sequence_output"], inputs["masked_positions"])}
        next_sentence_head = None
        if next_sentence:
            next_sentence_head = NextSentenceHead(
                config["hidden_size"], config["initializer_range"], name="next_sentence")
            outputs["nsp_logits"] = next_sentence_head(encoded["pooled_output"])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder, self.next_sentence = encoder, bool(next_sentence)
        self.masked_lm, self.next_sentence_head = masked_lm, next_sentence_head
        self.preprocessor = None  # features in

    def head_variables(self):
        """{TF1 name: variable} of the heads (`cls/predictions/...`, `cls/seq_relationship/...`)."""
        return pretraining_head_variables(self.masked_lm, self.next_sentence_head)


def save_heads(model, directory):
    """Write the heads' weights as `pretraining_heads.safetensors` (TF1 names)
    beside the encoder, so a later run continues with them."""
    arrays = {name: v.numpy() for name, v in model.head_variables().items()}
    write_safetensors(os.path.join(str(directory), HEADS_FILE), arrays)


def load_heads(model, directory):
    """Assign the heads from a checkpoint directory when it has them: kerasbert's
    `pretraining_heads.safetensors`, a TF1 checkpoint's `cls/...` variables or a
    Hugging Face `BertForPreTraining`'s `cls.*` tensors.

    Returns:
        The TF1 names assigned (empty when the checkpoint has no heads, which
        then keep their fresh initialisation). A head present with the wrong
        shapes raises `CheckpointMismatchError`.
    """
    arrays = _head_arrays(str(directory))
    assigned = []
    groups = (("cls/predictions/", model.masked_lm), ("cls/seq_relationship/",
                                                      model.next_sentence_head))
    for prefix, head in groups:
        if head is None:
            continue
        variables = {n: v for n, v in model.head_variables().items() if n.startswith(prefix)}
        found = {n: a for n, a in arrays.items() if n.startswith(prefix)}
        if found:
            check_and_assign(variables, found, directory)
            assigned += sorted(variables)
    return assigned


def _head_arrays(directory):
    """{TF1 name: array} of the `cls/` weights in a checkpoint directory (maybe empty)."""
    from kerasbert.checkpoints import hf_checkpoint, tf1_checkpoint
    from kerasbert.checkpoints.loading import detect_format

    native = os.path.join(directory, HEADS_FILE)
    if tf.io.gfile.exists(native):
        return read_arrays(native)
    fmt = detect_format(directory)
    if fmt == "tf1":
        names = [n for n in tf1_checkpoint.list_variables(directory) if n.startswith("cls/")]
        return tf1_checkpoint.read_arrays(directory, names) if names else {}
    if fmt == "hf":
        hf = hf_checkpoint.read_arrays(directory, keep_heads=True)
        hf = {k.replace("LayerNorm.gamma", "LayerNorm.weight")
              .replace("LayerNorm.beta", "LayerNorm.bias"): v for k, v in hf.items()}
        arrays = {}
        for name in _HEAD_NAMES:
            key, transpose = hf_name(name)
            if key in hf:
                arrays[name] = hf[key].T if transpose else hf[key]
        return arrays
    return {}


_HEAD_NAMES = (
    "cls/predictions/transform/dense/kernel", "cls/predictions/transform/dense/bias",
    "cls/predictions/transform/LayerNorm/gamma", "cls/predictions/transform/LayerNorm/beta",
    "cls/predictions/output_bias", "cls/seq_relationship/output_weights",
    "cls/seq_relationship/output_bias")
