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

from kerasbert.metrics.classification import _prf


def _split(tag):
    """(prefix letter, type) of a tag as seqeval reads it: the first character,
    and what follows the first '-' ('_' when nothing does)."""
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends(prev_tag, tag, prev_type, type_):
    """Whether a chunk ended between the previous word and this one."""
    return (prev_tag in ("E", "S")
            or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
            or (prev_tag not in ("O", ".") and prev_type != type_))


def _starts(prev_tag, tag, prev_type, type_):
    """Whether a chunk starts at this word."""
    return (tag in ("B", "S")
            or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_))


def entity_spans(tags):
    """The entities of one sentence's tags.

    Args:
        tags: a sequence of tag strings, one per word.

    Returns:
        A list of `(type, first_word, last_word)` tuples (last inclusive), in order.
    """
    spans, prev_tag, prev_type, begin = [], "O", "", 0
    for i, chunk in enumerate(list(tags) + ["O"]):
        tag, type_ = _split(chunk)
        if _ends(prev_tag, tag, prev_type, type_):
            spans.append((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return spans


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
