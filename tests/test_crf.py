"""The CRF layer against brute force: every tag sequence enumerated in numpy."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from kerasbert.layers.crf import CRF, crf_decode, crf_log_likelihood


def _scores(emissions, mask, transitions, start, end):
    """{tag sequence over the masked positions: its score} of one row."""
    positions = np.flatnonzero(mask)
    scores = {}
    for path in itertools.product(range(emissions.shape[1]), repeat=len(positions)):
        if not path:
            scores[path] = 0.0
            continue
        score = start[path[0]] + end[path[-1]]
        score += sum(emissions[p, t] for p, t in zip(positions, path))
        score += sum(transitions[a, b] for a, b in zip(path, path[1:]))
        scores[path] = score
    return positions, scores


def _random_case(seed, batch=5, length=6, num_tags=3):
    rng = np.random.default_rng(seed)
    emissions = rng.normal(size=(batch, length, num_tags)).astype(np.float32)
    mask = rng.random((batch, length)) < 0.6
    mask[0] = False            # a row without positions
    mask[1] = True             # a full row
    mask[2] = [False, True, False, False, True, False]  # gaps, as sub-tokens make
    tags = rng.integers(0, num_tags, size=(batch, length)).astype(np.int32)
    chain = [rng.normal(size=s).astype(np.float32)
             for s in ((num_tags, num_tags), (num_tags,), (num_tags,))]
    return emissions, mask, tags, chain


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_likelihood_and_viterbi_match_brute_force(seed):
    emissions, mask, tags, chain = _random_case(seed)
    log_likelihood = crf_log_likelihood(emissions, tags, mask, *chain).numpy()
    decoded = crf_decode(emissions, mask, *chain).numpy()
    for row in range(len(emissions)):
        positions, scores = _scores(emissions[row], mask[row], *chain)
        values = np.array(list(scores.values()), np.float64)
        log_z = np.log(np.sum(np.exp(values - values.max()))) + values.max()
        gold = tuple(int(t) for t in tags[row, positions])
        np.testing.assert_allclose(log_likelihood[row], scores[gold] - log_z,
                                   rtol=1e-5, atol=1e-5)
        best = max(scores, key=scores.get)
        assert tuple(decoded[row, positions]) == best
        assert not decoded[row, ~mask[row]].any()  # 0 off the chain


def test_layer_passes_logits_through_and_its_gradient_reaches_the_transitions():
    emissions, mask, tags, _ = _random_case(3)
    layer = CRF(3)
    np.testing.assert_array_equal(layer(emissions).numpy(), emissions)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(layer.log_likelihood(emissions, tags, mask))
    grads = tape.gradient(loss, layer.trainable_variables)
    assert [v.name for v in layer.trainable_variables] == [
        "transitions", "start_transitions", "end_transitions"]
    assert all(np.abs(g.numpy()).sum() > 0 for g in grads)
    # Zero transitions: Viterbi is the argmax of each position's emissions.
    np.testing.assert_array_equal(layer.decode(emissions, mask).numpy(),
                                  np.where(mask, emissions.argmax(-1), 0))


def test_scores_are_the_weights_times_the_multiplier():
    emissions, mask, tags, chain = _random_case(4)
    layer = CRF(3, learning_rate_multiplier=10.0)
    for variable, value in zip(layer.weights, chain):
        variable.assign(value / 10.0)
    for got, expected in zip(layer.scores(), chain):
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(layer.log_likelihood(emissions, tags, mask).numpy(),
                               crf_log_likelihood(emissions, tags, mask, *chain).numpy(),
                               rtol=1e-5, atol=1e-5)
    assert CRF.from_config(layer.get_config()).learning_rate_multiplier == 10.0
