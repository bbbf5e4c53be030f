"""SQuAD examples -> model features with doc-stride windows, and predicted
spans -> answer text, after google-research/bert `run_squad.py`.

Answers are located by character offsets: each context wordpiece knows the
characters `[start, end)` of the context it came from, so an answer's character
span maps to the first and last wordpiece that overlap it, and a predicted
token span maps back to `context[start_of_first:end_of_last]`.
"""

import collections
import dataclasses

import numpy as np
import tensorflow as tf

from kerasbert.data.long_text import sliding_windows
from kerasbert.data.pipeline import FEATURES


@dataclasses.dataclass
class QaFeatures:
    """The windows of a list of SquadExamples, as arrays over features `[n, ...]`.

    `token_ids`, `segment_ids`, `padding_mask`: `[n, sequence_length]` int32.
    `start_positions`, `end_positions`: `[n]` int32 target token positions;
        0 ([CLS]) when the window does not hold the answer.
    `example_index`: `[n]` index of each feature's example in `examples`.
    `char_starts`, `char_ends`: `[n, sequence_length]` context character span of
        each position, -1 outside the context.
    `max_context`: `[n, sequence_length]` bool, true where this window gives the
        token its most context (of all windows of the example).
    """

    examples: list
    token_ids: np.ndarray
    segment_ids: np.ndarray
    padding_mask: np.ndarray
    start_positions: np.ndarray
    end_positions: np.ndarray
    example_index: np.ndarray
    char_starts: np.ndarray
    char_ends: np.ndarray
    max_context: np.ndarray

    def __len__(self):
        return len(self.example_index)


def answer_token_span(char_starts, char_ends, answer_start, answer_end):
    """(first, last) token indices overlapping characters `[answer_start, answer_end)`,
    given per-token character spans; None when no token overlaps."""
    first = last = None
    for i, (start, end) in enumerate(zip(char_starts, char_ends)):
        if end > answer_start and start < answer_end:
            first = i if first is None else first
            last = i
    return None if first is None else (first, last)


def _is_max_context(windows, window, position):
    """True when `window` gives doc token `position` the most context, scored
    as run_squad.py: min(left, right) context + 0.01 * window length."""
    best, best_score = None, None
    for i, (start, length) in enumerate(windows):
        if not start <= position < start + length:
            continue
        score = min(position - start, start + length - 1 - position) + 0.01 * length
        if best_score is None or score > best_score:
            best, best_score = i, score
    return best == window


def context_pieces(tokenizer, contexts, batch_size=256):
    """{context: (ids, starts, ends)} of the distinct contexts, lists from the
    tokenizer's in-graph `tokenize_with_offsets` (character offsets), in batches."""
    distinct = list(dict.fromkeys(contexts))
    pieces = {}
    for i in range(0, len(distinct), batch_size):
        batch = distinct[i:i + batch_size]
        ids, starts, ends = (x.to_list() for x in tokenizer.tokenize_with_offsets(batch))
        pieces.update(zip(batch, zip(ids, starts, ends)))
    return pieces


def squad_features(examples, tokenizer, *, sequence_length=384, doc_stride=128,
                   max_query_length=64):
    """Window every example into features `[CLS] question [SEP] context-window [SEP]`.

    Args:
        examples: SquadExamples.
        tokenizer: a BertTokenizer (its `tokenize_with_offsets`, special ids).
        sequence_length: length of each feature.
        doc_stride: tokens between the starts of consecutive windows.
        max_query_length: questions are cut to this many tokens.

    Returns:
        QaFeatures. Targets use each example's first answer.
    """
    rows = collections.defaultdict(list)
    questions = tokenizer.tokenize(tf.constant([e.question for e in examples])).to_list()
    contexts = context_pieces(tokenizer, [e.context for e in examples])
    for index, example in enumerate(examples):
        query = questions[index][:max_query_length]
        doc_ids, doc_starts, doc_ends = contexts[example.context]
        target = None
        if example.answers:
            answer = example.answers[0]
            target = answer_token_span(doc_starts, doc_ends, answer.start, answer.end)
        windows = sliding_windows(len(doc_ids), sequence_length - len(query) - 3, doc_stride)
        for w, (start, length) in enumerate(windows):
            _add_window(rows, tokenizer, query, doc_ids, doc_starts, doc_ends, windows, w,
                        start, length, target, sequence_length)
            rows["example_index"].append(index)
    arrays = {k: np.asarray(v, np.bool_ if k == "max_context" else np.int32)
              for k, v in rows.items()}
    return QaFeatures(examples=list(examples), **arrays)


