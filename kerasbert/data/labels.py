"""Parsing a label field into the label of a TextExample, by label type."""

from kerasbert.data.errors import DataError

LABEL_TYPES = ("categorical", "multi_label", "regression")


def check_label_type(label_type):
    if label_type not in LABEL_TYPES:
        raise ValueError(f"label_type must be one of {LABEL_TYPES}, got {label_type!r}")


def parse_label(value, label_type, label_delimiter, path, line, field):
    """The label held in a raw field value.

    Args:
        value: the field as read: a string, or for JSON also an int, float,
            bool or list.
        label_type: "categorical" -> str; "multi_label" -> tuple of str (a list,
            or a string split on `label_delimiter`); "regression" -> float.
        label_delimiter: separator of a multi-label string field.
        path, line, field: where the value comes from, for the error.

    Raises:
        DataError: the value is empty or not a number where one is needed.
    """
    if label_type == "regression":
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise DataError(path, f"label is not a number: {value!r}", line=line,
                            field=field) from None
    if label_type == "multi_label":
        parts = value if isinstance(value, list) else str(value).split(label_delimiter)
        labels = tuple(str(p).strip() for p in parts if str(p).strip())
        return labels
    text = str(value).strip()
    if not text:
        raise DataError(path, "empty label", line=line, field=field)
    return text
