"""Pretraining examples as google-research/bert's `create_pretraining_data.py`
makes them, written once as TFRecord shards and read back with static shapes.

Instances: sentences of a document are packed until a target length (the
maximum, or with `short_seq_prob` a random shorter one); with next-sentence
prediction the pack is cut at a random sentence into segment A and B, and B is,
half of the time, replaced by sentences from a random other document (the
unused sentences are put back). `dupe_factor` repeats this with fresh draws.
One change to the reference: a pack of a single sentence is not always given a
random B (which tilts the labels towards "random", to 69% on SQuAD text at 64
tokens); when the coin says "actual next", the sentence is cut at a random
token and its second part is B, so the labels stay 50/50.
Corpora are prepared a shard at a time (`sharded_data`): these functions
make and write the instances of one shard.
The records hold the unmasked tokens (`input_ids`, `input_mask`,
`segment_ids`, `next_sentence_labels`, the reference's names); masking is
done when they are read, afresh each epoch (`kerasbert.tasks.masking`).
"""

import dataclasses
import random
from typing import List, Optional

import tensorflow as tf

from kerasbert.pretraining.sharded_data import (DEFAULT_SHARD_SIZE_MB, SETTINGS_FILE,  # noqa: F401
                                                PreparedData, prepare_sharded)


@dataclasses.dataclass
class Instance:
    """One pretraining sequence before masking.

    `tokens_a`/`tokens_b`: WordPiece ids of the two segments (`tokens_b` empty
    without next-sentence prediction); `document`: the index of A's document;
    `random_document`: the document B came from when `is_random_next`.
    """

    tokens_a: List[int]
    tokens_b: List[int]
    is_random_next: bool
    document: int
    random_document: Optional[int] = None


def tokenize_documents(documents, tokenizer, batch_size=2048, chinese_words=False):
    """Documents of sentences -> documents of WordPiece id lists (sentences
    that tokenize to nothing and documents left empty are dropped).

    `chinese_words`: mark the tokens that continue a jieba word of a Chinese
    sentence (`kerasbert.pretraining.chinese_words`), for whole-word masking.
    """
    from kerasbert.pretraining.chinese_words import mark_words

    sentences = [s for d in documents for s in d]
    ids = []
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start:start + batch_size]
        if chinese_words:  # the same ids, with each token's first character
            batch_ids, starts, _ = (x.to_list() for x in tokenizer.tokenize_with_offsets(batch))
            ids += [mark_words(*row) for row in zip(batch, batch_ids, starts)]
        else:
            ids += tokenizer.tokenize(batch).to_list()
    out, cursor = [], 0
    for document in documents:
        pieces = [p for p in ids[cursor:cursor + len(document)] if p]
        cursor += len(document)
        if pieces:
            out.append(pieces)
    return out


def create_instances(documents, max_seq_length, next_sentence=True, short_seq_prob=0.1,
                     dupe_factor=1, seed=12345):
    """`Instance`s from tokenized documents (lists of sentences of ids), shuffled."""
    if next_sentence and len(documents) < 2:
        raise ValueError("next-sentence prediction needs at least 2 documents (separated by a "
                         f"blank line); the corpus has {len(documents)}")
    rng = random.Random(seed)
    instances = []
    for _ in range(dupe_factor):
        for index in range(len(documents)):
            instances += _document_instances(documents, index, max_seq_length, next_sentence,
                                             short_seq_prob, rng)
    rng.shuffle(instances)
    return instances


def _document_instances(documents, index, max_seq_length, next_sentence, short_seq_prob, rng):
    """The reference's `create_instances_from_document`."""
    document = documents[index]
    max_tokens = max_seq_length - (3 if next_sentence else 2)
    target = rng.randint(2, max_tokens) if rng.random() < short_seq_prob else max_tokens
    instances, chunk, length, i = [], [], 0, 0
    while i < len(document):
        chunk.append(document[i])
        length += len(document[i])
        if i == len(document) - 1 or length >= target:
            if not next_sentence:
                tokens_a = [t for s in chunk for t in s]
                instances.append(Instance(_truncate_single(tokens_a, max_tokens, rng), [],
                                          False, index))
            else:
                a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
                tokens_a = [t for s in chunk[:a_end] for t in s]
                random_document = None
                is_random = rng.random() < 0.5
                if not is_random and len(chunk) == 1:
                    if len(tokens_a) < 2:
                        is_random = True
                    else:  # the actual next segment is the rest of the one sentence
                        cut = rng.randint(1, len(tokens_a) - 1)
                        tokens_a, tokens_b = tokens_a[:cut], tokens_a[cut:]
                elif not is_random:
                    tokens_b = [t for s in chunk[a_end:] for t in s]
                if is_random:
                    random_document = _other_document(len(documents), index, rng)
                    tokens_b = _random_segment(documents[random_document],
                                               target - len(tokens_a), rng)
                    i -= len(chunk) - a_end  # put the unused sentences back
                _truncate_pair(tokens_a, tokens_b, max_tokens, rng)
                instances.append(Instance(tokens_a, tokens_b, random_document is not None,
                                          index, random_document))
            chunk, length = [], 0
            target = rng.randint(2, max_tokens) if rng.random() < short_seq_prob else max_tokens
        i += 1
    return instances


