"""Entity-level precision, recall and F1 of tag sequences, as conlleval.pl
and seqeval (default, non-strict mode) compute them.

A tag is `B-TYPE`, `I-TYPE`, `E-TYPE`, `S-TYPE` or `O` (IOB1, IOB2 and IOBES
alike). An entity is a maximal run of words that conlleval's chunking rules
join: it starts at `B`/`S`, at an `I`/`E` that follows `O`, `E` or `S`, or
where the type changes; it ends before `B`/`S`/`O`, after `E`/`S`, or where
the type changes. So malformed sequences (an `I-` after `O`, a type change
inside a run) still give entities, exactly as the reference scripts do.

An entity counts as correct only when its type, first and last word all
match a gold entity of the same sentence.
"""

import collections

import numpy as np
import tensorflow as tf

from kerasbert.metrics.classification import _prf


def entity_chunks(tags):
    """The entities of a batch of tag rows, in graph (TF ops only): the one
    implementation of the chunking rules above, for metrics (`entity_spans`,
    run eagerly) and for the NER SavedModel (`tasks.token_classification`).

    A chunk ends between two words and starts at a word by comparing each
    tag with the one before it, vectorised; the start of the chunk ending
    before word i is the last start at or before word i - 1 (word 0 when the
    row has none, as conlleval).

    Args:
        tags: string `[batch, words]` tensor, rows padded with "O".

    Returns:
        `(rows, types, firsts, ends)`, one entry per entity in row-major
        order: int64 row, string type, int32 first word and int32 end word
        (exclusive).
    """
    tags = tf.convert_to_tensor(tags, tf.string)
    batch, width = tf.shape(tags)[0], tf.shape(tags)[1]
    tags = tf.concat([tags, tf.fill([batch, 1], "O")], axis=1)
    # (prefix letter, type) as seqeval reads a tag: the first character, and
    # what follows the first "-" ("_" when nothing does).
    tag = tf.strings.substr(tags, 0, 1, unit="UTF8_CHAR")
    type_ = tf.strings.regex_replace(tf.strings.regex_replace(tags, "^.", ""), "^[^-]*-", "")
    type_ = tf.where(type_ == "", "_", type_)
    prev_tag = tf.concat([tf.fill([batch, 1], "O"), tag[:, :-1]], axis=1)
    prev_type = tf.concat([tf.fill([batch, 1], ""), type_[:, :-1]], axis=1)
    changed = prev_type != type_
    ends = (_isin(prev_tag, ("E", "S"))
            | (_isin(prev_tag, ("B", "I")) & _isin(tag, ("B", "S", "O")))
            | (~_isin(prev_tag, ("O", ".")) & changed))
    starts = (_isin(tag, ("B", "S"))
              | (_isin(prev_tag, ("E", "S", "O")) & _isin(tag, ("E", "I")))
              | (~_isin(tag, ("O", ".")) & changed))
    # The last start at or before each position, read row after row (flat):
    # the k-th start's flat position, k = starts so far; one from an earlier
    # row (or none) is negative once made relative to the row.
    flat_starts = tf.reshape(starts, [-1])
    start_positions = tf.cast(tf.where(flat_starts)[:, 0], tf.int32)
    count = tf.cumsum(tf.cast(flat_starts, tf.int32))
    last = tf.gather(tf.concat([[-1], start_positions], axis=0), count)
    last_start = tf.reshape(last, [batch, width + 1]) - tf.range(batch)[:, None] * (width + 1)
    found = tf.where(ends)  # [entities, 2]: (row, i); the entity is words first..i-1
    rows, end = found[:, 0], tf.cast(found[:, 1], tf.int32)
    first = tf.maximum(tf.gather_nd(last_start, tf.stack([rows, tf.cast(end - 1, tf.int64)], 1)),
                       0)
    return rows, tf.gather_nd(prev_type, found), first, end


