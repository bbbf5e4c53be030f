"""The record types that the readers produce."""

import dataclasses
from typing import Optional, Tuple, Union

Label = Union[str, Tuple[str, ...], float, None]


@dataclasses.dataclass(frozen=True)
class TextExample:
    """One classification or regression example: a text, an optional second
    text (sentence pairs), and its label.

    `label` is a string (single-label), a tuple of strings (multi-label), a
    float (regression) or None (prediction input). `line` is where the record
    starts in its file (or its index in a TFDS split), for error messages.
    """

    text: str
    text_pair: Optional[str] = None
    label: Label = None
    line: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class TaggedSentence:
    """One CoNLL sentence: its words and one tag per word."""

    words: Tuple[str, ...]
    tags: Tuple[str, ...]
    line: Optional[int] = None
