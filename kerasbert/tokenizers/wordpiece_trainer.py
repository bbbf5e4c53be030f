"""Training a WordPiece vocabulary from a text corpus, for pretraining from scratch.

    from kerasbert.tokenizers.wordpiece_trainer import train_wordpiece_tokenizer
    tokenizer = train_wordpiece_tokenizer(files=["corpus.txt"], vocab_size=8000)
    tokenizer.save_to_dir("my_bert")      # vocab.txt + tokenizer_config.json

The words are cut exactly as `BertTokenizer` cuts them (its own normalisation
and punctuation / CJK splitting run in-graph), so the vocabulary is learnt on
the same units it will later be applied to. The merges are learnt by the
`tokenizers` library's WordPiece trainer (fast, exact vocabulary size); the
result then gets the `##` form of every character that can stand inside a
word, as Google's vocabularies have, so that any word made of known
characters tokenizes without `[UNK]` and joins back to itself.
"""

import collections
import os

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from kerasbert.data.files import check_decoded, decoded_lines
from kerasbert.tokenizers.bert_tokenizer import _CJK, _PUNCT, BertTokenizer

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
SUFFIX = "##"


def corpus_texts(files, encoding="utf-8"):
    """Yields the non-blank lines of text files (one sentence or paragraph per
    line, as the pretraining corpus format has); bad bytes name the file and line."""
    for path in [files] if isinstance(files, (str, os.PathLike)) else files:
        for line, text in decoded_lines(str(path), encoding):
            if text.strip():
                yield check_decoded(text, str(path), encoding, line=line)


def count_words(texts, lowercase=True, strip_accents=None, tokenize_chinese_chars=True,
                max_chars_per_word=100, batch_size=1024):
    """Counts of the words `BertTokenizer` would see in `texts` (an iterable of
    str): normalised, split at whitespace, punctuation and CJK characters.
    Words over `max_chars_per_word` characters are left out (they become [UNK])."""
    splitter = BertTokenizer(list(SPECIAL_TOKENS), lowercase=lowercase,
                             strip_accents=strip_accents,
                             tokenize_chinese_chars=tokenize_chinese_chars)
    counts = collections.Counter()

    def add(batch):
        words = splitter.split_words(tf.constant(batch, tf.string)).flat_values.numpy()
        counts.update(w.decode("utf-8") for w in words)

    batch = []
    for text in texts:
        batch.append(text)
        if len(batch) == batch_size:
            add(batch)
            batch = []
    if batch:
        add(batch)
    for word in [w for w in counts if len(w) > max_chars_per_word]:
        del counts[word]
    return counts


def train_wordpiece_vocabulary(vocab_size, texts=None, files=None, lowercase=True,
                               strip_accents=None, tokenize_chinese_chars=True,
                               min_frequency=0, limit_alphabet=None, max_chars_per_word=100,
                               encoding="utf-8", characters=()):
    """A WordPiece vocabulary (list of tokens in id order) of `vocab_size`
    tokens (fewer if the corpus has no more pieces to learn), learnt from `texts`
    (iterable of str) and/or `files` (paths of text files).

    The first tokens are [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0-4), then every
    character kept (`limit_alphabet`: the most frequent ones only) alone and,
    where it can continue a word, as `##c`, then the learnt word pieces, the
    most used on the corpus first. `characters` (already normalised, e.g.
    `common_chinese_characters()`) are kept alone too, seen in the corpus or
    not, so that text with a character the corpus lacks has no [UNK] either.

    Chinese needs nothing more: CJK characters are words of their own (as
    BERT's tokenizer splits them), so every character of the corpus is a
    token, and neither lower-casing nor accent stripping changes them.
    """
    if texts is None and files is None:
        raise ValueError("give the corpus as texts=... or files=...")
    sources = ([] if texts is None else [texts]) + ([] if files is None else
                                                   [corpus_texts(files, encoding)])
    counts = collections.Counter()
    for source in sources:
        counts.update(count_words(source, lowercase, strip_accents, tokenize_chinese_chars,
                                  max_chars_per_word))
    if not counts:
        raise ValueError("the corpus holds no words to learn a vocabulary from")
    if any(len(c) != 1 for c in characters):
        raise ValueError("characters must be single characters")
    learnt = _learn_pieces(counts, vocab_size, min_frequency, limit_alphabet)
    return _complete_alphabet(learnt, vocab_size, counts, characters)


