"""tf.data pipelines on SST-2 with the real BertTokenizer: both batching modes,
deterministic shuffling, sharding, pairs, the feature cache and long texts.
Token ids are checked against Hugging Face's BertTokenizerFast on the same vocab."""

import collections

import numpy as np
import pytest
import tensorflow as tf
import transformers

from kerasbert.data.delimited import read_delimited
from kerasbert.data.examples import TextExample
from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.long_text import aggregate_windows
from kerasbert.data.long_text import window_features
from kerasbert.data.pipeline import classification_dataset
from kerasbert.data.pipeline import default_bucket_boundaries
from kerasbert.checkpoints.sources import vocabulary_file
from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

PRESET = "all_minilm_l6_v2"


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.from_preset(PRESET, sequence_length=128)


@pytest.fixture(scope="module")
def reference():
    return transformers.BertTokenizerFast(vocab=str(vocabulary_file(PRESET)), do_lower_case=True)


@pytest.fixture(scope="module")
def dev(test_data):
    return read_delimited(test_data / "glue/SST-2/dev.tsv", "sentence", "label")


@pytest.fixture(scope="module")
def labels(dev):
    return LabelVocabulary.from_examples(dev)


def _rows(dataset):
    """Every example of a batched dataset as (token ids without padding, label)."""
    rows = []
    for features, labels in dataset.as_numpy_iterator():
        for ids, mask, label in zip(features["token_ids"], features["padding_mask"], labels):
            rows.append((tuple(ids[mask == 1]), int(label)))
    return rows


def test_static_mode_has_fully_defined_shapes_and_reference_ids(tokenizer, reference, dev,
                                                                labels):
    dataset = classification_dataset(dev, tokenizer, batch_size=32, label_vocabulary=labels,
                                     mode="static")
    features, label_spec = dataset.element_spec
    assert all(spec.shape.is_fully_defined() for spec in [*features.values(), label_spec])
    assert {k: (s.shape.as_list(), s.dtype) for k, s in features.items()} == {
        k: ([32, 128], tf.int32) for k in ("token_ids", "segment_ids", "padding_mask")}
    rows = _rows(dataset)
    assert len(rows) == 872 // 32 * 32
    expected = reference([e.text for e in dev], truncation=True, max_length=128)["input_ids"]
    assert [ids for ids, _ in rows] == [tuple(ids) for ids in expected[:len(rows)]]
    assert [label for _, label in rows] == [int(e.label) for e in dev[:len(rows)]]


def _expected(reference, examples):
    ids = reference([e.text for e in examples], truncation=True, max_length=128)["input_ids"]
    return [(tuple(i), int(e.label)) for i, e in zip(ids, examples)]


def test_bucket_mode_keeps_every_example_with_less_padding(tokenizer, reference, dev, labels):
    bucketed = classification_dataset(dev, tokenizer, batch_size=32, label_vocabulary=labels,
                                      mode="bucket")
    assert collections.Counter(_rows(bucketed)) == collections.Counter(_expected(reference, dev))
    static = classification_dataset(dev, tokenizer, batch_size=32, label_vocabulary=labels,
                                    mode="static")
    padded = {}
    for name, dataset in [("bucket", bucketed), ("static", static)]:
        masks = [f["padding_mask"] for f, _ in dataset.as_numpy_iterator()]
        padded[name] = sum((m == 0).sum() for m in masks) / sum(m.size for m in masks)
        if name == "bucket":
            # Each batch is exactly as long as its longest example.
            assert all(m[:, -1].max() == 1 for m in masks)
            assert all(len(m) <= 32 for m in masks)
    assert padded["bucket"] < padded["static"] / 3


def test_bucket_boundaries_sort_by_bucket_not_by_length(tokenizer, reference, dev, labels):
    boundaries = default_bucket_boundaries(128)
    assert boundaries == [4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112]
    dataset = classification_dataset(dev, tokenizer, batch_size=32, label_vocabulary=labels,
                                      mode="bucket", bucket_boundaries=boundaries)
    assert collections.Counter(_rows(dataset)) == collections.Counter(_expected(reference, dev))
    unsorted_within_a_bucket = False
    for features, _ in dataset.as_numpy_iterator():
        lengths = features["padding_mask"].sum(axis=1)
        assert lengths.max() == features["padding_mask"].shape[1]
        buckets = np.searchsorted(boundaries, lengths, side="right")
        assert (np.diff(buckets) >= 0).all()
        unsorted_within_a_bucket |= bool((np.diff(lengths) < 0).any())
    # Within a bucket the examples keep their order: the key is the bucket.
    assert unsorted_within_a_bucket


