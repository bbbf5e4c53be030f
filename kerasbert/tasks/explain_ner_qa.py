"""Integrated gradients of the sequence heads: NER entities and QA answers.

`Explainer` (kerasbert.tasks.integrated_gradients) calls these for "ner"
and "qa" models; the path integral is the same `integrated_gradients`, with
the score given as a function of the logits (its `kind` hook).

NER (`explain_ner`): each row is first predicted as the NER predictor
predicts it (`TaggingSignature`: the basic tokenizer's words, each tagged at
its first sub-token; conlleval chunks), then every predicted entity is explained on
its own. Its score is the *mean* over the entity's words of the softmax
probability of the word's predicted tag (its B- / I- tag) at the word's
first sub-token, which is the predictor's entity `score`:

    {"text": ..., "tokens": [...], "words": [...], "word_offsets": [[0, 4], ...],
     "entities": [{"type": "PER", "text": "John Smith", "start": 0, "end": 10,
                   "word_start": 0, "word_end": 2, "char_start": 0, "char_end": 10,
                   "score": 0.91,
                   "baseline_score": 0.32, "attributions": [... one per token],
                   "word_attributions": [... one per word], "convergence_delta": ...}]}

`start` / `end` are the entity's characters in the text (end exclusive),
as the predictor gives them (`char_start` / `char_end` repeat them);
`word_start` / `word_end` its words (indices into `words`, end exclusive). A row
without entities has `"entities": []`.

QA (`explain_qa`): the answer predicted in the example's *first window*
(the whole example when its context fits one window; a longer context is
cut to its first window, `windows` says how many the predictor reads), by
the in-graph answer search of the SavedModel (`data.qa_features.
best_spans`). Two scores are explained: the softmax probability of the
answer's start position over the window's context positions (start logits),
and that of its end position (end logits). Question and context tokens are
both attributed (the baseline keeps only [CLS] and [SEP]):

    {"question": ..., "context": ..., "answer": "Ann", "answer_offsets": [18, 21],
     "windows": 1, "tokens": [...], "start_position": 9, "end_position": 9,
     "start_score": ..., "start_baseline_score": ..., "start_attributions": [...],
     "start_convergence_delta": ..., "end_score": ..., "end_baseline_score": ...,
     "end_attributions": [...], "end_convergence_delta": ...,
     "words": [...], "word_segments": [0, ..., 1, ...], "word_offsets": [...],
     "start_word_attributions": [...], "end_word_attributions": [...]}

Where the answer is "" (SQuAD v2.0's null answer, or no valid span) start
and end are [CLS] (position 0, then part of the softmax's positions) and
`answer_offsets` is None.
"""

import numpy as np
import tensorflow as tf

from kerasbert.tasks.integrated_gradients import group_words, integrated_gradients

# -- NER -----------------------------------------------------------------------------------


def ner_score(logits, targets):
    """`[batch]` mean over the positions where `targets` >= 0 of the softmax
    probability of tag `targets[position]` (`logits` `[batch, seq, tags]`,
    `targets` int32 `[batch, seq]`, -1 elsewhere)."""
    probabilities = tf.nn.softmax(logits, axis=-1)
    chosen = tf.one_hot(targets, tf.shape(logits)[-1], dtype=probabilities.dtype)  # -1: zeros
    count = tf.reduce_sum(tf.cast(targets >= 0, probabilities.dtype), axis=1)
    return tf.reduce_sum(probabilities * chosen, axis=[1, 2]) / tf.maximum(count, 1.0)


class NerFunctions:
    """The graphs of one NER explainer: the predictor's forward pass, and the
    integrated gradients of a batch of (row, entity target) pairs."""

    def __init__(self, explainer):
        from kerasbert.tasks.token_classification import TaggingSignature

        self.explainer = explainer
        self.signature = TaggingSignature(explainer.task, explainer.tokenizer, {})
        strings = tf.TensorSpec([None], tf.string)
        self.forward = tf.function(self._forward, input_signature=[strings], autograph=False)
        self.gradients = tf.function(
            self._gradients, input_signature=[strings, tf.TensorSpec([None, None], tf.int32)],
            autograph=False)

    def _features(self, texts, targets=None):
        from kerasbert.tasks.signature import trim_padding

        features, extras = self.signature.model_inputs({"text": texts})
        sequences = {"word_ids": extras["word_ids"]}
        if targets is not None:
            sequences["targets"] = targets
        features, sequences = trim_padding(features, sequences)
        return features, {**extras, **sequences}

    def _forward(self, texts):
        features, extras = self._features(texts)
        logits = self.explainer.model(features, training=False)
        return {**features, **extras, "logits": tf.cast(logits, tf.float32)}

    def _gradients(self, texts, targets):
        features, extras = self._features(texts, targets)
        out = integrated_gradients(self.explainer.model, features, extras["targets"],
                                   self.explainer.steps, ner_score,
                                   self.explainer.special_ids)
        return {**features, **out}