def train_wordpiece_tokenizer(vocab_size, texts=None, files=None, lowercase=True,
                              strip_accents=None, tokenize_chinese_chars=True,
                              sequence_length=128, **kwargs):
    """A `BertTokenizer` on a vocabulary trained as `train_wordpiece_vocabulary`;
    `tokenizer.save_to_dir(d)` writes the vocab.txt that `BertTokenizer.from_preset(d)` loads."""
    tokens = train_wordpiece_vocabulary(
        vocab_size, texts=texts, files=files, lowercase=lowercase, strip_accents=strip_accents,
        tokenize_chinese_chars=tokenize_chinese_chars, **kwargs)
    return BertTokenizer(tokens, lowercase=lowercase, strip_accents=strip_accents,
                         tokenize_chinese_chars=tokenize_chinese_chars,
                         sequence_length=sequence_length)


def _learn_pieces(counts, vocab_size, min_frequency, limit_alphabet):
    """The tokens the `tokenizers` WordPiece trainer learns from pre-split words."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    model = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix=SUFFIX))
    model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    options = dict(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                   special_tokens=list(SPECIAL_TOKENS), continuing_subword_prefix=SUFFIX)
    if limit_alphabet:
        options["limit_alphabet"] = limit_alphabet
    trainer = trainers.WordPieceTrainer(**options)
    # Each word once per occurrence; the trainer counts them again, which keeps
    # its statistics identical to training on the running text.
    lines = (" ".join([word] * count) for word, count in sorted(counts.items()))
    model.train_from_iterator(lines, trainer, length=len(counts))
    vocab = model.get_vocab()
    return list(vocab)


def common_chinese_characters():
    """The 6,763 Chinese characters of GB 2312 (its levels 1 and 2: the
    characters in common use in simplified Chinese), from Python's codec."""
    return [bytes([high, low]).decode("gb2312") for high in range(0xB0, 0xF8)
            for low in range(0xA1, 0xFF) if (high, low) not in _GB2312_HOLES]


# GB 2312 row 0xD7 ends at 0xF9 (level 1 has 3,755 characters): its last five cells are empty.
_GB2312_HOLES = {(0xD7, low) for low in range(0xFA, 0xFF)}


def _complete_alphabet(tokens, vocab_size, counts, characters=()):
    """Specials, characters, `##characters`, then learnt pieces, `vocab_size` in all.

    The pieces are ranked by how many times greedy WordPiece uses them on the
    corpus (ties by text), so the result does not depend on the order in which
    the trainer, whose ties fall by hash order, returns them. The least used
    make room for the `##c` forms the trainer did not produce (characters it
    only saw at the start of a word).
    """
    specials = list(SPECIAL_TOKENS)
    chars = sorted({t for t in tokens if len(t) == 1 and t not in specials} | set(characters))
    suffixes = [SUFFIX + c for c, can in zip(chars, _can_continue_word(chars)) if can]
    base = specials + chars + suffixes
    room = vocab_size - len(base)
    if room < 0:
        raise ValueError(
            f"vocab_size {vocab_size} is below the {len(base)} special tokens and characters "
            f"of this corpus ({len(chars)} characters); raise vocab_size or set limit_alphabet")
    pieces = sorted(set(tokens) - set(base))
    usage = _piece_usage(counts, base + pieces)[len(base):]
    ranked = sorted(range(len(pieces)), key=lambda i: (-usage[i], pieces[i]))
    return base + [pieces[i] for i in ranked[:room]]


def _piece_usage(counts, vocabulary, chunk=100_000):
    """How often greedy WordPiece (as BertTokenizer runs it) emits each token
    of `vocabulary` on the words of `counts`: float64 `[len(vocabulary)]`."""
    wordpiece = tf_text.FastWordpieceTokenizer(
        vocabulary, suffix_indicator=SUFFIX, max_bytes_per_word=4 * max(map(len, counts)) + 4,
        token_out_type=tf.int32, unknown_token="[UNK]", no_pretokenization=True)
    words = sorted(counts)
    usage = np.zeros(len(vocabulary))
    for start in range(0, len(words), chunk):
        batch = words[start:start + chunk]
        ids = wordpiece.tokenize(tf.constant(batch))
        weights = np.array([counts[w] for w in batch], np.float64)
        usage += np.bincount(ids.flat_values.numpy(), weights=weights[ids.value_rowids().numpy()],
                             minlength=len(vocabulary))
    return usage


def _can_continue_word(chars):
    """Of single characters (a list of str), whether each can continue a word:
    punctuation and CJK characters are always words of their own, as
    `BertTokenizer` splits them."""
    if not chars:
        return []
    alone = tf.strings.regex_full_match(tf.constant(chars, tf.string),
                                        rf"\s|\p{{Z}}|{_PUNCT}|[{_CJK}]")
    return (~alone).numpy().tolist()
