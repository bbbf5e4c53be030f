"""A WordPiece vocabulary trained on Chinese text (tests/data/chinese,
composed for the project): every character of the corpus is a token of its
own, held-out news sentences tokenize without [UNK], and the casing and
accent rules are those of Hugging Face's BertTokenizer (Chinese BERT's) with
CJK characters untouched."""

import collections

import pytest

from kerasbert.pretraining.chinese_words import has_cjk
from kerasbert.tokenizers.wordpiece_trainer import (common_chinese_characters,
                                                    train_wordpiece_tokenizer,
                                                    train_wordpiece_vocabulary)


@pytest.fixture(scope="module")
def corpus(test_data):
    return test_data / "chinese" / "corpus.txt"


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_wordpiece_tokenizer(3000, files=[str(corpus)])


def test_every_chinese_character_of_the_corpus_is_a_token(corpus, tokenizer):
    counts = collections.Counter(c for c in corpus.read_text(encoding="utf-8") if has_cjk(c))
    vocabulary = tokenizer.get_vocabulary()
    single = {t for t in vocabulary if len(t) == 1 and has_cjk(t)}
    assert single == set(counts) and len(single) >= 500  # the slice's 526 characters
    # CJK characters never continue a word: no ##字 pieces, no multi-character CJK pieces
    assert not [t for t in vocabulary if has_cjk(t) and len(t) > 1]


def test_news_sentences_have_no_unk(test_data, tokenizer):
    news = (test_data / "chinese" / "news.txt").read_text(encoding="utf-8").splitlines()
    assert len(news) == 40
    ids = tokenizer.tokenize(news).to_list()
    assert all(tokenizer.unk_token_id not in row for row in ids)
    # A character the corpus never had is [UNK] ...
    assert tokenizer.tokenize(["鹦鹉"]).to_list() == [[tokenizer.unk_token_id] * 2]


def test_common_characters_are_kept_whether_the_corpus_has_them_or_not(corpus):
    common = common_chinese_characters()
    assert len(common) == 6763 and "鹦" in common and "啊" in common
    vocabulary = train_wordpiece_vocabulary(8000, files=[str(corpus)], characters=common)
    assert set(common) <= set(vocabulary) and len(vocabulary) <= 8000
    from kerasbert import BertTokenizer

    tokenizer = BertTokenizer(vocabulary)
    assert tokenizer.unk_token_id not in tokenizer.tokenize(["画堂鹦鹉鸟"]).to_list()[0]


@pytest.mark.parametrize("lowercase", [True, False])
def test_casing_and_accents_follow_the_reference_and_leave_cjk_alone(corpus, tmp_path,
                                                                      lowercase):
    transformers = pytest.importorskip("transformers")
    text = ["新华社ＢＥＩＪＩＮＧ电 Café crème 在Zürich召开，ÉCOLE 北京大学 Wi-Fi"]
    ours = train_wordpiece_tokenizer(4000, texts=[corpus.read_text(encoding="utf-8")] + text,
                                     lowercase=lowercase)
    ours.save_to_dir(str(tmp_path))
    reference = transformers.BertTokenizer(str(tmp_path / "vocab.txt"), do_lower_case=lowercase)
    expected = reference(text[0], add_special_tokens=False)["input_ids"]
    assert ours.tokenize(text).to_list()[0] == expected
    pieces = [ours.id_to_token(i) for i in expected]
    assert "[UNK]" not in pieces and "华" in pieces and "京" in pieces
    assert ("cafe" in "".join(pieces)) == lowercase  # accents stripped only when lower-casing
    assert ("Zürich" in " ".join(pieces).replace(" ##", "")) == (not lowercase)