def _other_document(num_documents, index, rng):
    other = rng.randrange(num_documents - 1)
    return other + 1 if other >= index else other


def _random_segment(document, target_length, rng):
    start = rng.randint(0, len(document) - 1)
    tokens = []
    for sentence in document[start:]:
        tokens += sentence
        if len(tokens) >= target_length:
            break
    return tokens


def _truncate_pair(tokens_a, tokens_b, max_tokens, rng):
    """Trim the longer segment, from its front or its back at random, in place."""
    while len(tokens_a) + len(tokens_b) > max_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        del longer[0 if rng.random() < 0.5 else -1]


def _truncate_single(tokens, max_tokens, rng):
    while len(tokens) > max_tokens:
        del tokens[0 if rng.random() < 0.5 else -1]
    return tokens


# -- TFRecords -------------------------------------------------------------------------------


def instance_features(instance, max_seq_length, cls_id, sep_id, pad_id=0):
    """(input_ids, input_mask, segment_ids) int lists of length `max_seq_length`."""
    tokens = [cls_id] + [int(t) for t in instance.tokens_a] + [sep_id]
    segments = [0] * len(tokens)
    if instance.tokens_b:
        tokens += [int(t) for t in instance.tokens_b] + [sep_id]
        segments += [1] * (len(instance.tokens_b) + 1)
    if len(tokens) > max_seq_length:
        raise ValueError(f"an instance has {len(tokens)} tokens, above {max_seq_length}")
    padding = max_seq_length - len(tokens)
    return tokens + [pad_id] * padding, [1] * len(tokens) + [0] * padding, segments + [0] * padding


def word_continues(instance, max_seq_length):
    """int list `[max_seq_length]`: 1 where the token continues the word of the
    token before it (a `chinese_words.Continues` id), in the positions of
    `instance_features`."""
    from kerasbert.pretraining.chinese_words import continues_flags

    flags = [0] + continues_flags(instance.tokens_a) + [0]
    if instance.tokens_b:
        flags += continues_flags(instance.tokens_b) + [0]
    return flags + [0] * (max_seq_length - len(flags))


def serialize_instance(instance, max_seq_length, tokenizer, chinese_words=False):
    """One instance as a serialized tf.train.Example: `input_ids`, `input_mask`,
    `segment_ids` (int64 `[max_seq_length]`) and `next_sentence_labels` (`[1]`);
    with `chinese_words` also `word_continues` (`[max_seq_length]`, see
    `word_continues`) when a token continues a word."""
    ids, mask, segments = instance_features(instance, max_seq_length, tokenizer.cls_token_id,
                                            tokenizer.sep_token_id, tokenizer.pad_token_id)
    feature = {"input_ids": _ints(ids), "input_mask": _ints(mask),
               "segment_ids": _ints(segments),
               "next_sentence_labels": _ints([int(instance.is_random_next)])}
    if chinese_words:  # only where some token continues a word: 0s are read by default
        flags = word_continues(instance, max_seq_length)
        if any(flags):
            feature["word_continues"] = _ints(flags)
    # deterministic: the features map in key order, the same bytes in every process
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def parse_batch(serialized, max_seq_length, word_continues=False):
    """Serialized records `[batch]` -> dict of int32 `[batch, max_seq_length]`
    `token_ids`, `segment_ids`, `padding_mask` and `[batch]` `next_sentence_labels`;
    with `word_continues` also `word_continues` (0s for records without it)."""
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64)
            for name in ("input_ids", "input_mask", "segment_ids")}
    spec["next_sentence_labels"] = tf.io.FixedLenFeature([1], tf.int64)
    if word_continues:
        spec["word_continues"] = tf.io.FixedLenFeature([max_seq_length], tf.int64,
                                                       default_value=[0] * max_seq_length)
    parsed = {k: tf.cast(v, tf.int32) for k, v in tf.io.parse_example(serialized, spec).items()}
    out = {"token_ids": parsed["input_ids"], "segment_ids": parsed["segment_ids"],
           "padding_mask": parsed["input_mask"],
           "next_sentence_labels": parsed["next_sentence_labels"][:, 0]}
    if word_continues:
        out["word_continues"] = parsed["word_continues"]
    return out


