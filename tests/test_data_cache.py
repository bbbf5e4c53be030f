"""The tokenized-feature cache: written once, reused, keyed by its inputs, and
not corrupted by two processes building the same key at once."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

from kerasbert.data.feature_cache import FeatureCache
from kerasbert.data.feature_cache import cache_key


def _examples(n):
    """Variable-length int32 sequences and a scalar label per example."""
    lengths = tf.range(n) % 37 + 1
    return tf.data.Dataset.from_tensor_slices(lengths).map(
        lambda k: {"token_ids": tf.range(k, dtype=tf.int32) + k, "labels": k % 3})


def _as_lists(dataset):
    return [(list(e["token_ids"]), int(e["labels"])) for e in dataset.as_numpy_iterator()]


def test_cache_is_written_once_and_reused(tmp_path):
    cache = FeatureCache(tmp_path, examples_per_shard=400)
    key = cache_key(source="abc", sequence_length=128)
    calls = []

    def build():
        calls.append(1)
        return _examples(1000)

    first = _as_lists(cache.load_or_build(key, build))
    files = sorted(os.listdir(tmp_path / key))
    mtimes = {f: os.path.getmtime(tmp_path / key / f) for f in files}
    second = _as_lists(FeatureCache(tmp_path).load_or_build(key, build))
    assert len(calls) == 1
    assert first == second == _as_lists(_examples(1000))
    # Three shards of 400 plus the manifest, untouched by the second call.
    assert len(files) == 4 and files[-1] == "manifest.json"
    assert {f: os.path.getmtime(tmp_path / key / f) for f in files} == mtimes


def test_cache_key_changes_with_every_part():
    base = dict(source="abc", tokenizer="t1", sequence_length=128, task={"labels": ["0", "1"]})
    keys = {cache_key(**base)}
    for part, value in [("source", "abd"), ("tokenizer", "t2"), ("sequence_length", 64),
                        ("task", {"labels": ["1", "0"]})]:
        keys.add(cache_key(**{**base, part: value}))
    assert len(keys) == 5
    assert cache_key(**base) == cache_key(**dict(reversed(list(base.items()))))


_BUILDER = textwrap.dedent("""
    import os, sys, time
    import tensorflow as tf
    from kerasbert.data.feature_cache import FeatureCache
    cache_dir, key, start_flag = sys.argv[1:]
    while not os.path.exists(start_flag):
        time.sleep(0.01)
    lengths = tf.range(20000) % 37 + 1
    dataset = tf.data.Dataset.from_tensor_slices(lengths).map(
        lambda k: {"token_ids": tf.range(k, dtype=tf.int32) + k, "labels": k % 3})
    loaded = FeatureCache(cache_dir, examples_per_shard=5000).load_or_build(key, lambda: dataset)
    print(sum(int(e["token_ids"].sum()) for e in loaded.as_numpy_iterator()))
""")


def test_concurrent_builders_leave_one_complete_cache(tmp_path):
    start_flag = tmp_path / "go"
    cache_dir = tmp_path / "cache"
    key = cache_key(source="concurrent")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    builders = [subprocess.Popen([sys.executable, "-c", _BUILDER, str(cache_dir), key,
                                  str(start_flag)], stdout=subprocess.PIPE, text=True, env=env)
                for _ in range(2)]
    start_flag.touch()
    outputs = [b.communicate(timeout=120)[0].strip() for b in builders]
    assert [b.returncode for b in builders] == [0, 0]
    expected = _as_lists(_examples(20000))
    total = sum(int(np.sum(ids)) for ids, _ in expected)
    assert outputs == [str(total), str(total)]
    assert _as_lists(FeatureCache(cache_dir).load(key)) == expected
    names = os.listdir(cache_dir / key)
    assert "manifest.json" in names and not [n for n in names if ".tmp-" in n]
