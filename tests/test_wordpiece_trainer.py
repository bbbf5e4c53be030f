"""WordPiece vocabulary training on real text (the SQuAD dev contexts in tests/data): the
vocabulary loads as a preset directory, covers held-out articles with almost no
[UNK], every word joins back to itself, and transformers reads it identically."""

import json

import numpy as np
import pytest
import tensorflow as tf

from kerasbert.tokenizers.bert_tokenizer import BertTokenizer
from kerasbert.tokenizers.wordpiece_trainer import (SPECIAL_TOKENS, train_wordpiece_tokenizer,
                                                    train_wordpiece_vocabulary)

VOCAB_SIZE = 3000
TRAIN_ARTICLES = 6  # of the 8 in tests/data; the last 2 articles are held out


def _contexts(test_data, articles):
    data = json.loads((test_data / "squad" / "dev-v1.1.json").read_text(encoding="utf-8"))
    return [p["context"] for a in data["data"][articles] for p in a["paragraphs"]]


@pytest.fixture(scope="module")
def train_texts(test_data):
    return _contexts(test_data, slice(None, TRAIN_ARTICLES))


@pytest.fixture(scope="module")
def held_out(test_data):
    return _contexts(test_data, slice(TRAIN_ARTICLES, None))


@pytest.fixture(scope="module")
def vocab_dir(train_texts, tmp_path_factory):
    directory = tmp_path_factory.mktemp("wordpiece")
    train_wordpiece_tokenizer(VOCAB_SIZE, texts=train_texts).save_to_dir(directory)
    return directory


def test_vocabulary_loads_as_a_preset_with_specials_first(vocab_dir):
    tokenizer = BertTokenizer.from_preset(str(vocab_dir))
    vocabulary = tokenizer.get_vocabulary()
    assert len(vocabulary) == VOCAB_SIZE == len(set(vocabulary))
    assert vocabulary[:5] == list(SPECIAL_TOKENS)
    assert tokenizer.lowercase and tokenizer.mask_token_id == 4
    assert not any(t != t.lower() for t in vocabulary[5:])


def test_held_out_text_has_few_unknowns_and_every_word_round_trips(vocab_dir, train_texts,
                                                                   held_out):
    tokenizer = BertTokenizer.from_preset(str(vocab_dir))
    words = tokenizer.split_words(tf.constant(held_out)).flat_values
    pieces = tokenizer.tokenize(words).to_list()  # one row of piece ids per word
    words = [w.decode("utf-8") for w in words.numpy()]
    seen_chars = set(b"".join(tokenizer.split_words(
        tf.constant(train_texts)).flat_values.numpy()).decode("utf-8"))
    unknown = 0
    for word, ids in zip(words, pieces):
        if tokenizer.unk_token_id in ids:
            unknown += 1
            assert set(word) - seen_chars, f"{word!r} is [UNK] though all its characters are known"
            continue
        text = "".join(tokenizer.id_to_token(i).removeprefix("##") if n else
                       tokenizer.id_to_token(i) for n, i in enumerate(ids))
        assert text == word
        assert all(tokenizer.id_to_token(i).startswith("##") for i in ids[1:])
    flat = np.concatenate([np.asarray(ids) for ids in pieces])
    assert len(words) > 10000
    assert (flat == tokenizer.unk_token_id).mean() < 1e-3
    assert len(flat) / len(words) < 1.8  # real sub-words, not characters


def test_transformers_reads_the_vocabulary_identically(vocab_dir, held_out):
    from transformers import BertTokenizerFast

    ours = BertTokenizer.from_preset(str(vocab_dir)).tokenize(held_out[:300]).to_list()
    reference = BertTokenizerFast.from_pretrained(str(vocab_dir))
    theirs = [reference(text, add_special_tokens=False)["input_ids"] for text in held_out[:300]]
    assert ours == theirs


def test_cased_vocabulary_from_files_matches_the_same_texts(train_texts, tmp_path):
    texts = train_texts[:300]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
    from_files = train_wordpiece_vocabulary(1500, files=[corpus], lowercase=False)
    assert from_files == train_wordpiece_vocabulary(1500, texts=iter(texts), lowercase=False)
    assert len(from_files) == 1500 and "The" in from_files
    tokenizer = BertTokenizer(from_files, lowercase=False)
    tokenizer.save_to_dir(tmp_path / "cased")
    loaded = BertTokenizer.from_preset(str(tmp_path / "cased"))
    assert not loaded.lowercase and not loaded.strip_accents
    assert loaded.tokenize(["The Normans"]).to_list() == tokenizer.tokenize(
        ["The Normans"]).to_list()


def test_too_small_a_vocabulary_says_why(train_texts):
    with pytest.raises(ValueError, match="vocab_size 100 is below"):
        train_wordpiece_vocabulary(100, texts=train_texts[:200])