def pretraining_dataset(files, max_seq_length, batch_size, masker, *, next_sentence=True,
                        epoch=0, seed=0, shuffle=True, shuffle_buffer=10000, input_context=None,
                        drop_remainder=True, max_examples=0):
    """Batches `(features, labels)` of fully static shape for the Trainer.

    features: `token_ids` (masked), `segment_ids`, `padding_mask` int32
    `[batch, seq]`, `masked_positions` int32 `[batch, max_predictions]`;
    labels: `masked_ids` int32 and `masked_weights` float32 `[batch,
    max_predictions]`, and with `next_sentence` `next_sentence_labels` int32
    `[batch]` (1: B is a random segment). Records are shuffled with
    `seed + epoch` and masked afresh per epoch; each input pipeline of
    `input_context` reads its own share of the records. `drop_remainder=False`
    keeps a last, smaller batch (evaluation); `max_examples` reads only the first ones.
    """
    dataset = tf.data.TFRecordDataset(sorted(files))
    if max_examples:
        dataset = dataset.take(max_examples)
    pipeline = 0
    if input_context is not None and input_context.num_input_pipelines > 1:
        pipeline = input_context.input_pipeline_id
        dataset = dataset.shard(input_context.num_input_pipelines, pipeline)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed + epoch, reshuffle_each_iteration=False)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).enumerate()

    def prepare(index, serialized):
        from kerasbert.tasks.masking import batch_seed

        record = parse_batch(serialized, max_seq_length, word_continues=masker.whole_word)
        masked = masker(record["token_ids"], record["padding_mask"],
                        batch_seed(seed, epoch, index, pipeline),
                        word_continues=record.get("word_continues"))
        features = {"token_ids": masked["token_ids"], "segment_ids": record["segment_ids"],
                    "padding_mask": record["padding_mask"],
                    "masked_positions": masked["masked_positions"]}
        labels = {"masked_ids": masked["masked_ids"], "masked_weights": masked["masked_weights"]}
        if next_sentence:
            labels["next_sentence_labels"] = record["next_sentence_labels"]
        return features, labels

    return dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


# -- written once ----------------------------------------------------------------------------


# The TFRecord shards of a run and how many instances each split holds
# (train_files, eval_files, num_train, num_eval).
PretrainingData = PreparedData


def prepare_pretraining_data(directory, train_data, tokenizer, max_seq_length, eval_data=None,
                             eval_fraction=0.05, next_sentence=True, short_seq_prob=0.1,
                             dupe_factor=1, seed=12345, shard_size_mb=DEFAULT_SHARD_SIZE_MB,
                             num_workers=1, encoding="utf-8", overwrite=False, log=print,
                             chinese_words=False):
    """Write the train and held-out TFRecords into `directory` a shard at a time
    (`kerasbert.pretraining.sharded_data`), or reuse those already there when
    they were prepared with the same settings, or finish an interrupted
    preparation. Other settings there are a ValueError unless `overwrite`.
    `chinese_words`: mark the jieba words of Chinese sentences, for
    whole-word masking (`kerasbert.pretraining.chinese_words`).

    `train_data`/`eval_data`: a corpus file, a glob or a directory of them.
    Held-out text is `eval_data`, or else the last `eval_fraction` of the
    documents of each input shard of `train_data`, which are then not trained
    on (for a corpus of one shard: its last documents, as always).
    """
    return prepare_sharded(directory, train_data, tokenizer, max_seq_length, eval_data,
                           eval_fraction, next_sentence, short_seq_prob, dupe_factor, seed,
                           shard_size_mb, num_workers, encoding, overwrite, log, chinese_words)
