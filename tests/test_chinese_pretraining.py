"""Chinese whole-word masking on Chinese text (tests/data/chinese, composed for
the project): the masked tokens always cover whole jieba words (checked
against `jieba.lcut` of the corpus sentences), in the local sharded
preparation and in the Beam pipeline; English data is written as before;
`kerasbert.pretrain --whole_word_masking --chinese_characters` runs end to
end; without jieba the program says how to install it."""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from kerasbert.pretraining import sharded_data
from kerasbert.tasks.masking import BertMasker
from kerasbert.pretraining.pretraining_data import pretraining_dataset
from kerasbert.tokenizers.wordpiece_trainer import train_wordpiece_tokenizer

jieba = pytest.importorskip("jieba", reason="the zh extra (jieba) is not installed")

SEQ = 64
QUIET = dict(log=lambda *a: None)


@pytest.fixture(scope="module")
def corpus(test_data):
    return test_data / "chinese" / "corpus.txt"


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_wordpiece_tokenizer(3000, files=[str(corpus)], sequence_length=SEQ)


@pytest.fixture(scope="module")
def prepared(corpus, tokenizer, tmp_path_factory):
    """The corpus prepared locally with Chinese words marked, 2 input shards,
    without next-sentence prediction (segments are then runs of whole sentences)."""
    directory = tmp_path_factory.mktemp("zh_local")
    data = sharded_data.prepare_sharded(directory, corpus, tokenizer, SEQ, next_sentence=False,
                                        shard_size_mb=0.07, chinese_words=True, **QUIET)
    return directory, data


@pytest.fixture(scope="module")
def jieba_words(corpus):
    """(lower-cased corpus text, the jieba word index of each of its characters):
    every sentence segmented by `jieba.lcut` on its own, then all joined."""
    text, owner = [], []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        if line.strip():
            for word in jieba.lcut(line.strip()):
                owner += [len(text)] * len(word)
                text.append(word)
    return "".join(text).lower(), np.array(owner)


def _masked_batches(files, tokenizer, whole_word, epochs=2):
    masker = BertMasker.from_tokenizer(tokenizer, masked_lm_prob=0.3, max_predictions=20,
                                       whole_word=whole_word)
    for epoch in range(epochs):
        dataset = pretraining_dataset(files, SEQ, 32, masker, next_sentence=False, epoch=epoch,
                                      seed=3, shuffle=False, drop_remainder=False)
        for features, labels in dataset:
            yield features, labels


def _word_checks(files, tokenizer, jieba_words, whole_word):
    """(jieba words of 2+ tokens seen whole in the records, of them fully
    masked, partly masked) over two epochs of masks."""
    text, owner = jieba_words
    vocabulary = tokenizer.get_vocabulary()
    seen = full = partial = 0
    for features, labels in _masked_batches(files, tokenizer, whole_word):
        positions = features["masked_positions"].numpy()
        weights = labels["masked_weights"].numpy()
        # the original tokens: masked positions hold the labels
        ids = features["token_ids"].numpy().copy()
        ids[np.arange(len(ids))[:, None], positions] = np.where(
            weights > 0, labels["masked_ids"].numpy(), ids[np.arange(len(ids))[:, None],
                                                            positions])
        for row in range(len(ids)):
            length = int(features["padding_mask"][row].numpy().sum())
            pieces = [vocabulary[i].removeprefix("##") for i in ids[row, 1:length - 1]]
            assert "[UNK]" not in pieces
            segment = "".join(pieces)
            at = text.find(segment)
            assert at >= 0, segment
            starts = at + np.cumsum([0] + [len(p) for p in pieces[:-1]])
            token_word = owner[starts]
            masked = np.zeros(length - 2, bool)
            masked[positions[row][weights[row] > 0] - 1] = True
            for word in np.unique(token_word):
                in_word = masked[token_word == word]
                edge = word in (owner[at], owner[at + len(segment) - 1])
                if len(in_word) < 2 or edge:  # a word cut by truncation is not whole here
                    continue
                seen += 1
                full += in_word.all()
                partial += in_word.any() and not in_word.all()
    return seen, full, partial


def test_masks_cover_whole_jieba_words(prepared, tokenizer, jieba_words):
    directory, data = prepared
    files = data.train_files + data.eval_files
    seen, full, partial = _word_checks(files, tokenizer, jieba_words, whole_word=True)
    assert seen > 2000 and full > 200 and partial == 0
    # The same records masked token by token split words: the check can fail.
    seen, full, partial = _word_checks(files, tokenizer, jieba_words, whole_word=False)
    assert partial > 100
    settings = json.loads((directory / sharded_data.SETTINGS_FILE).read_text())["settings"]
    assert settings["chinese_words"] == "jieba"


