"""A setting declared once: a dataclass field whose metadata holds its help,
range or choices, from which the command line's flags are generated
(`kerasbert.cli.flags.define_flags_from`) and `validate` checks a config.

    @dataclasses.dataclass(frozen=True)
    class MyConfig:
        batch_size: int = setting(32, "global batch size", range=">= 1")
        pooling: str = setting("auto", "head input", choices=("auto", "cls", "mean"))

A range is an interval ("[8, 512]", "(0, 1]"; a bound may name another
setting: "--max_seq_length"), one bound ("> 0", ">= 1") or "any".
"""

import codecs
import dataclasses
import typing


def setting(default, help, range=None, choices=None, check=None, parse=None, flag=True,
            flag_default=None):
    """A dataclass field for one setting.

    Args:
        default: its default (a list default is given as a tuple).
        help: the flag's help text.
        range: the range of a number (see the module docstring).
        choices: the values it may take (an enum flag).
        check: (predicate, message): a value the predicate refuses is an error.
        parse: turns the flag's text into the setting's value (e.g. `column`).
        flag: False for a setting of the Python API only (no flag).
        flag_default: the flag's default where its text is not the value
            (a duration flag "0" for 0.0 seconds; `parse` makes the value).
    """
    return dataclasses.field(default=default, metadata={
        "help": help, "range": range, "choices": choices, "check": check, "parse": parse,
        "flag": flag, "flag_default": flag_default})


def like(cls, name, default):
    """The setting `name` of `cls` with another default (a subclass's own)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return dataclasses.field(default=default, metadata=field.metadata)


def flag_fields(cls):
    """The fields of `cls` that are flags."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag")]


def value_type(cls, field):
    """The type of a field's value: int, float, bool, tuple or str (Optional removed)."""
    hint = typing.get_type_hints(cls)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    hint = args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint
    return hint if hint in (int, float, bool, tuple) else str


def column(value):
    """A column setting's flag text: a 0-based index when it is all digits, else a name."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


def duration(text, flag="--time_budget"):
    """Seconds from '3600', '90m', '2h', '1.5h', '45s' (or a number)."""
    import re

    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(text))
    if not match:
        raise ValueError(f"{flag}: expected seconds or a duration like 90m or 2h, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def known_encoding(name):
    """Whether `name` is a Python codec."""
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def distinct_labels(value):
    return value is None or (bool(value) and all(value) and len(set(value)) == len(value))


# The reader settings of every program that reads the user's files.
def encoding_setting():
    return setting("utf-8", "text encoding of the input files, e.g. latin-1 or cp1252 (UTF-8 "
                   "is read with or without a byte-order mark)",
                   check=(known_encoding, "unknown encoding; give a Python codec name such as "
                          "utf-8, latin-1 or cp1252"))


def header_setting():
    return setting("auto", "CSV / TSV files: is the first row a header? auto: yes when a column "
                   "is given by name, or when the first row is text where the rows below hold "
                   "numbers", choices=("auto", "yes", "no"))


def labels_setting():
    return setting(None, "classification / multilabel: the labels in id order, e.g. "
                   "neg,neutral,pos (default: the training labels, integer-like ones by value); "
                   "a label outside them is an error naming its file and line",
                   check=(distinct_labels, "give distinct, non-empty labels separated by "
                          "commas, e.g. --labels=neg,pos"))


def in_range(value, spec, lookup):
    """Whether `value` is in the range `spec`; `lookup(name)` gives a bound that
    names another setting ("--max_seq_length")."""
    def bound(text):
        text = text.strip()
        return lookup(text[2:]) if text.startswith("--") else float(text)

    if not spec or spec == "any":
        return True
    if spec[0] in "[(":
        low, high = (bound(x) for x in spec[1:-1].split(","))
        return ((low <= value if spec[0] == "[" else low < value)
                and (value <= high if spec[-1] == "]" else value < high))
    op, limit = spec.split()
    return value >= bound(limit) if op == ">=" else value > bound(limit)


def validate(config):
    """Every field of `config` against its metadata: a one-line ValueError naming
    the flag (`--batch_size must be >= 1, got 0`) for the first bad value."""
    cls = type(config)
    for field in dataclasses.fields(cls):
        value, meta = getattr(config, field.name), field.metadata
        if value is None or not meta:
            continue
        spec, kind = meta.get("range"), value_type(cls, field)
        if spec:
            if isinstance(value, bool) or not isinstance(
                    value, int if kind is int else (int, float)):
                raise ValueError(f"--{field.name} must be "
                                 f"{'an integer' if kind is int else 'a number'}, got {value!r}")
            if not in_range(value, spec, lambda name: getattr(config, name)):
                shown = f"in {spec}" if spec[0] in "[(" else spec
                raise ValueError(f"--{field.name} must be {shown}, got {value}")
        if meta.get("choices") and value not in meta["choices"]:
            raise ValueError(f"--{field.name} must be one of {', '.join(meta['choices'])}, "
                             f"got {value!r}")
        if meta.get("check") and not meta["check"][0](value):
            raise ValueError(f"--{field.name}: {meta['check'][1]}")
    return config


def config_ranges(*classes):
    """{name: range} of the settings of `classes` that have one."""
    return {f.name: f.metadata["range"] for cls in classes for f in dataclasses.fields(cls)
            if f.metadata.get("range")}
