"""TensorFlow Datasets as a source, `tfds:NAME[/CONFIG][:VERSION]`, read only from
a local `data_dir`: downloads are disabled, the network is never contacted."""

import tensorflow as tf
import tensorflow_datasets as tfds

from kerasbert.data.errors import BadRecords
from kerasbert.data.errors import DataError
from kerasbert.data.examples import TextExample
from kerasbert.data.labels import check_label_type
from kerasbert.data.labels import parse_label

PREFIX = "tfds:"


def is_tfds_spec(source):
    """True when `source` names a TFDS dataset (`tfds:...`) rather than a file."""
    return str(source).startswith(PREFIX)


def load_tfds(spec, split, data_dir):
    """The `tf.data.Dataset` of feature dicts of one split, from local files only.

    Args:
        spec: "tfds:NAME", "tfds:NAME/CONFIG", optionally with ":VERSION".
        split: a TFDS split ("train", "validation[:10%]", ...).
        data_dir: the directory the dataset was prepared in.

    Returns:
        (dataset, builder): the dataset and its builder (for `builder.info`).
    """
    if not is_tfds_spec(spec):
        raise ValueError(f"a TFDS source starts with {PREFIX!r}, got {spec!r}")
    name = spec[len(PREFIX):]
    try:
        builder = tfds.builder(name, data_dir=str(data_dir))
        dataset = builder.as_dataset(split=split, shuffle_files=False)
    except (tfds.core.registered.DatasetNotFoundError, AssertionError, FileNotFoundError,
            ValueError) as e:
        raise DataError(f"{data_dir}/{name}", f"TFDS dataset not available locally "
                        f"(downloads are disabled): {e}", field=split) from None
    return dataset, builder


def read_tfds(spec, split, data_dir, text_field, label_field=None, text_pair_field=None, *,
              label_type="categorical", label_delimiter=",", label_vocabulary=None,
              skip_bad_records=False):
    """Read a split of a local TFDS text dataset into a list of TextExample.

    Integer labels (ClassLabel) become their decimal strings, as file labels
    do. Records are named by their index in the split; `line` holds it.
    """
    return list(iter_tfds(spec, split, data_dir, text_field, label_field, text_pair_field,
                          label_type=label_type, label_delimiter=label_delimiter,
                          label_vocabulary=label_vocabulary,
                          skip_bad_records=skip_bad_records))


def iter_tfds(spec, split, data_dir, text_field, label_field=None, text_pair_field=None, *,
              label_type="categorical", label_delimiter=",", label_vocabulary=None,
              skip_bad_records=False):
    """`read_tfds` as a generator over the split (one record at a time)."""
    check_label_type(label_type)
    dataset, _ = load_tfds(spec, split, data_dir)
    where = f"{spec} [{split}]"
    bad = BadRecords(where, skip=skip_bad_records)
    count = 0
    for index, record in enumerate(tfds.as_numpy(dataset)):
        try:
            example = _example(where, index, record, text_field, text_pair_field, label_field,
                               label_type, label_delimiter, label_vocabulary)
        except DataError as e:
            bad.report(DataError(where, e.reason, record=index, field=e.field))
            continue
        count += 1
        yield example
    bad.log_summary()
    if not count and not bad.total:
        raise DataError(where, "empty split")


def tfds_columns(spec, split, data_dir, text_field, label_field=None, text_pair_field=None, *,
                 label_type="categorical", label_vocabulary=None):
    """The split as a `tf.data.Dataset` of per-example dicts, string `text`
    (and `pair`) and encoded `labels`, mapped in graph: the records never pass
    through Python. Labels are validated beforehand (`iter_tfds`); here they
    are looked up: int32 ids (categorical, a string or integer feature),
    float32 values (regression).

    Returns:
        The dataset, or None when a label feature needs Python to be parsed
        (multi-label, or a categorical label of another dtype): the caller
        then streams `iter_tfds` instead.
    """
    dataset, _ = load_tfds(spec, split, data_dir)
    spec_of = dataset.element_spec
    table = None
    if label_field is not None:
        label_spec = spec_of.get(label_field)
        if label_spec is None or label_spec.shape.rank != 0:
            return None
        dtype = label_spec.dtype
        if label_type == "regression":
            if not (dtype.is_integer or dtype.is_floating):
                return None
        elif label_type == "categorical" and (dtype == tf.string or dtype.is_integer):
            table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(label_vocabulary.labels),
                    tf.range(len(label_vocabulary), dtype=tf.int32)), default_value=-1)
        else:
            return None

    def columns(record):
        out = {"text": record[text_field]}
        if text_pair_field is not None:
            out["pair"] = record[text_pair_field]
        if label_field is not None:
            raw = record[label_field]
            if label_type == "regression":
                out["labels"] = tf.cast(raw, tf.float32)
            else:
                text = raw if raw.dtype == tf.string else tf.strings.as_string(raw)
                out["labels"] = table.lookup(tf.strings.strip(text))
        return out

    return dataset.map(columns, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _example(where, index, record, text_field, pair_field, label_field, label_type,
             label_delimiter, vocabulary):
    def get_text(key):
        if key not in record:
            raise DataError(where, "missing field", record=index, field=key)
        try:
            value = record[key].decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(where, "bytes that are not valid utf-8", record=index,
                            field=key) from None
        if not value.strip():
            raise DataError(where, "empty text", record=index, field=key)
        return value

    pair = get_text(pair_field) if pair_field is not None else None
    label = None
    if label_field is not None:
        if label_field not in record:
            raise DataError(where, "missing field", record=index, field=label_field)
        raw = record[label_field]
        raw = raw.decode("utf-8") if isinstance(raw, bytes) else raw.tolist()
        label = parse_label(raw, label_type, label_delimiter, where, None, label_field)
        if vocabulary is not None:
            vocabulary.encode(label, where, None, label_field)
    return TextExample(text=get_text(text_field), text_pair=pair, label=label, line=index)
