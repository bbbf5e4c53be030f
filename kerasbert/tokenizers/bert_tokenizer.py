"""BERT's WordPiece tokenizer, in-graph (tensorflow-text), identical to the reference.

The normalisation follows google-research/bert and HF's BertNormalizer:
drop NUL, U+FFFD and control/format characters; whitespace becomes a space;
CJK characters are split one by one; for uncased vocabularies accents are
stripped (NFD, then no Mn) and text lower-cased. Words are split at
whitespace and punctuation, then WordPiece'd greedily (longest match first);
a word over `max_chars_per_word` characters becomes [UNK].
"""

import json
import os

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from kerasbert.outputs import write_file, write_json

_CJK = (r"\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
        r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}")
_PUNCT = r"[!-/:-@\[-`{-~]|\p{P}"
_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
VOCABULARY_ASSET = "vocabulary.txt"  # in a .keras file's assets


def read_vocabulary(path):
    """Tokens of a vocab.txt, one per line, in id order."""
    with tf.io.gfile.GFile(str(path)) as f:
        return [line.rstrip("\n").rstrip("\r") for line in f]


@keras.saving.register_keras_serializable(package="kerasbert")
class BertTokenizer(keras.layers.Layer):
    """Raw strings -> `token_ids`, `segment_ids`, `padding_mask`.

    Args:
        vocabulary: path to vocab.txt, or a list of tokens.
        lowercase: lower-case (uncased vocabularies).
        strip_accents: strip accents; None follows `lowercase`.
        tokenize_chinese_chars: split CJK characters into single tokens.
        sequence_length: output length, [CLS] and [SEP]s included.
        max_chars_per_word: longer words become [UNK].

    Call: `texts` (list of str or 1-D string tensor, or a scalar string) and
    optional `pairs` -> dict of int32 `[batch, sequence_length]` tensors
    (`[sequence_length]` for a scalar input). Pairs are truncated
    longest-first, as the reference does.
    """

    def __init__(self, vocabulary=None, lowercase=True, strip_accents=None,
                 tokenize_chinese_chars=True, sequence_length=128, max_chars_per_word=100,
                 **kwargs):
        kwargs.setdefault("dtype", "int32")
        kwargs.pop("trainable", None)  # in configs; a tokenizer never trains
        super().__init__(trainable=False, **kwargs)
        self.lowercase = bool(lowercase)
        self.strip_accents = self.lowercase if strip_accents is None else bool(strip_accents)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.sequence_length = int(sequence_length)
        self.max_chars_per_word = int(max_chars_per_word)
        self.vocabulary = None
        if vocabulary is not None:  # None: a .keras file's, set by load_assets
            self.set_vocabulary(vocabulary)

    @property
    def sequence_length(self):
        return self._sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        value = int(value)
        if value < 3:
            raise ValueError(f"sequence_length must be >= 3 ([CLS], a token, [SEP]), got {value}")
        self._sequence_length = value

    def set_vocabulary(self, vocabulary):
        """Use `vocabulary`: a path to vocab.txt or a list of tokens, in id order."""
        tokens = read_vocabulary(vocabulary) if isinstance(vocabulary, (str, os.PathLike)) \
            else list(vocabulary)
        missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if t not in tokens]
        if missing:
            raise ValueError(f"vocabulary lacks the special tokens {missing}")
        self.vocabulary = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}
        self.pad_token_id, self.unk_token_id = self._ids["[PAD]"], self._ids["[UNK]"]
        self.cls_token_id, self.sep_token_id = self._ids["[CLS]"], self._ids["[SEP]"]
        self.mask_token_id = self._ids.get("[MASK]")
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            tokens, suffix_indicator="##", max_bytes_per_word=4 * self.max_chars_per_word + 4,
            token_out_type=tf.int32, unknown_token="[UNK]", no_pretokenization=True,
            support_detokenization=True)

    @property
    def wordpiece(self):
        """The tensorflow-text WordPiece tokenizer of the vocabulary."""
        if self.vocabulary is None:
            raise ValueError("the tokenizer has no vocabulary yet: pass one, or set_vocabulary()")
        return self._wordpiece

    @classmethod
    def from_preset(cls, name_or_path, **kwargs):
        """From the same place as the encoder: a preset, an `hf://` handle, a
        gs:// URL or a directory holding vocab.txt (and optionally HF's
        tokenizer_config.json with do_lower_case / strip_accents). A preset's
        declared casing comes first, then the tokenizer config's."""
        from kerasbert import presets
        from kerasbert.checkpoints.sources import resolve

        name = str(name_or_path)
        if presets.is_preset(name):
            kwargs.setdefault("lowercase", presets.get_preset(name)["lowercase"])
        directory = resolve(name, weights=False)
        vocab = os.path.join(directory, "vocab.txt")
        if not tf.io.gfile.exists(vocab):
            raise FileNotFoundError(f"{name} has no vocab.txt")
        config_path = os.path.join(directory, "tokenizer_config.json")
        if tf.io.gfile.exists(config_path):
            with tf.io.gfile.GFile(config_path) as f:
                config = json.load(f)
            kwargs.setdefault("lowercase", config.get("do_lower_case", True))
            kwargs.setdefault("strip_accents", config.get("strip_accents"))
            kwargs.setdefault("tokenize_chinese_chars", config.get("tokenize_chinese_chars", True))
        return cls(vocab, **kwargs)

    # -- ids ---------------------------------------------------------------------------------

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def get_vocabulary(self):
        return list(self.vocabulary)

    def token_to_id(self, token):
        return self._ids.get(token, self.unk_token_id)

    def id_to_token(self, token_id):
        return self.vocabulary[int(token_id)]

    # -- in-graph tokenization ---------------------------------------------------------------

    def detokenize(self, ids):
        """Ids -> text, as KerasHub's `WordPieceTokenizer.detokenize`: the
        pieces joined by spaces, a `##` continuation joined to its word,
        padding dropped (other special tokens are kept).

        Args:
            ids: int `[tokens]` (a list, array or tensor) or a batch of them
                `[batch, tokens]` (dense, e.g. `tokenizer(texts)["token_ids"]`,
                nested lists or a RaggedTensor).
        Returns:
            A scalar string tensor for one sequence, else strings `[batch]`.
        """
        if isinstance(ids, list) and ids and isinstance(ids[0], (list, tuple)):
            ids = tf.ragged.constant(ids, tf.int32)
        elif not isinstance(ids, tf.RaggedTensor):
            ids = tf.convert_to_tensor(ids)
        if ids.shape.rank not in (1, 2):
            raise ValueError(f"detokenize takes ids [tokens] or [batch, tokens], "
                             f"got rank {ids.shape.rank}")
        if not ids.dtype.is_integer:
            raise ValueError(f"detokenize takes integer token ids, got {ids.dtype.name}")
        single = ids.shape.rank == 1
        if single:
            ids = ids[None]
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        ids = tf.cast(ids, tf.int32)
        ids = tf.ragged.boolean_mask(ids, ids != self.pad_token_id)
        texts = self.wordpiece.detokenize(ids)
        return texts[0] if single else texts

    def normalize(self, texts):
        """The reference's text normalisation of a string tensor."""
        texts = tf.strings.regex_replace(texts, r"[\t\n\r]", " ")
        texts = tf.strings.regex_replace(texts, r"[\x{0}\x{FFFD}\p{Cc}\p{Cf}\p{Co}]", "")
        texts = tf.strings.regex_replace(texts, r"\p{Z}", " ")
        if self.tokenize_chinese_chars:
            texts = tf.strings.regex_replace(texts, f"([{_CJK}])", r" \1 ")
        if self.strip_accents:
            texts = tf_text.normalize_utf8(texts, "NFD")
            texts = tf.strings.regex_replace(texts, r"\p{Mn}", "")
        if self.lowercase:
            # Character by character, as the reference: no final-sigma rule ("ΟΔΟΣ" -> "οδοσ").
            texts = tf.strings.regex_replace(texts, "Σ", "σ")
            texts = tf.strings.lower(texts, encoding="utf-8")
        return texts

    def split_words(self, texts):
        """Normalised words, a RaggedTensor `[batch, (words)]` of strings."""
        return tf_text.regex_split(self.normalize(texts), r"\s+|" + _PUNCT, _PUNCT)

    def split_words_with_offsets(self, texts):
        """The raw text's words as the reference's basic tokenizer splits it,
        with their character spans, in-graph: words are cut at whitespace
        and around each punctuation mark and (with `tokenize_chinese_chars`)
        each CJK character, which are words of their own. A word is the
        original substring (neither lower-cased nor stripped of accents):
        `tokenize` of it gives its pieces. The words of token classification
        (`tasks.token_classification.TaggingSignature`) and of explanations.

        Args:
            texts: strings (a list or a 1-D tensor).
        Returns:
            (words, starts, ends): RaggedTensors `[batch, (words)]`, strings
            and int64 character offsets (Unicode code points, as Python's
            `str` indices) with `text[start:end] == word`.
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        keep = _PUNCT + (f"|[{_CJK}]" if self.tokenize_chinese_chars else "")
        words, starts, ends = tf_text.regex_split_with_offsets(
            texts, r"[\s\p{Z}]+|" + keep, keep)
        return words, _char_offsets(texts, starts), _char_offsets(texts, ends)

    def tokenize(self, texts):
        """WordPiece ids without special tokens, RaggedTensor int32 `[batch, (tokens)]`."""
        words = self.split_words(tf.convert_to_tensor(texts, tf.string))
        flat = words.flat_values
        # "[UNK]" cannot come out of split_words (brackets are punctuation), and
        # WordPiece maps it to its own id: over-long words become [UNK].
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > self.max_chars_per_word
        words = words.with_flat_values(tf.where(too_long, "[UNK]", flat))
        return self.wordpiece.tokenize(words).merge_dims(-2, -1)

    def __call__(self, texts, pairs=None, **kwargs):
        texts = tf.convert_to_tensor(texts, tf.string)
        if pairs is not None:
            pairs = tf.convert_to_tensor(pairs, tf.string)
        return super().__call__(texts, pairs=pairs, **kwargs)

    def call(self, texts, pairs=None):
        scalar = texts.shape.rank == 0
        if scalar:
            texts = texts[None]
            pairs = None if pairs is None else tf.convert_to_tensor(pairs, tf.string)[None]
        first = self.tokenize(texts)
        budget = self.sequence_length - (2 if pairs is None else 3)
        if pairs is None:
            segments = [first[:, :budget]]
        else:
            second = self.tokenize(pairs)
            segments = _truncate_longest_first(first, second, budget)
        ids, segment_ids = tf_text.combine_segments(segments, self.cls_token_id,
                                                    self.sep_token_id)
        token_ids, padding_mask = tf_text.pad_model_inputs(ids, self.sequence_length,
                                                           pad_value=self.pad_token_id)
        segment_ids, _ = tf_text.pad_model_inputs(segment_ids, self.sequence_length)
        out = {"token_ids": tf.cast(token_ids, tf.int32),
               "segment_ids": tf.cast(segment_ids, tf.int32),
               "padding_mask": tf.cast(padding_mask, tf.int32)}
        return {k: v[0] for k, v in out.items()} if scalar else out

    def compute_output_spec(self, texts, pairs=None):
        shape = (None, self.sequence_length)
        return {k: keras.KerasTensor(shape, "int32") for k in
                ("token_ids", "segment_ids", "padding_mask")}

    # -- offsets ---------------------------------------------------------------------------

    def tokenize_with_offsets(self, texts):
        """WordPiece ids with each piece's character span `[start, end)` in its
        original text, in-graph: the one tokenizer with offsets, for training
        (`qa_features`) and for serving (`tasks.question_answering.QuestionAnsweringSignature`).

        Every character is normalised on its own, as HF's normaliser does (it
        keeps each output character's source), so offsets stay exact where
        normalisation changes lengths (a decomposed accent dropped, "İ"
        lower-cased to two characters, a control character removed): a piece
        spans from the original character of its first normalised character
        to that of its last. The normalised characters are then split and
        WordPiece'd as `tokenize` does, with the same ids.

        Args:
            texts: a Python str, a scalar string tensor, or strings (list or
                1-D tensor).
        Returns:
            (ids, starts, ends): Python lists for a Python str; 1-D tensors for
            a scalar tensor; else RaggedTensors `[batch, (pieces)]` (ids int32,
            offsets int64, in characters, i.e. Unicode code points).
        """
        if isinstance(texts, str):
            return tuple(x[0].numpy().tolist() for x in self.tokenize_with_offsets([texts]))
        texts = tf.convert_to_tensor(texts, tf.string)
        if texts.shape.rank == 0:
            return tuple(x[0] for x in self.tokenize_with_offsets(texts[None]))
        chars = tf.strings.unicode_split(texts, "UTF-8")  # [batch, (chars)]
        normalized = self.normalize(chars.flat_values)  # one string per original char
        # Code points of the normalised texts, each with its original (flat) char
        # and its byte offset in all the normalised texts one after another.
        points = tf.strings.unicode_split(normalized, "UTF-8")
        source = points.value_rowids()
        point_bytes = tf.cumsum(tf.cast(tf.strings.length(points.flat_values), tf.int64),
                                exclusive=True)
        joined = tf.strings.reduce_join(chars.with_flat_values(normalized), axis=-1)
        words, word_starts, word_ends = tf_text.regex_split_with_offsets(
            joined, r"\s+|" + _PUNCT, _PUNCT)
        flat = words.flat_values
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > self.max_chars_per_word
        ids, starts, ends = self.wordpiece.tokenize_with_offsets(
            tf.where(too_long, "[UNK]", flat))
        text_bytes = tf.cumsum(tf.cast(tf.strings.length(joined), tf.int64), exclusive=True)
        word_base = tf.gather(text_bytes, words.value_rowids())
        word = ids.value_rowids()

        def per_piece(values):
            return tf.gather(values, word)

        # An over-long word's [UNK] spans the word.
        long_word = per_piece(too_long)
        first_byte = per_piece(word_base + word_starts.flat_values) + tf.where(
            long_word, tf.zeros_like(starts.flat_values), starts.flat_values)
        end_byte = tf.where(long_word, per_piece(word_base + word_ends.flat_values),
                            per_piece(word_base + word_starts.flat_values) + ends.flat_values)

        def original_char(byte):
            """Index in its text of the original char of the code point holding `byte`."""
            point = tf.searchsorted(point_bytes, byte, side="right") - 1
            text_start = tf.gather(chars.row_splits, per_piece(words.value_rowids()))
            return tf.gather(source, point) - text_start

        splits = tf.gather(ids.row_splits, words.row_splits)

        def per_text(values):
            return tf.RaggedTensor.from_row_splits(values, splits)

        return (per_text(tf.cast(ids.flat_values, tf.int32)), per_text(original_char(first_byte)),
                per_text(original_char(end_byte - 1) + 1))

    # -- persistence -------------------------------------------------------------------------

    def save_to_dir(self, directory):
        """Write vocab.txt and an HF-compatible tokenizer_config.json."""
        tf.io.gfile.makedirs(str(directory))
        write_file(os.path.join(str(directory), "vocab.txt"), "\n".join(self.vocabulary) + "\n")
        config = {"do_lower_case": self.lowercase, "strip_accents": self.strip_accents,
                  "tokenize_chinese_chars": self.tokenize_chinese_chars,
                  "model_max_length": self.sequence_length, "tokenizer_class": "BertTokenizer"}
        write_json(os.path.join(str(directory), "tokenizer_config.json"), config)

    def save_assets(self, dir_path):
        """Keras saving: the vocabulary goes into the .keras file's assets
        (`vocabulary.txt`), not into its config."""
        write_file(os.path.join(dir_path, VOCABULARY_ASSET), "\n".join(self.vocabulary) + "\n")

    def load_assets(self, dir_path):
        path = os.path.join(dir_path, VOCABULARY_ASSET)
        if os.path.exists(path):  # .keras files written before it was an asset: in the config
            self.set_vocabulary(path)
        elif self.vocabulary is None:
            raise ValueError(f"the saved tokenizer has no {VOCABULARY_ASSET} in its assets")

    def get_config(self):
        # The vocabulary is an asset (`save_assets`), as KerasHub's tokenizers keep it.
        return {**super().get_config(), "vocabulary": None,
                "lowercase": self.lowercase, "strip_accents": self.strip_accents,
                "tokenize_chinese_chars": self.tokenize_chinese_chars,
                "sequence_length": self.sequence_length,
                "max_chars_per_word": self.max_chars_per_word}


def _char_offsets(texts, byte_offsets):
    """Byte offsets into `texts` (RaggedTensor `[batch, (n)]`, int64) -> the
    character offsets they fall on: the count of the text's characters that
    start before each byte."""
    _, char_bytes = tf.strings.unicode_decode_with_offsets(texts, "UTF-8")
    base = tf.cumsum(tf.cast(tf.strings.length(texts), tf.int64), exclusive=True)
    # The texts one after another: character starts and offsets in the joined bytes.
    all_chars = char_bytes.flat_values + tf.gather(base, char_bytes.value_rowids())
    rows = byte_offsets.value_rowids()
    joined = tf.cast(byte_offsets.flat_values, tf.int64) + tf.gather(base, rows)
    chars = tf.searchsorted(all_chars, joined, side="left", out_type=tf.int64)
    return byte_offsets.with_flat_values(chars - tf.gather(char_bytes.row_splits, rows))


def _truncate_longest_first(first, second, budget):
    """Cut two ragged segments so their lengths sum to at most `budget`, taking
    tokens from the longer one first (ties from the second), as the reference."""
    l1 = first.row_lengths()
    l2 = second.row_lengths()
    budget = tf.cast(budget, tf.int64)
    k2 = tf.minimum(l2, tf.maximum(budget // 2, budget - l1))
    k1 = tf.minimum(l1, budget - k2)
    return [tf.ragged.boolean_mask(first, tf.ragged.range(l1) < k1[:, None]),
            tf.ragged.boolean_mask(second, tf.ragged.range(l2) < k2[:, None])]