def explain_ner(explainer, texts, batch_size):
    """Records of NER rows `texts` (see the module doc)."""
    functions = explainer.sequence_functions(NerFunctions)
    rows, pending = [], []  # pending: (row, entity, targets) to explain
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        out = {k: v.numpy() for k, v in functions.forward(tf.constant(batch, tf.string)).items()}
        predicted = functions.signature.postprocess(out["logits"], out)
        for i, text in enumerate(batch):
            length = int(out["padding_mask"][i].sum())
            count = int(out["num_words"][i])
            words = [w.decode("utf-8") for w in out["words"][i][:count]]
            word_ids = out["word_ids"][i]
            offsets = [[int(a), int(b)] for a, b in zip(out["word_starts"][i][:count],
                                                        out["word_ends"][i][:count])]
            record = {"text": text,
                      "tokens": [explainer.tokenizer.id_to_token(t)
                                 for t in out["token_ids"][i][:length]],
                      "words": words, "word_offsets": offsets, "entities": []}
            tags = out["logits"][i].argmax(-1)
            firsts = first_positions(word_ids)
            for entity in predicted[i]["entities"]:
                item = dict(entity)
                item["word_start"], item["word_end"] = entity_words(offsets, entity)
                item["char_start"], item["char_end"] = entity["start"], entity["end"]
                targets = np.full(explainer.tokenizer.sequence_length, -1, np.int32)
                for word in range(item["word_start"], item["word_end"]):
                    if word in firsts:  # words cut off by the sequence have none
                        targets[firsts[word]] = tags[firsts[word]]
                record["entities"].append(item)
                pending.append((len(rows), item, targets, word_ids[:length]))
            rows.append(record)
    for start in range(0, len(pending), batch_size):
        batch = pending[start:start + batch_size]
        out = functions.gradients(tf.constant([rows[r]["text"] for r, *_ in batch], tf.string),
                                  tf.constant(np.stack([t for _, _, t, _ in batch])))
        out = {k: v.numpy() for k, v in out.items()}
        for i, (row, item, _, word_ids) in enumerate(batch):
            length = len(rows[row]["tokens"])
            attributions = [float(a) for a in out["attributions"][i][:length]]
            score, baseline = float(out["score"][i]), float(out["baseline_score"][i])
            item.update({
                "score": score, "baseline_score": baseline, "attributions": attributions,
                "word_attributions": word_sums(word_ids, attributions,
                                               len(rows[row]["words"])),
                "convergence_delta": float(sum(attributions) - (score - baseline))})
    return rows


def first_positions(word_ids):
    """{word: the position of its first sub-token} (`word_ids`: word per position, -1 none)."""
    firsts = {}
    for position, word in enumerate(word_ids):
        if word >= 0 and int(word) not in firsts:
            firsts[int(word)] = position
    return firsts


def word_sums(word_ids, attributions, num_words):
    """Per word, the sum of its positions' attributions; a case marker piece
    (word id -1 between [CLS] and [SEP]) counts toward the word after it.
    Words cut off by the sequence get 0."""
    totals = [0.0] * num_words
    following = -1
    for position in range(len(word_ids) - 1, -1, -1):
        word = int(word_ids[position])
        if word >= 0:
            following = word
        elif not 0 < position < len(word_ids) - 1 or following < 0:
            continue
        totals[following if word < 0 else word] += attributions[position]
    return totals


def entity_words(offsets, entity):
    """(first word, end word) of an entity's character span `start`..`end`,
    given the words' `[start, end)` offsets."""
    inside = [k for k, (a, b) in enumerate(offsets) if a >= entity["start"] and b <= entity["end"]]
    return inside[0], inside[-1] + 1


# -- QA ------------------------------------------------------------------------------------

START, END = 1, 2  # target codes of `qa_score`


def qa_score(logits, targets):
    """`[batch]` softmax probability of the target position over the allowed
    ones: `targets` int32 `[batch, seq]` is -1 at positions left out of the
    softmax, 0 at the others, START at the explained start position (the
    softmax of the start logits `logits[..., 0]`) or END at the explained end
    position (of the end logits `logits[..., 1]`)."""
    allowed = targets >= 0
    lowest = tf.fill(tf.shape(targets), -1e9)

    def probability(column, code):
        values = tf.nn.softmax(tf.where(allowed, logits[..., column], lowest), axis=-1)
        return tf.reduce_sum(values * tf.cast(targets == code, values.dtype), axis=1)

    return probability(0, START) + probability(1, END)