def test_the_beam_pipeline_marks_the_same_words(prepared, corpus, tokenizer, tmp_path):
    pytest.importorskip("apache_beam", reason="the beam extra is not installed")
    from kerasbert.pretraining.beam_pipeline import prepare_with_beam

    _, local = prepared
    beam = prepare_with_beam(tmp_path, corpus, tokenizer, SEQ, next_sentence=False,
                             shard_size_mb=0.07, chinese_words=True, **QUIET)
    assert len(beam.train_files) == 2
    for ours, theirs in zip(local.train_files + local.eval_files,
                            beam.train_files + beam.eval_files):
        with open(ours, "rb") as a, open(theirs, "rb") as b:
            assert a.read() == b.read()
    records = [tf.train.Example.FromString(r.numpy())
               for r in tf.data.TFRecordDataset(beam.train_files).take(50)]
    assert sum("word_continues" in r.features.feature for r in records) >= 45


def test_english_records_do_not_change(test_data, tmp_path):
    """Preparing English text for whole-word masking writes the same records
    as before: jieba only marks sentences holding CJK characters."""
    from kerasbert import BertTokenizer
    from kerasbert.pretraining.corpus import write_text_corpus

    squad = json.loads((test_data / "squad" / "dev-v1.1.json").read_text(encoding="utf-8"))
    write_text_corpus([p["context"] for p in squad["data"][0]["paragraphs"]],
                      tmp_path / "en.txt")
    tokenizer = BertTokenizer(str(test_data / "checkpoints/bert_uncased_L-4_H-256_A-4/vocab.txt"),
                              sequence_length=SEQ)
    written = {}
    for marked in (False, True):
        data = sharded_data.prepare_sharded(tmp_path / str(marked), tmp_path / "en.txt",
                                            tokenizer, SEQ, chinese_words=marked, **QUIET)
        written[marked] = [open(f, "rb").read() for f in data.train_files + data.eval_files]
    assert written[True] == written[False] and len(written[True][0]) > 10_000


def _cli_args(corpus, out_dir):
    return [f"--train_data={corpus}", f"--output_dir={out_dir}", "--vocab_size=1500",
            "--num_layers=1", "--hidden_size=32", "--num_heads=2", "--intermediate_size=64",
            "--max_seq_length=64", "--max_predictions_per_seq=10", "--whole_word_masking",
            "--batch_size=16", "--max_steps=4", "--max_eval_examples=32", "--verbose=0"]


def test_cli_pretrains_with_chinese_whole_word_masking(corpus, tmp_path, capsys):
    from absl import flags

    from kerasbert.cli import pretrain as cli

    out_dir = tmp_path / "zh_bert"
    fv = flags.FlagValues()
    cli.define_flags(fv)
    args = ["kerasbert.pretrain", *_cli_args(corpus, out_dir), "--chinese_characters"]
    assert cli._pretrain(cli.parse(args, fv)) == 0
    assert "held-out masked-LM:" in capsys.readouterr().out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["masking"]["whole_word"] and metrics["steps"] == 4
    assert np.isfinite(metrics["after"]["mlm_loss"])
    data_dir = out_dir / "pretraining_data"
    assert json.loads((data_dir / sharded_data.SETTINGS_FILE).read_text())[
        "settings"]["chinese_words"] == "jieba"
    # --chinese_characters: GB 2312's characters too, those the corpus lacks included
    vocabulary = set((out_dir / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert {"新", "华", "社", "鹦", "鹉", "翱", "糅"} <= vocabulary
    assert "鹦" not in corpus.read_text(encoding="utf-8")
    assert 6763 < len(vocabulary) <= 6763 + 1500


def test_cli_without_jieba_says_how_to_install_it(corpus, tmp_path, monkeypatch, capsys):
    from kerasbert.cli import pretrain as cli
    from kerasbert.cli.flags import run_main

    monkeypatch.setitem(sys.modules, "jieba", None)  # `import jieba` raises ImportError
    with pytest.raises(SystemExit) as exit_:
        run_main(cli.main, ["kerasbert.pretrain", *_cli_args(corpus, tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2
    assert len(err.splitlines()) == 1 and "pip install kerasbert[zh]" in err, err
    assert not os.path.exists(tmp_path / "out" / "metrics.json")
