"""BERT's masking rule, in-graph, drawn afresh every epoch (dynamic masking).

The rule of google-research/bert's `create_masked_lm_predictions`: of the
tokens of a sequence ([CLS], [SEP] and padding excluded), words are taken in
random order until `round(length * masked_lm_prob)` tokens (at most
`max_predictions`, at least 1) are chosen; a word that would overflow the
count is skipped. Without whole-word masking every WordPiece is a word of its
own; with it, a word is a piece and the `##` pieces that follow it, and the
tokens marked as continuing the word before them (`word_continues`: Chinese
words found by a segmenter when the data was prepared,
`kerasbert.pretraining.chinese_words`). Each chosen
token becomes [MASK] 80% of the time, a random token 10% and stays as it is
10%. The draws are stateless, from `(seed, epoch, batch index)`, so an epoch
is reproducible (a resumed run masks as the interrupted one) and every epoch
masks differently.
"""

import numpy as np
import tensorflow as tf


class BertMasker:
    """Masks batches of sequences (for `tf.data.Dataset.map`), with static shapes.

    Args:
        vocabulary: the tokenizer's tokens in id order.
        masked_lm_prob: share of tokens to predict.
        max_predictions: the most predictions per sequence (the output length).
        whole_word: mask all pieces of a word together.
        mask_prob, random_prob: shares of chosen tokens replaced by [MASK] and
            by a random token (the rest keep their token).
    """

    def __init__(self, vocabulary, masked_lm_prob=0.15, max_predictions=20, whole_word=False,
                 mask_prob=0.8, random_prob=0.1):
        vocabulary = list(vocabulary)
        if "[MASK]" not in vocabulary:
            raise ValueError("the vocabulary has no [MASK] token: masked-LM pretraining needs one")
        if not 0 < masked_lm_prob < 1:
            raise ValueError(f"masked_lm_prob must be in (0, 1), got {masked_lm_prob}")
        if max_predictions < 1:
            raise ValueError(f"max_predictions must be >= 1, got {max_predictions}")
        if mask_prob < 0 or random_prob < 0 or mask_prob + random_prob > 1:
            raise ValueError("mask_prob and random_prob must be >= 0 and sum to at most 1")
        self.vocab_size = len(vocabulary)
        self.mask_token_id = vocabulary.index("[MASK]")
        self.masked_lm_prob, self.max_predictions = float(masked_lm_prob), int(max_predictions)
        self.whole_word = bool(whole_word)
        self.mask_prob, self.random_prob = float(mask_prob), float(random_prob)
        self._not_maskable = tf.constant(
            np.isin(vocabulary, ["[CLS]", "[SEP]", "[PAD]"]), tf.bool)
        self._continuation = tf.constant([t.startswith("##") for t in vocabulary], tf.bool)

    @classmethod
    def from_tokenizer(cls, tokenizer, **kwargs):
        return cls(tokenizer.get_vocabulary(), **kwargs)

    def __call__(self, token_ids, padding_mask, seed, word_continues=None):
        """Mask a batch of sequences.

        Args:
            token_ids, padding_mask: int32 `[batch, seq]` (padding_mask 1 on real tokens).
            seed: int64 `[2]`, the stateless seed of this batch (see `batch_seed`).
            word_continues: optional int32 `[batch, seq]`, 1 on tokens that
                continue the word before them (used with `whole_word`).
        Returns:
            A dict: `token_ids` int32 `[batch, seq]` (with the replacements),
            `masked_positions` int32 `[batch, max_predictions]` (ascending, then 0s),
            `masked_ids` int32 `[batch, max_predictions]` (the original tokens, then 0s),
            `masked_weights` float32 `[batch, max_predictions]` (1 on real predictions).
        """
        length = token_ids.shape[-1]
        if length is None or length < self.max_predictions:
            raise ValueError(f"masking needs a static sequence length >= max_predictions "
                             f"({self.max_predictions}), got {length}")
        chosen = self.choose(token_ids, padding_mask, seed, word_continues)
        order = tf.argsort(tf.where(chosen, 0, length) + tf.range(length), axis=-1, stable=True)
        positions = order[:, :self.max_predictions]
        weights = tf.cast(tf.gather(chosen, positions, batch_dims=1), tf.int32)
        positions = positions * weights
        replaced = tf.where(chosen, self._replacements(token_ids, seed), token_ids)
        return {"token_ids": replaced, "masked_positions": positions,
                "masked_ids": tf.gather(token_ids, positions, batch_dims=1) * weights,
                "masked_weights": tf.cast(weights, tf.float32)}

    def choose(self, token_ids, padding_mask, seed, word_continues=None):
        """bool `[batch, seq]`: the tokens to predict, by the rule of the module doc."""
        shape = tf.shape(token_ids)
        batch, length = shape[0], shape[1]
        candidate = (padding_mask > 0) & ~tf.gather(self._not_maskable, token_ids)
        starts = candidate
        if self.whole_word:
            after_candidate = tf.pad(candidate[:, :-1], [[0, 0], [1, 0]])
            continuation = tf.gather(self._continuation, token_ids)
            if word_continues is not None:
                continuation |= tf.cast(word_continues, tf.bool)
            starts = candidate & ~(continuation & after_candidate)
        # Words are numbered 0.. in order in each row; tokens that are not
        # candidates go to an extra word `length`, never chosen.
        word = tf.where(candidate, tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1, length)
        row_offset = tf.range(batch)[:, None] * (length + 1)
        sizes = tf.reshape(tf.math.unsorted_segment_sum(
            tf.ones_like(word), word + row_offset, batch * (length + 1)),
            [batch, length + 1])[:, :length]
        num_words = tf.reduce_sum(tf.cast(starts, tf.int32), axis=1, keepdims=True)
        wanted = self._num_to_predict(tf.reduce_sum(tf.cast(padding_mask > 0, tf.int32), axis=1))
        keys = tf.random.stateless_uniform(shape, _fold(seed, 0))
        order = tf.argsort(tf.where(tf.range(length) < num_words, keys, 2.0), axis=1)

        def take(total, size):  # greedy; a word that would overflow is skipped
            return tf.where(total + size <= wanted, total + size, total)

        ordered_sizes = tf.transpose(tf.gather(sizes, order, batch_dims=1))  # [seq, batch]
        totals = tf.scan(take, ordered_sizes, initializer=tf.zeros([batch], tf.int32))
        taken = tf.transpose(totals > tf.pad(totals[:-1], [[1, 0], [0, 0]]))  # [batch, seq]
        word_taken = tf.gather(taken, tf.argsort(order, axis=1), batch_dims=1)
        return candidate & tf.gather(word_taken, tf.minimum(word, length - 1), batch_dims=1)

    def _num_to_predict(self, num_tokens):
        # Python's round() rounds halves to even, as tf.round does.
        wanted = tf.cast(tf.round(tf.cast(num_tokens, tf.float32) * self.masked_lm_prob), tf.int32)
        return tf.minimum(self.max_predictions, tf.maximum(1, wanted))

    def _replacements(self, token_ids, seed):
        """[MASK] / the token itself / a random vocabulary token, per position."""
        shape = tf.shape(token_ids)
        draw = tf.random.stateless_uniform(shape, _fold(seed, 1))
        random_ids = tf.random.stateless_uniform(shape, _fold(seed, 2), minval=0,
                                                 maxval=self.vocab_size, dtype=tf.int32)
        keep = draw >= self.mask_prob + self.random_prob
        replaced = tf.where(draw < self.mask_prob, self.mask_token_id, random_ids)
        return tf.where(keep, token_ids, replaced)

    def config(self):
        return {"masked_lm_prob": self.masked_lm_prob, "max_predictions": self.max_predictions,
                "whole_word": self.whole_word, "mask_prob": self.mask_prob,
                "random_prob": self.random_prob}


def batch_seed(seed, epoch, batch_index, pipeline=0):
    """The int64 `[2]` stateless seed of batch `batch_index` of input pipeline
    `pipeline` in `epoch` of a run seeded `seed`."""
    return tf.stack([tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64),
                     tf.cast(pipeline, tf.int64) * (1 << 40) + tf.cast(batch_index, tf.int64)])


def _fold(seed, salt):
    return tf.random.experimental.stateless_fold_in(seed, salt)