def _add_window(rows, tokenizer, query, doc_ids, doc_starts, doc_ends, windows, w, start,
                length, target, sequence_length):
    offset = len(query) + 2
    ids = [tokenizer.cls_token_id] + query + [tokenizer.sep_token_id]
    ids += list(doc_ids[start:start + length]) + [tokenizer.sep_token_id]
    pad = sequence_length - len(ids)
    segments = [0] * offset + [1] * (length + 1)
    char_starts = [-1] * offset + list(doc_starts[start:start + length]) + [-1] * (pad + 1)
    char_ends = [-1] * offset + list(doc_ends[start:start + length]) + [-1] * (pad + 1)
    max_context = [False] * sequence_length
    for j in range(length):
        max_context[offset + j] = _is_max_context(windows, w, start + j)
    first = last = 0
    if target is not None and start <= target[0] and target[1] < start + length:
        first, last = target[0] - start + offset, target[1] - start + offset
    rows["token_ids"].append(ids + [tokenizer.pad_token_id] * pad)
    rows["segment_ids"].append(segments + [0] * pad)
    rows["padding_mask"].append([1] * len(ids) + [0] * pad)
    rows["char_starts"].append(char_starts)
    rows["char_ends"].append(char_ends)
    rows["max_context"].append(max_context)
    rows["start_positions"].append(first)
    rows["end_positions"].append(last)


def qa_dataset(features, *, batch_size, training=False, shuffle=False, seed=0):
    """`tf.data` of `(features, {"start_positions", "end_positions"})` with fully
    defined shapes; the remainder is dropped when `training` only, so that
    evaluation sees every feature in order."""
    inputs = {name: getattr(features, name) for name in FEATURES}
    targets = {"start_positions": features.start_positions,
               "end_positions": features.end_positions}
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle:
        dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def span_text(features, feature, first, last):
    """The context text of positions `first..last` of feature `feature`."""
    example = features.examples[features.example_index[feature]]
    return example.context[features.char_starts[feature, first]:features.char_ends[feature, last]]


def best_answers(features, start_logits, end_logits, n_best_size=20, max_answer_length=30,
                 with_scores=False):
    """The best answer text of each example, from per-feature logits.

    Args:
        features: the QaFeatures the logits were computed on.
        start_logits, end_logits: `[n, sequence_length]` arrays.
        n_best_size: start and end candidates per feature.
        max_answer_length: longest span, in tokens.

    Returns:
        Dict `qas_id -> answer text` ("" when no valid span exists); with
        `with_scores`, `qas_id -> (text, start logit + end logit)` (score None
        when no valid span exists).
    """
    best = {}
    for f in range(len(features)):
        starts = np.argsort(start_logits[f])[::-1][:n_best_size]
        ends = np.argsort(end_logits[f])[::-1][:n_best_size]
        for s in starts:
            for e in ends:
                if (features.char_starts[f, s] < 0 or features.char_starts[f, e] < 0 or e < s
                        or e - s + 1 > max_answer_length or not features.max_context[f, s]):
                    continue
                score = start_logits[f, s] + end_logits[f, e]
                index = features.example_index[f]
                if index not in best or score > best[index][0]:
                    best[index] = (score, span_text(features, f, s, e))
    if with_scores:
        return {example.qas_id: (best[i][1], float(best[i][0])) if i in best else ("", None)
                for i, example in enumerate(features.examples)}
    return {example.qas_id: best.get(i, (0, ""))[1] for i, example in enumerate(features.examples)}