def _isin(tensor, values):
    return tf.reduce_any(tf.stack([tf.equal(tensor, v) for v in values]), axis=0)


_entity_chunks = tf.function(entity_chunks, autograph=False,
                             input_signature=[tf.TensorSpec([None, None], tf.string)])


def entity_spans(tags):
    """The entities of one sentence's tags (`entity_chunks`, run on one row).

    Args:
        tags: a sequence of tag strings, one per word.

    Returns:
        A list of `(type, first_word, last_word)` tuples (last inclusive), in order.
    """
    tags = list(tags)
    if not tags:
        return []
    _, types, firsts, ends = _entity_chunks(tf.constant([tags], tf.string))
    return [(t.decode("utf-8"), int(a), int(b) - 1)
            for t, a, b in zip(types.numpy(), firsts.numpy(), ends.numpy())]


def entity_counts(gold_sentences, predicted_sentences):
    """{type: (correct, predicted, gold)} entity counts over sentences.

    Sentences are joined with an `O` between them, as seqeval does, so each
    entity belongs to one sentence.
    """
    if len(gold_sentences) != len(predicted_sentences):
        raise ValueError(f"{len(gold_sentences)} gold sentences but "
                         f"{len(predicted_sentences)} predicted")
    for s, (gold_tags, predicted_tags) in enumerate(zip(gold_sentences, predicted_sentences)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sentence {s}: {len(gold_tags)} gold tags but "
                             f"{len(predicted_tags)} predicted")
    gold, predicted = collections.defaultdict(set), collections.defaultdict(set)
    for spans, sentences in ((gold, gold_sentences), (predicted, predicted_sentences)):
        joined = [tag for sentence in sentences for tag in list(sentence) + ["O"]]
        for type_, first, last in entity_spans(joined):
            spans[type_].add((first, last))
    return {t: (len(gold[t] & predicted[t]), len(predicted[t]), len(gold[t]))
            for t in sorted(set(gold) | set(predicted))}


def sequence_labeling_metrics(gold_sentences, predicted_sentences):
    """Entity precision / recall / F1 (micro over all entities, and per type),
    and word-level tag accuracy.

    Args:
        gold_sentences, predicted_sentences: lists of tag-string lists, one
            list per sentence, of equal lengths.

    Returns:
        Dict with `entity_precision`, `entity_recall`, `entity_f1` (micro),
        `accuracy`, and per type `entity_precision/TYPE`, `entity_recall/TYPE`,
        `entity_f1/TYPE`, `support/TYPE` (gold entities). Values with no
        denominator are 0, as seqeval's default `zero_division` gives.
    """
    counts = entity_counts(gold_sentences, predicted_sentences)
    table = np.array(list(counts.values()), float).reshape(-1, 3)
    correct, predicted, gold = table[:, 0], table[:, 1], table[:, 2]
    micro = _prf(np.array([correct.sum()]), np.array([(predicted - correct).sum()]),
                 np.array([(gold - correct).sum()]))
    per_type = _prf(correct, predicted - correct, gold - correct)
    metrics = {"entity_precision": float(micro[0][0]), "entity_recall": float(micro[1][0]),
               "entity_f1": float(micro[2][0]),
               "accuracy": tag_accuracy(gold_sentences, predicted_sentences)}
    for i, type_ in enumerate(counts):
        metrics[f"entity_precision/{type_}"] = float(per_type[0][i])
        metrics[f"entity_recall/{type_}"] = float(per_type[1][i])
        metrics[f"entity_f1/{type_}"] = float(per_type[2][i])
        metrics[f"support/{type_}"] = int(counts[type_][2])
    return metrics


def tag_accuracy(gold_sentences, predicted_sentences):
    """Share of words whose predicted tag equals the gold tag."""
    pairs = [(g, p) for gs, ps in zip(gold_sentences, predicted_sentences) for g, p in zip(gs, ps)]
    return sum(g == p for g, p in pairs) / max(len(pairs), 1)
