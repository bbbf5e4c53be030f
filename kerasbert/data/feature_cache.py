"""A cache of tokenized features as TFRecord shards, keyed by everything that
determines them (source content, tokenizer vocabulary and settings, sequence
length, task settings).

A builder writes its shards under names of its own and publishes them by
renaming one manifest file into place, the last step: a reader only ever sees
a complete cache, and two processes building the same key at once each write
a complete set; the manifest that lands names one of them.
"""

import hashlib
import json
import os
import uuid

import tensorflow as tf

MANIFEST = "manifest.json"


def cache_key(**parts):
    """sha256 over the JSON of `parts` (values must be JSON-serialisable)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class FeatureCache:
    """Tokenized features under `cache_dir/<key>/`.

    Each record holds one example: a dict of tensors (any dtype, any rank,
    variable length allowed), serialised with `tf.io.serialize_tensor`.

    Args:
        cache_dir: a local or `gs://` directory.
        examples_per_shard: records per TFRecord file.
    """

    def __init__(self, cache_dir, examples_per_shard=100_000):
        self.cache_dir, self.examples_per_shard = str(cache_dir), examples_per_shard

    def manifest_path(self, key):
        return os.path.join(self.cache_dir, key, MANIFEST)

    def exists(self, key):
        return tf.io.gfile.exists(self.manifest_path(key))

    def load_or_build(self, key, build):
        """The cached dataset of `key`, built first with `build()` when absent.

        Args:
            key: from `cache_key`.
            build: a no-argument callable returning a `tf.data.Dataset` of
                dicts of tensors, in the order to cache.

        Returns:
            A `tf.data.Dataset` of the same dicts, in the same order.
        """
        if not self.exists(key):
            self._write(key, build())
        return self.load(key)

    def load(self, key):
        """The dataset of a built cache."""
        with tf.io.gfile.GFile(self.manifest_path(key)) as f:
            manifest = json.load(f)
        directory = os.path.join(self.cache_dir, key)
        files = [os.path.join(directory, name) for name in manifest["shards"]]
        specs = {name: tf.TensorSpec(shape, tf.as_dtype(dtype))
                 for name, (dtype, shape) in manifest["features"].items()}

        def parse(record):
            parts = tf.io.parse_tensor(record, tf.string)
            features = {}
            for i, (name, spec) in enumerate(specs.items()):
                features[name] = tf.ensure_shape(
                    tf.io.parse_tensor(parts[i], spec.dtype), spec.shape)
            return features

        return tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)

    def _write(self, key, dataset):
        directory = os.path.join(self.cache_dir, key)
        tf.io.gfile.makedirs(directory)
        specs = dataset.element_spec
        names = list(specs)
        writer_id = uuid.uuid4().hex
        serialized = dataset.map(
            lambda f: tf.io.serialize_tensor(tf.stack([tf.io.serialize_tensor(f[n]) for n in names])),
            num_parallel_calls=tf.data.AUTOTUNE)
        shards, writer, count = [], None, 0
        for record in serialized.as_numpy_iterator():
            if count % self.examples_per_shard == 0:
                if writer:
                    writer.close()
                shards.append(f"features-{writer_id}-{len(shards):05d}.tfrecord")
                writer = tf.io.TFRecordWriter(os.path.join(directory, shards[-1]))
            writer.write(record)
            count += 1
        if writer:
            writer.close()
        manifest = {"shards": shards, "num_examples": count,
                    "features": {n: [specs[n].dtype.name, specs[n].shape.as_list()] for n in names}}
        temporary = os.path.join(directory, f"{MANIFEST}.tmp-{writer_id}")
        with tf.io.gfile.GFile(temporary, "w") as f:
            f.write(json.dumps(manifest))
        try:
            tf.io.gfile.rename(temporary, self.manifest_path(key), overwrite=False)
        except tf.errors.AlreadyExistsError:
            for name in shards + [os.path.basename(temporary)]:
                tf.io.gfile.remove(os.path.join(directory, name))
