"""The tokenizer against transformers' BertTokenizer on real text."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from transformers import BertTokenizerFast

from kerasbert import BertTokenizer
from kerasbert.checkpoints.sources import vocabulary_file
from tests.reference import sst2_sentences

ODD = ["Héllo Ωmega ﬁne ＡＢＣ wörld\x07 tab\there\u00a0nbsp 中文字符 😀 " + "x" * 150,
       "İstanbul ß straße", "naïve café résumé", "北京欢迎你，上海也是。", "a\u200bb zero\ufffdwidth",
       "ΟΔΟΣ ΣΟΦΟΣ. cafe\u0301 na\u0308ive x\u00adyz"]


@pytest.fixture(scope="module")
def vocab():
    return str(vocabulary_file("all_minilm_l6_v2"))


def _conll_sentences(test_data):
    sentences, words = [], []
    for line in (test_data / "english_ner" / "valid.txt").read_text().splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sentences.append(" ".join(words))
            words = []
        else:
            words.append(line.split(" ")[0])
    return sentences + ([" ".join(words)] if words else [])


@pytest.fixture(scope="module")
def squad(test_data):
    return json.loads((test_data / "squad" / "dev-v1.1.json").read_text())


@pytest.mark.parametrize("lowercase", [True, False])
def test_single_texts_identical_to_transformers(vocab, test_data, squad, lowercase):
    contexts = [p["context"] for a in squad["data"] for p in a["paragraphs"]][:200]
    ours = BertTokenizer(vocab, lowercase=lowercase, sequence_length=512)
    ref = BertTokenizerFast(vocab=vocab, do_lower_case=lowercase)
    texts = sst2_sentences(test_data, "dev") + _conll_sentences(test_data) + contexts + ODD
    assert len(texts) == 872 + 500 + 200 + len(ODD)
    for start in range(0, len(texts), 512):
        chunk = texts[start:start + 512]
        got = ours(chunk)
        want = ref(chunk, padding="max_length", max_length=512, truncation=True,
                   return_tensors="np")
        np.testing.assert_array_equal(got["token_ids"].numpy(), want["input_ids"])
        np.testing.assert_array_equal(got["padding_mask"].numpy(), want["attention_mask"])
        np.testing.assert_array_equal(got["segment_ids"].numpy(), want["token_type_ids"])


def test_pairs_truncate_longest_first_like_transformers(vocab, squad):
    pairs = [(qa["question"], p["context"]) for a in squad["data"][:3]
             for p in a["paragraphs"][:10] for qa in p["qas"][:2]]
    ours = BertTokenizer(vocab, sequence_length=96)
    ref = BertTokenizerFast(vocab=vocab)
    got = ours([q for q, _ in pairs], [c for _, c in pairs])
    # Swap the order too, so either side is the longer one.
    got_swapped = ours([c for _, c in pairs], [q for q, _ in pairs])
    for result, (a, b) in ((got, zip(*pairs)), (got_swapped, list(zip(*pairs))[::-1])):
        want = ref(list(a), list(b), padding="max_length", max_length=96,
                   truncation="longest_first", return_tensors="np")
        np.testing.assert_array_equal(result["token_ids"].numpy(), want["input_ids"])
        np.testing.assert_array_equal(result["segment_ids"].numpy(), want["token_type_ids"])


@pytest.mark.parametrize("lowercase", [True, False])
def test_offsets_match_transformers_on_squad_contexts(vocab, squad, lowercase):
    ours = BertTokenizer(vocab, lowercase=lowercase)
    ref = BertTokenizerFast(vocab=vocab, do_lower_case=lowercase)
    for paragraph in squad["data"][0]["paragraphs"][:20] + [{"context": t} for t in ODD]:
        ids, starts, ends = ours.tokenize_with_offsets(paragraph["context"])
        want = ref(paragraph["context"], add_special_tokens=False, return_offsets_mapping=True)
        assert ids == want["input_ids"]
        assert list(zip(starts, ends)) == [tuple(o) for o in want["offset_mapping"]]


def test_runs_in_tf_data_on_scalars(vocab):
    tokenizer = BertTokenizer(vocab, sequence_length=16)
    dataset = tf.data.Dataset.from_tensor_slices(["a fine film", "dull"]).map(tokenizer)
    first = next(iter(dataset))
    assert first["token_ids"].shape == (16,)
    np.testing.assert_array_equal(first["token_ids"].numpy(),
                                  tokenizer(["a fine film"])["token_ids"].numpy()[0])


def test_saved_model_tokenizes_in_a_fresh_process(vocab, tmp_path):
    tokenizer = BertTokenizer(vocab, sequence_length=12)
    module = tf.Module()
    module.tokenizer = tokenizer
    module.serve = tf.function(lambda text: tokenizer(text),
                               input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path))
    code = ("import sys, tensorflow as tf, tensorflow_text\n"
            "m = tf.saved_model.load(sys.argv[1])\n"
            "print(m.serve(tf.constant(['A fine film!']))['token_ids'].numpy().tolist())")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, check=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""})
    assert json.loads(out.stdout.strip().splitlines()[-1]) == \
        tokenizer(["A fine film!"])["token_ids"].numpy().tolist()


def test_save_and_reload_directory(vocab, tmp_path):
    BertTokenizer(vocab, lowercase=False).save_to_dir(tmp_path)
    loaded = BertTokenizer.from_preset(tmp_path)
    assert loaded.lowercase is False and loaded.vocabulary_size == 30522
    with pytest.raises(FileNotFoundError, match="no vocab.txt"):
        BertTokenizer.from_preset(tmp_path / "missing")