def test_shuffling_is_deterministic_from_the_seed(tokenizer, dev, labels):
    def order(seed, epochs=1):
        dataset = classification_dataset(dev[:200], tokenizer, batch_size=50,
                                         label_vocabulary=labels, mode="static", shuffle=True,
                                         seed=seed)
        return _rows(dataset.repeat(epochs))

    first = order(7, epochs=2)
    assert first == order(7, epochs=2)
    assert first[:200] != first[200:], "each epoch is shuffled anew"
    assert order(8) != first[:200]
    assert sorted(first[:200]) == sorted(order(8))


def test_shards_partition_the_examples(tokenizer, reference, dev, labels):
    examples = dev[:101]
    shards = [_rows(classification_dataset(examples, tokenizer, batch_size=8, mode="bucket",
                                           label_vocabulary=labels, num_shards=3,
                                           shard_index=i)) for i in range(3)]
    assert [len(s) for s in shards] == [34, 34, 33]
    assert collections.Counter(sum(shards, [])) == collections.Counter(
        _expected(reference, examples))
    context = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=1,
                                         num_replicas_in_sync=3)
    by_context = classification_dataset(examples, tokenizer, batch_size=24, mode="bucket",
                                        label_vocabulary=labels, input_context=context)
    assert _rows(by_context) == shards[1]
    assert max(len(labels) for _, labels in by_context.as_numpy_iterator()) == 8


def test_sentence_pairs_match_the_reference(tokenizer, reference, tmp_path):
    path = tmp_path / "pairs.tsv"
    lines = ["premise\thypothesis\tlabel",
             "A man is playing a guitar.\tSomeone plays music.\tentailment",
             "The cat sleeps.\tA dog runs in the park, barking loudly.\tcontradiction",
             "Einstein's 1905 papers changed physics.\tIt was 1905.\tneutral"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    examples = read_delimited(path, "premise", "label", text_pair_column="hypothesis")
    vocabulary = LabelVocabulary.from_examples(examples)
    dataset = classification_dataset(examples, tokenizer, batch_size=3, mode="static",
                                     label_vocabulary=vocabulary)
    features, label_ids = next(dataset.as_numpy_iterator())
    expected = reference([e.text for e in examples], [e.text_pair for e in examples],
                         padding="max_length", max_length=features["token_ids"].shape[1])
    np.testing.assert_array_equal(features["token_ids"], expected["input_ids"])
    np.testing.assert_array_equal(features["segment_ids"], expected["token_type_ids"])
    np.testing.assert_array_equal(features["padding_mask"], expected["attention_mask"])
    assert [vocabulary.decode(i) for i in label_ids] == [e.label for e in examples]


def test_regression_and_multi_label_targets(tokenizer):
    regression = [TextExample("good", label=4.5), TextExample("bad film", label=1.0)]
    _, targets = next(classification_dataset(
        regression, tokenizer, batch_size=2, mode="static", label_type="regression")
        .as_numpy_iterator())
    np.testing.assert_allclose(targets, [4.5, 1.0])
    multi = [TextExample("a", label=("x", "z")), TextExample("b", label=("y",))]
    vocabulary = LabelVocabulary.from_examples(multi, multi_label=True)
    dataset = classification_dataset(multi, tokenizer, batch_size=2, mode="static",
                                      label_type="multi_label", label_vocabulary=vocabulary)
    assert dataset.element_spec[1].shape.as_list() == [2, 3]
    _, targets = next(dataset.as_numpy_iterator())
    np.testing.assert_array_equal(targets, [[1, 0, 1], [0, 1, 0]])


def test_long_text_windows_cover_the_document(tokenizer, reference, dev):
    documents = [" ".join(e.text for e in dev[i:i + 12]) for i in range(0, 120, 12)]
    documents.append("short one")
    windows = window_features(documents, tokenizer, stride=64)
    assert windows["token_ids"].shape[1] == 128
    assert sorted(set(windows["document_index"])) == list(range(len(documents)))
    for d, text in enumerate(documents):
        expected = reference(text, add_special_tokens=False)["input_ids"]
        rows = np.flatnonzero(windows["document_index"] == d)
        for n, row in enumerate(rows):
            ids = list(windows["token_ids"][row][windows["padding_mask"][row] == 1])
            assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
            # Window n holds tokens 64 n .. 64 n + 126 of the document.
            assert ids[1:-1] == expected[64 * n:64 * n + 126]
        assert 64 * (len(rows) - 1) + 126 >= len(expected)
        assert len(rows) == 1 or len(expected) > 64 * (len(rows) - 2) + 126
    probabilities = np.random.default_rng(0).dirichlet([1, 1], size=len(windows["document_index"]))
    mean = aggregate_windows(probabilities, windows["document_index"])
    for d in range(len(documents)):
        np.testing.assert_allclose(mean[d], probabilities[windows["document_index"] == d].mean(0))
