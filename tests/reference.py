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


def tokenized(tokenizer, texts):
    """{text: (ids, starts, ends)} as Python lists, from one batched call of
    `tokenizer.tokenize_with_offsets` (one eager call per text takes minutes)."""
    texts = sorted(set(texts))
    ids, starts, ends = (x.to_list() for x in tokenizer.tokenize_with_offsets(texts))
    return {t: (i, s, e) for t, i, s, e in zip(texts, ids, starts, ends)}


def run_squad_windows(examples, tokenizer, sequence_length, doc_stride, max_query_length):
    """google-research/bert run_squad.py's doc-stride windows, written out in
    plain Python (apart from kerasbert's in-graph `question_windows`): {name:
    array} of `token_ids`, `segment_ids`, `padding_mask`, `start_positions`,
    `end_positions` (0 where the window does not hold the first answer whole),
    `example_index`, `char_starts` / `char_ends` (-1 outside the context) and
    `max_context`. Pieces and their character offsets are the tokenizer's
    `tokenize_with_offsets` (checked against transformers' elsewhere)."""
    rows = {k: [] for k in ("token_ids", "segment_ids", "padding_mask", "start_positions",
                            "end_positions", "example_index", "char_starts", "char_ends",
                            "max_context")}
    pieces = tokenized(tokenizer, [t for e in examples for t in (e.question, e.context)])
    for index, example in enumerate(examples):
        query = pieces[example.question][0][:max_query_length]
        doc_ids, doc_starts, doc_ends = pieces[example.context]
        target = None
        if example.answers:
            answer = example.answers[0]
            covered = [i for i, (s, e) in enumerate(zip(doc_starts, doc_ends))
                       if e > answer.start and s < answer.end]
            target = (covered[0], covered[-1]) if covered else None
        width = sequence_length - len(query) - 3
        windows, start = [], 0  # (start, length), run_squad.py's _DocSpan
        while True:
            length = min(len(doc_ids) - start, width)
            windows.append((start, length))
            if start + length >= len(doc_ids):
                break
            start += min(length, doc_stride)
        offset = len(query) + 2
        for w, (start, length) in enumerate(windows):
            ids = ([tokenizer.cls_token_id] + query + [tokenizer.sep_token_id]
                   + doc_ids[start:start + length] + [tokenizer.sep_token_id])
            pad = sequence_length - len(ids)
            rows["token_ids"].append(ids + [tokenizer.pad_token_id] * pad)
            rows["segment_ids"].append([0] * offset + [1] * (length + 1) + [0] * pad)
            rows["padding_mask"].append([1] * len(ids) + [0] * pad)
            rows["char_starts"].append([-1] * offset + doc_starts[start:start + length]
                                       + [-1] * (pad + 1))
            rows["char_ends"].append([-1] * offset + doc_ends[start:start + length]
                                     + [-1] * (pad + 1))
            best = [False] * sequence_length
            for j in range(length):
                position = start + j
                scores = [(min(position - s, s + n - 1 - position) + 0.01 * n, -k)
                          for k, (s, n) in enumerate(windows) if s <= position < s + n]
                best[offset + j] = -max(scores)[1] == w
            rows["max_context"].append(best)
            first = last = 0
            if target is not None and start <= target[0] and target[1] < start + length:
                first, last = target[0] - start + offset, target[1] - start + offset
            rows["start_positions"].append(first)
            rows["end_positions"].append(last)
            rows["example_index"].append(index)
    return {k: np.asarray(v, bool if k == "max_context" else np.int32) for k, v in rows.items()}


def run_squad_answers(examples, windows, start_logits, end_logits, n_best_size=20,
                      max_answer_length=30):
    """{question id: (answer text, start + end logit)} as run_squad.py's
    write_predictions picks them (v1.1): the top `n_best_size` starts and ends
    of each window, valid spans in the context of at most `max_answer_length`
    tokens, starting where the window gives the token its most context; the
    best over the example's windows, its text the context's characters from
    the first token's start to the last token's end ("", None without a span)."""
    best = {}
    for f in range(len(windows["example_index"])):
        starts = np.argsort(-start_logits[f], kind="stable")[:n_best_size]
        ends = np.argsort(-end_logits[f], kind="stable")[:n_best_size]
        for s in starts:
            for e in ends:
                if (windows["char_starts"][f, s] < 0 or windows["char_starts"][f, e] < 0
                        or e < s or e - s + 1 > max_answer_length
                        or not windows["max_context"][f, s]):
                    continue
                score = float(start_logits[f, s] + end_logits[f, e])
                index = windows["example_index"][f]
                if index not in best or score > best[index][1]:
                    context = examples[index].context
                    text = context[windows["char_starts"][f, s]:windows["char_ends"][f, e]]
                    best[index] = (text, score)
    return {example.qas_id: best.get(i, ("", None)) for i, example in enumerate(examples)}


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
