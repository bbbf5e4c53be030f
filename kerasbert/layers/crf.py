"""A linear-chain conditional random field over a tagger's logits.

The standard formulation (Lafferty et al. 2001; for neural taggers Lample et
al. 2016, "Neural Architectures for Named Entity Recognition"; the old
`tfa.text.crf_log_likelihood` / `crf_decode`): a tag sequence `y_1..y_n` of
emission scores `e` (the tagger's logits) scores

    start[y_1] + e_1[y_1] + sum_k (transitions[y_{k-1}, y_k] + e_k[y_k]) + end[y_n]

and has probability `exp(score) / Z`, `Z` summed over every tag sequence by
the forward algorithm (in log space). Decoding takes the highest-scoring
sequence (Viterbi).

The chain runs over the positions where `mask` is true, in order: positions
without a tag (a word's later sub-tokens, [CLS], [SEP], padding) are skipped,
so consecutive words are linked even when sub-tokens lie between them. A row
without any masked position has score 0 and log Z 0.

Everything is TensorFlow ops (`tf.scan` over the sequence), so decoding stays
in a SavedModel's graph.
"""

import keras
import tensorflow as tf


def _time_major(*tensors):
    return [tf.transpose(t, [1, 0] + list(range(2, t.shape.rank))) for t in tensors]


def crf_log_likelihood(emissions, tags, mask, transitions, start, end):
    """Log-likelihood of `tags` under the CRF, per row.

    Args:
        emissions: float `[batch, seq, num_tags]` (the tagger's logits).
        tags: int `[batch, seq]` tag ids (read where `mask`).
        mask: bool `[batch, seq]`: the positions of the chain.
        transitions: float32 `[num_tags, num_tags]`, from tag i to tag j.
        start, end: float32 `[num_tags]`: the first and last tag's scores.

    Returns:
        float32 `[batch]`: score(tags) - log Z (0 for rows without positions).
    """
    emissions = tf.cast(emissions, tf.float32)
    mask = tf.cast(mask, tf.bool)
    tags = tf.where(mask, tf.cast(tags, tf.int32), 0)
    batch = tf.shape(emissions)[0]
    num_tags = tf.shape(emissions)[2]
    e_t, y_t, m_t = _time_major(emissions, tags, mask)

    def step(carry, inputs):
        alpha, score, previous, started = carry
        e, y, m = inputs
        # log Z: sum over the previous tag of alpha + transition, or the start score.
        chained = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None], axis=1)
        new_alpha = tf.where(started[:, None], chained, start[None]) + e
        emitted = tf.gather(e, y, batch_dims=1)
        linked = tf.where(started, tf.gather_nd(transitions, tf.stack([previous, y], 1)),
                          tf.gather(start, y))
        m_column = m[:, None]
        return (tf.where(m_column, new_alpha, alpha),
                score + tf.where(m, linked + emitted, 0.0),
                tf.where(m, y, previous), started | m)

    initial = (tf.zeros([batch, num_tags]), tf.zeros([batch]), tf.zeros([batch], tf.int32),
               tf.zeros([batch], tf.bool))
    alpha, score, last, started = tf.scan(step, (e_t, y_t, m_t), initializer=initial)
    alpha, score, last, started = alpha[-1], score[-1], last[-1], started[-1]
    log_z = tf.reduce_logsumexp(alpha + end[None], axis=1)
    score = score + tf.gather(end, last)
    return tf.where(started, score - log_z, 0.0)