class QaFunctions:
    """The graph of one QA explainer: each example's first window, its
    predicted answer and the integrated gradients of its start and end."""

    def __init__(self, explainer):
        self.explainer = explainer
        strings = tf.TensorSpec([None], tf.string)
        self.explain = tf.function(self._explain, input_signature=[strings, strings],
                                   autograph=False)

    def _explain(self, questions, contexts):
        from kerasbert.data.qa_features import best_spans, question_windows
        from kerasbert.tasks.signature import trim_padding

        explainer, task = self.explainer, self.explainer.task
        features, extras = question_windows(explainer.tokenizer, questions, contexts,
                                            task.doc_stride, task.max_query_length)
        count = tf.shape(questions, out_type=tf.int64)[0]
        example = extras["example"]
        first = tf.math.unsorted_segment_min(tf.range(tf.size(example, tf.int64)), example,
                                             count)
        windows = tf.math.bincount(tf.cast(example, tf.int32), minlength=tf.cast(count, tf.int32),
                                   maxlength=tf.cast(count, tf.int32))
        features = {k: tf.gather(v, first) for k, v in features.items()}
        char_starts = tf.gather(extras["char_starts"], first)
        char_ends = tf.gather(extras["char_ends"], first)
        in_context = char_starts >= 0
        logits = tf.cast(explainer.model(features, training=False), tf.float32)
        spans = best_spans(logits, {
            "char_starts": char_starts, "char_ends": char_ends, "max_context": in_context,
            "example": tf.range(count), "context": contexts}, **task.span_settings())
        answered = spans["answered"]
        start = tf.where(answered, spans["first"], 0)
        end = tf.where(answered, spans["last"], 0)
        positions = tf.range(tf.shape(char_starts)[1])[None, :]
        allowed = in_context
        if task.version_2_with_negative:
            allowed |= positions == 0
        base = tf.where(allowed, 0, -1)
        targets = tf.concat([tf.where(positions == start[:, None], START, base),
                             tf.where(positions == end[:, None], END, base)], 0)
        both = {k: tf.concat([v, v], 0) for k, v in features.items()}
        both, sequences = trim_padding(both, {"targets": targets})
        out = integrated_gradients(explainer.model, both, sequences["targets"],
                                   explainer.steps, qa_score, explainer.special_ids)
        half = tf.shape(questions)[0]
        answer_start = tf.gather(char_starts, start, batch_dims=1)
        answer_end = tf.gather(char_ends, end, batch_dims=1)
        result = {k: v[:half] for k, v in both.items()}
        result.update({
            "answer": spans["answers"], "answered": answered, "windows": windows,
            "start_position": start, "end_position": end,
            "answer_start": answer_start, "answer_end": answer_end})
        for name, part in (("start", slice(None, half)), ("end", slice(half, None))):
            for key in ("attributions", "score", "baseline_score"):
                result[f"{name}_{key}"] = out[key][part]
        return result


def explain_qa(explainer, questions, contexts, batch_size):
    """Records of (question, context) rows (see the module doc)."""
    functions = explainer.sequence_functions(QaFunctions)
    records = []
    for begin in range(0, len(questions), batch_size):
        batch_questions = questions[begin:begin + batch_size]
        batch_contexts = contexts[begin:begin + batch_size]
        out = functions.explain(tf.constant(batch_questions, tf.string),
                                tf.constant(batch_contexts, tf.string))
        out = {k: v.numpy() for k, v in out.items()}
        for i, (question, context) in enumerate(zip(batch_questions, batch_contexts)):
            records.append(_qa_record(explainer, question, context,
                                      {k: v[i] for k, v in out.items()}))
    return records


def _qa_record(explainer, question, context, row):
    length = int(row["padding_mask"].sum())
    ids = row["token_ids"][:length]
    answered = bool(row["answered"])
    record = {"question": question, "context": context,
              "answer": row["answer"].decode("utf-8"),
              "answer_offsets": ([int(row["answer_start"]), int(row["answer_end"])]
                                 if answered else None),
              "windows": int(row["windows"]),
              "tokens": [explainer.tokenizer.id_to_token(i) for i in ids],
              "start_position": int(row["start_position"]),
              "end_position": int(row["end_position"])}
    segments = row["segment_ids"][:length]
    query = int((segments == 0).sum()) - 2  # [CLS] question [SEP]
    spans = [(question, 1, query, 0), (context, query + 2, length - query - 3, 1)]
    words = {}
    for name in ("start", "end"):
        attributions = [float(a) for a in row[f"{name}_attributions"][:length]]
        score, baseline = float(row[f"{name}_score"]), float(row[f"{name}_baseline_score"])
        record.update({f"{name}_score": score, f"{name}_baseline_score": baseline,
                       f"{name}_attributions": attributions,
                       f"{name}_convergence_delta": float(sum(attributions) - (score - baseline))})
        grouped = []
        for text, position, count, segment in spans:
            for word, value, span in group_words(explainer.tokenizer, text,
                                                 ids[position:position + count],
                                                 attributions[position:position + count]):
                grouped.append((word, value, span, segment))
        words[name] = grouped
    record.update({"words": [w for w, _, _, _ in words["start"]],
                   "word_segments": [s for _, _, _, s in words["start"]],
                   "word_offsets": [o for _, _, o, _ in words["start"]],
                   "start_word_attributions": [v for _, v, _, _ in words["start"]],
                   "end_word_attributions": [v for _, v, _, _ in words["end"]]})
    return record
