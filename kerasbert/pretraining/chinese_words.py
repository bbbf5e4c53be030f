"""Chinese word boundaries for whole-word masking, found at preparation time.

Chinese is written without spaces and BERT's tokenizer makes every CJK
character a token of its own, so WordPiece's `##` continuations never join
Chinese characters into words. hfl's Chinese-BERT-wwm kept these tokens and
segmented the text with a word segmenter (LTP) to mask whole words; here the
segmenter is `jieba` (`pip install kerasbert[zh]`).

When a preparation asks for Chinese words (`kerasbert.pretrain
--whole_word_masking`), every sentence holding a CJK character is segmented
by `jieba.lcut`, and each of its WordPiece tokens that starts inside the same
jieba word as the token before it is marked as continuing that word. Its id
is then a `Continues` (an int, so the instance-building code moves it like any
id); the records carry the marks as a `word_continues` feature, and the masker
(`kerasbert.tasks.masking.BertMasker`) treats a marked token as it treats
a `##` piece. Sentences without CJK are left alone: English preparation and
masking are unchanged.
"""

import re

from kerasbert.tokenizers.bert_tokenizer import _CJK

JIEBA_MISSING = ("Chinese whole-word masking segments words with jieba, an optional extra: "
                 "pip install kerasbert[zh]")
# The tokenizer's CJK ranges (a TensorFlow regex, \x{...}) as a Python pattern.
CJK = re.compile("[" + re.sub(r"\\x\{([0-9A-Fa-f]+)\}", lambda m: chr(int(m.group(1), 16)),
                              _CJK) + "]")


class MissingExtra(ImportError, ValueError):
    """An optional package is not installed (a ValueError too, so that the
    programs report it in one line and exit 2)."""


class Continues(int):
    """A token id that continues the word of the token before it."""

    __slots__ = ()

    def __repr__(self):
        return f"Continues({int(self)})"


def import_jieba():
    """jieba, quiet, or MissingExtra naming the extra to install."""
    try:
        import jieba
    except ImportError:
        raise MissingExtra(JIEBA_MISSING) from None
    import logging

    jieba.setLogLevel(logging.WARNING)
    return jieba


def has_cjk(text):
    return CJK.search(text) is not None


def word_owners(text):
    """The index of the jieba word holding each character of `text`."""
    jieba = import_jieba()
    owner = []
    for index, word in enumerate(jieba.lcut(text)):
        owner += [index] * len(word)
    return owner


def mark_words(text, ids, starts):
    """`ids` (one sentence's WordPiece ids) with `Continues` for each token
    whose first character (`starts`, character offsets into `text`, as
    `BertTokenizer.tokenize_with_offsets` gives them) lies in the same jieba
    word as the previous token's; `ids` unchanged when `text` has no CJK."""
    if not has_cjk(text):
        return list(ids)
    owner = word_owners(text)
    out = []
    for n, (token, start) in enumerate(zip(ids, starts)):
        same = n > 0 and owner[start] == owner[starts[n - 1]]
        out.append(Continues(token) if same else int(token))
    return out


def continues_flags(tokens):
    """1 for each `Continues` id of `tokens`, else 0."""
    return [int(isinstance(t, Continues)) for t in tokens]
