"""Word tags <-> WordPiece sub-tokens on every sentence of the English NER
validation file (CoNLL-2003's layout, tests/data/english_ner), with the real
BertTokenizer."""

import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from kerasbert.data.conll import read_conll
from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.ner_alignment import align_tags
from kerasbert.data.ner_alignment import tagging_dataset
from kerasbert.data.ner_alignment import word_tags
from kerasbert.data.pipeline import IGNORE_INDEX
from kerasbert.tokenizers.bert_tokenizer import BertTokenizer


@pytest.fixture(scope="module")
def valid(test_data):
    return read_conll(test_data / "english_ner/valid.txt")


@pytest.fixture(scope="module")
def tags(test_data):
    return LabelVocabulary.from_examples(read_conll(test_data / "english_ner/train.txt"))


def _normalized(word):
    """What an uncased BERT vocabulary can give back of a word: lower case,
    accents stripped."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _case_marker(word):
    """The marker `align_tags(case_markers=True)` must put before `word`, or None."""
    if sum(c.isupper() for c in word) >= 2 and not any(c.islower() for c in word):
        return "[unused1]"
    return "[unused0]" if word[0].isupper() else None


@pytest.mark.parametrize("case_markers", [False, True])
def test_every_valid_sentence_round_trips_words_and_tags(valid, tags, case_markers):
    tokenizer = BertTokenizer.from_preset("all_minilm_l6_v2", sequence_length=256)
    vocab = tokenizer.get_vocabulary()
    # In input order: "bucket" mode sorts each chunk by length. 125 divides the 500
    # sentences, so "static" mode drops none.
    assert len(valid) == 500
    dataset = tagging_dataset(valid, tokenizer, tags, batch_size=125, mode="static",
                              keep_word_ids=True, case_markers=case_markers)
    markers = 0
    seen = unknown_words = 0
    for features, labels in dataset.as_numpy_iterator():
        for ids, word_ids, label_ids in zip(features["token_ids"], features["word_ids"], labels):
            sentence = valid[seen]
            seen += 1
            assert word_tags(label_ids, word_ids, len(sentence.words)) == [
                tags.encode(t) for t in sentence.tags]
            # Only each word's first sub-token is scored.
            first = np.r_[True, word_ids[1:] != word_ids[:-1]] & (word_ids >= 0)
            assert ((label_ids != IGNORE_INDEX) == first).all()
            for w, word in enumerate(sentence.words):
                before = vocab[ids[np.argmax(word_ids == w) - 1]]
                expected = _case_marker(word) if case_markers else None
                assert (before if before.startswith("[unused") else None) == expected, word
                markers += expected is not None
                pieces = [vocab[i] for i in ids[word_ids == w]]
                if "[UNK]" in pieces:
                    unknown_words += 1
                    continue
                text = "".join(p[2:] if p.startswith("##") else p for p in pieces)
                assert text == _normalized(word), (sentence.line, word, pieces)
    assert seen == len(valid)
    if case_markers:  # the markers carry no tag and belong to no word
        assert markers > 1500, markers
    # The uncased vocabulary covers nearly every word.
    assert unknown_words < 10, unknown_words


def test_static_mode_shapes_and_truncation(valid, tags):
    tokenizer = BertTokenizer.from_preset("all_minilm_l6_v2", sequence_length=32)
    dataset = tagging_dataset(valid, tokenizer, tags, batch_size=64, mode="static",
                              keep_word_ids=True)
    features, labels = dataset.element_spec
    assert labels.shape.as_list() == [64, 32]
    assert all(s.shape.as_list() == [64, 32] for s in features.values())
    features, labels = next(dataset.as_numpy_iterator())
    for row, sentence in enumerate(valid[:64]):
        tags_back = word_tags(labels[row], features["word_ids"][row], len(sentence.words))
        kept = [t for t in tags_back if t is not None]
        # Cut sentences keep a prefix of their words, all tags correct.
        assert kept == [tags.encode(t) for t in sentence.tags[:len(kept)]]
        assert tags_back[len(kept):] == [None] * (len(sentence.words) - len(kept))
        assert features["token_ids"][row][0] == tokenizer.cls_token_id


def test_a_word_with_no_wordpiece_keeps_its_tag():
    tokenizer = BertTokenizer.from_preset("all_minilm_l6_v2", sequence_length=16)
    words = tf.ragged.constant([["Hello", "\u200b", "Paris"]])
    out = align_tags(tokenizer, words, tf.ragged.constant([[0, 1, 2]]), 16)
    assert word_tags(out["labels"][0].numpy(), out["word_ids"][0].numpy(), 3) == [0, 1, 2]
