"""The `tfds:` source reads a TFDS dataset stored locally, with downloads disabled."""

import tensorflow as tf
import tensorflow_datasets as tfds
import pytest

from kerasbert.data.delimited import read_delimited
from kerasbert.data.errors import DataError
from kerasbert.data.tfds_source import is_tfds_spec
from kerasbert.data.tfds_source import read_tfds


@pytest.fixture(scope="module")
def stored_sst2(test_data, tmp_path_factory):
    """SST-2 dev, stored as a TFDS dataset (with a config) in a tmp data_dir."""
    dev = read_delimited(test_data / "glue/SST-2/dev.tsv", "sentence", "label")
    data_dir = tmp_path_factory.mktemp("tfds")
    features = tfds.features.FeaturesDict({
        "sentence": tfds.features.Text(), "label": tfds.features.ClassLabel(num_classes=2)})
    split = tf.data.Dataset.from_tensor_slices(
        {"sentence": [e.text for e in dev], "label": [int(e.label) for e in dev]})
    tfds.dataset_builders.store_as_tfds_dataset(
        name="local_sst", version="1.0.0", features=features, config="dev_only",
        split_datasets={"validation": split}, data_dir=str(data_dir), disable_shuffling=True)
    return dev, data_dir


def test_tfds_source_reads_the_stored_dataset(stored_sst2):
    dev, data_dir = stored_sst2
    assert is_tfds_spec("tfds:local_sst/dev_only") and not is_tfds_spec("dev.tsv")
    examples = read_tfds("tfds:local_sst/dev_only", "validation", data_dir, "sentence", "label")
    assert len(examples) == 872
    assert [(e.text, e.label) for e in examples] == [(e.text, e.label) for e in dev]
    head = read_tfds("tfds:local_sst/dev_only:1.0.0", "validation[:10]", data_dir, "sentence")
    assert [e.text for e in head] == [e.text for e in dev[:10]]


def test_tfds_source_errors_name_the_dataset_and_field(stored_sst2, tmp_path):
    _, data_dir = stored_sst2
    with pytest.raises(DataError, match="not available locally"):
        read_tfds("tfds:local_sst/dev_only", "validation", tmp_path, "sentence")
    with pytest.raises(DataError, match=r"tfds:local_sst/dev_only \[validation\], record 0, "
                                        r"field 'text': missing field"):
        read_tfds("tfds:local_sst/dev_only", "validation", data_dir, "text")


def test_tfds_source_streams_in_graph_as_the_list(stored_sst2):
    """A `tfds:` TextSource: the first pass counts the split and its labels as
    the list reader reads it, and its columns are mapped in graph (labels
    looked up in the vocabulary), giving the list's texts and label ids."""
    from kerasbert.data.label_vocabulary import LabelVocabulary
    from kerasbert.data.pipeline import encode_labels
    from kerasbert.data.streaming import TextSource
    from kerasbert.data.tfds_source import tfds_columns

    _, data_dir = stored_sst2
    examples = read_tfds("tfds:local_sst/dev_only", "validation", data_dir, "sentence", "label")
    source = TextSource("tfds:local_sst/dev_only", "sentence", "label", split="validation",
                        data_dir=str(data_dir))
    summary = source.scan()
    assert (summary.num_examples, summary.labels) == (872, {"0", "1"})
    vocabulary = LabelVocabulary(["1", "0"])  # ids other than the ClassLabel's
    # The in-graph path (a Dataset, not None, the Python fallback) gives the list's rows ...
    in_graph = tfds_columns(source.source, "validation", data_dir, "sentence", "label",
                            label_vocabulary=vocabulary)
    assert isinstance(in_graph, tf.data.Dataset)
    graph_rows = list(in_graph.as_numpy_iterator())
    assert [r["text"].decode("utf-8") for r in graph_rows] == [e.text for e in examples]
    assert [int(r["labels"]) for r in graph_rows] == encode_labels(examples, vocabulary).tolist()
    # ... and it is what the TextSource streams.
    rows = list(source.columns(vocabulary).as_numpy_iterator())
    assert [r["text"].decode("utf-8") for r in rows] == [e.text for e in examples]
    assert [int(r["labels"]) for r in rows] == encode_labels(examples, vocabulary).tolist()
    with pytest.raises(DataError, match=r"tfds:local_sst/dev_only \[validation\], record 0, "
                                        r"field 'label': label not seen in training: '1'"):
        source.scan(LabelVocabulary(["0"]))
