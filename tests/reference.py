"""Helpers shared by tests: real data readers and the transformers reference."""

import csv

import numpy as np


def sst2_sentences(test_data, split="dev", limit=None):
    """SST-2 sentences of `split`, read with no quote processing (GLUE TSV)."""
    with open(test_data / "glue" / "SST-2" / f"{split}.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [r[0] for r in rows[:limit]]


def hf_features(hf_batch):
    """A transformers BatchEncoding (numpy) -> the encoder's int32 input dict."""
    return {"token_ids": hf_batch["input_ids"].astype("int32"),
            "segment_ids": hf_batch["token_type_ids"].astype("int32"),
            "padding_mask": hf_batch["attention_mask"].astype("int32")}


def torch_bert_outputs(model_dir, hf_batch):
    """(sequence_output, pooled_output) of transformers' BertModel in eval mode."""
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(str(model_dir)).eval()
    with torch.no_grad():
        out = model(**{k: torch.tensor(v) for k, v in hf_batch.items()})
    return out.last_hidden_state.numpy(), out.pooler_output.numpy()


def max_abs_diff_real_tokens(a, b, padding_mask):
    """Largest |a - b| over non-padding positions of `[batch, seq, hidden]` arrays."""
    keep = padding_mask.astype(bool)
    return float(np.abs(a[keep] - b[keep]).max())


def squad_v1_scores(predictions, gold):
    """(exact match, F1) in percent of `{question id: answer}` against `{question
    id: [gold answers]}`, as the official SQuAD v1.1 evaluation script computes
    them (written out here, apart from kerasbert.metrics.squad); a question
    without a prediction scores 0."""
    import collections
    import re
    import string

    def normalize(text):
        text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())

    def f1(prediction, truth):
        prediction, truth = normalize(prediction).split(), normalize(truth).split()
        common = collections.Counter(prediction) & collections.Counter(truth)
        same = sum(common.values())
        if same == 0:
            return 0.0
        precision, recall = same / len(prediction), same / len(truth)
        return 2 * precision * recall / (precision + recall)

    exact = total = 0.0
    for qid, answers in gold.items():
        if qid in predictions:
            exact += max(float(normalize(predictions[qid]) == normalize(a)) for a in answers)
            total += max(f1(predictions[qid], a) for a in answers)
    return 100.0 * exact / len(gold), 100.0 * total / len(gold)


# The start of a script for a fresh process that loads SavedModels with nothing
# but TensorFlow and tensorflow-text: importing kerasbert there fails.
SERVING_WITHOUT_KERASBERT = r"""
import importlib.abc, json, sys


class NoKerasbert(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "kerasbert":
            raise ImportError("kerasbert must not be needed to serve")


sys.meta_path.insert(0, NoKerasbert())
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)
"""
