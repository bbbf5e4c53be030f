"""TensorFlow Datasets as a source, `tfds:NAME[/CONFIG][:VERSION]`, read only from
a local `data_dir`: downloads are disabled, the network is never contacted."""

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
    check_label_type(label_type)
    dataset, _ = load_tfds(spec, split, data_dir)
    where = f"{spec} [{split}]"
    bad = BadRecords(where, skip=skip_bad_records)
    examples = []
    for index, record in enumerate(tfds.as_numpy(dataset)):
        try:
            examples.append(_example(where, index, record, text_field, text_pair_field,
                                     label_field, label_type, label_delimiter,
                                     label_vocabulary))
        except DataError as e:
            bad.report(DataError(where, e.reason, record=index, field=e.field))
    bad.log_summary()
    if not examples and not bad.total:
        raise DataError(where, "empty split")
    return examples


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