def crf_decode(emissions, mask, transitions, start, end):
    """The highest-scoring tag sequence (Viterbi), per row.

    Args: as `crf_log_likelihood`'s, without `tags`.

    Returns:
        int32 `[batch, seq]`: the best sequence's tags at the masked
        positions, 0 elsewhere.
    """
    emissions = tf.cast(emissions, tf.float32)
    mask = tf.cast(mask, tf.bool)
    batch = tf.shape(emissions)[0]
    num_tags = tf.shape(emissions)[2]
    e_t, m_t = _time_major(emissions, mask)
    identity = tf.broadcast_to(tf.range(num_tags)[None], [batch, num_tags])

    def forward(carry, inputs):
        delta, started, _ = carry
        e, m = inputs
        candidates = delta[:, :, None] + transitions[None]  # [batch, previous, current]
        chained = tf.reduce_max(candidates, axis=1)
        best_previous = tf.argmax(candidates, axis=1, output_type=tf.int32)
        new_delta = tf.where(started[:, None], chained, start[None]) + e
        pointers = tf.where((m & started)[:, None], best_previous, identity)
        return tf.where(m[:, None], new_delta, delta), started | m, pointers

    initial = (tf.zeros([batch, num_tags]), tf.zeros([batch], tf.bool), identity)
    delta, _, pointers = tf.scan(forward, (e_t, m_t), initializer=initial)
    last = tf.argmax(delta[-1] + end[None], axis=1, output_type=tf.int32)

    def backward(current, step_pointers):
        # The tag here is `current`; the previous masked position's is its pointer.
        return tf.gather(step_pointers, current, batch_dims=1)

    # Reversed: position i's tag is the carry before reading position i's pointers.
    previous = tf.scan(backward, pointers, initializer=last, reverse=True)
    path = tf.concat([previous[1:], last[None]], axis=0)
    return tf.where(mask, tf.transpose(path), 0)


@keras.saving.register_keras_serializable(package="kerasbert")
class CRF(keras.layers.Layer):
    """The transition scores of a linear-chain CRF over `num_tags` tags.

    Call: passes the tagger's logits `[batch, seq, num_tags]` through
    unchanged (the layer sits at the end of the model, so its weights are the
    model's: trained, saved and exported with it). `log_likelihood` and
    `decode` read the chain (`crf_log_likelihood`, `crf_decode`).

    Weights (float32), zero at first: `transitions` `[num_tags, num_tags]`
    (from, to), `start_transitions` and `end_transitions` `[num_tags]`. The
    scores are the weights times `learning_rate_multiplier`: under Adam a
    weight moves about the learning rate per update whatever its gradient's
    scale, so the multiplier makes the scores learn that many times faster
    than the encoder, as BERT-CRF taggers give the CRF a learning rate of its
    own (the fine-tuning rate alone moves them by ~0.1 in a few hundred
    updates, against emission scores of several units). `scores()` gives them.
    """

    def __init__(self, num_tags, learning_rate_multiplier=1.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_tags = int(num_tags)
        self.learning_rate_multiplier = float(learning_rate_multiplier)
        self.transitions = self.add_weight(shape=(self.num_tags, self.num_tags),
                                           initializer="zeros", name="transitions")
        self.start_transitions = self.add_weight(shape=(self.num_tags,), initializer="zeros",
                                                 name="start_transitions")
        self.end_transitions = self.add_weight(shape=(self.num_tags,), initializer="zeros",
                                               name="end_transitions")
        self.built = True

    def call(self, logits):
        return logits

    def compute_output_shape(self, input_shape):
        return input_shape

    def scores(self):
        """(transitions, start, end) float32 tensors: the weights times
        `learning_rate_multiplier`."""
        return tuple(self.learning_rate_multiplier * tf.convert_to_tensor(v)
                     for v in (self.transitions, self.start_transitions, self.end_transitions))

    def log_likelihood(self, logits, tags, mask):
        """float32 `[batch]` log p(tags) over the masked positions."""
        return crf_log_likelihood(logits, tags, mask, *self.scores())

    def decode(self, logits, mask):
        """int32 `[batch, seq]` Viterbi tags at the masked positions (0 elsewhere)."""
        return crf_decode(logits, mask, *self.scores())

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags,
                "learning_rate_multiplier": self.learning_rate_multiplier}
