"""Streaming, sharded preparation of pretraining data on real text (SQuAD dev
contexts, a document per paragraph, the BERT uncased vocabulary): shards read
exactly the corpus' documents, one shard gives the in-memory instances, two
worker processes and the Beam DirectRunner write the same files as one
process, an interrupted preparation resumes, other settings are refused."""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from kerasbert import BertTokenizer
from kerasbert.data.errors import DataError
from kerasbert.data.text_corpus import read_text_corpus
from kerasbert.pretraining import sharded_data
from kerasbert.pretraining.corpus import write_text_corpus
from kerasbert.pretraining.pretraining_data import (create_instances, parse_batch,
                                                    serialize_instance, tokenize_documents)

SEQ = 64
SHARD_MB = 0.08  # the corpus below (0.30 MB) in 4 input shards
QUIET = dict(log=lambda *a: None)


@pytest.fixture(scope="module")
def corpus(test_data, tmp_path_factory):
    """Two corpus files in a folder: a document per SQuAD paragraph (the 8 articles
    in tests/data, 4 a file)."""
    data = json.loads((test_data / "squad" / "dev-v1.1.json").read_text(encoding="utf-8"))
    paragraphs = [[p["context"] for p in a["paragraphs"]] for a in data["data"][:8]]
    directory = tmp_path_factory.mktemp("corpus")
    write_text_corpus([p for a in paragraphs[:4] for p in a], directory / "part-a.txt")
    write_text_corpus([p for a in paragraphs[4:] for p in a], directory / "part-b.txt")
    return directory


@pytest.fixture(scope="module")
def tokenizer(test_data):
    return BertTokenizer(str(test_data / "checkpoints/bert_uncased_L-4_H-256_A-4/vocab.txt"),
                         sequence_length=SEQ)


@pytest.fixture(scope="module")
def one_worker(corpus, tokenizer, tmp_path_factory):
    """The corpus folder prepared in this process, 4 input shards."""
    directory = tmp_path_factory.mktemp("one_worker")
    data = sharded_data.prepare_sharded(directory, corpus, tokenizer, SEQ,
                                        shard_size_mb=SHARD_MB, **QUIET)
    return directory, data


def _bytes(files):
    return {os.path.basename(f): open(f, "rb").read() for f in files}


def _records(files):
    batches = [parse_batch(b, SEQ) for b in tf.data.TFRecordDataset(list(files)).batch(512)]
    return {k: np.concatenate([b[k].numpy() for b in batches]) for k in batches[0]}


def test_shards_read_exactly_the_documents_of_the_corpus(corpus, tmp_path):
    # Awkward layout: a byte-order mark, CRLF lines, runs of blank and
    # whitespace-only lines, a file without a final newline.
    odd = tmp_path / "odd.txt"
    # Unicode white space alone on a line is a blank line too, as the reader sees it.
    odd.write_bytes(b"\xef\xbb\xbf\n\nFirst one.\r\nSecond one.\r\n \r\n\t\n\n"
                    + b"".join(b"Doc %d sentence %d.\n" % (d, s) + (
                        ("\u3000\n" if d % 3 else "\n").encode() if s == 2 else b"")
                               for d in range(40) for s in range(3)) + b"last\nlines")
    for pattern in (str(corpus), str(corpus / "*.txt"), str(odd)):
        files = sharded_data.list_input_files(pattern)
        expected = [d for f in files for d in read_text_corpus(f)]
        fingerprint = sharded_data.input_fingerprint(files)
        total = sum(size for _, size, _ in fingerprint)
        for shard_mb in (total / 1e6 * 2, total / 1e6 / 3, 0.002, 0.00005):
            shards = sharded_data.plan_shards(fingerprint, shard_mb)
            assert (len(shards) == 1) == (shard_mb * 1e6 >= total)
            documents = [d for s in shards for d in sharded_data.iter_shard_documents(s)]
            assert documents == expected, (pattern, shard_mb)
    assert read_text_corpus(str(odd))[0] == ["First one.", "Second one."]
    assert len(read_text_corpus(str(odd))) == 42


def test_an_undecodable_line_is_named_by_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"Fine.\n\nAlso fine.\nBroken \xff here.\n")
    shard = sharded_data.plan_shards(sharded_data.input_fingerprint([str(bad)]))[0]
    with pytest.raises(DataError, match=r"bad.txt, line 4, field 'sentence': bytes that are "
                       r"not valid utf-8.*--encoding"):
        list(sharded_data.iter_shard_documents(shard))
    with pytest.raises(FileNotFoundError, match="no such file, folder or files matching"):
        sharded_data.list_input_files(str(tmp_path / "none-*.txt"))


def test_one_shard_gives_the_in_memory_instances(corpus, tokenizer, tmp_path):
    path = str(corpus / "part-a.txt")
    data = sharded_data.prepare_sharded(tmp_path, path, tokenizer, SEQ, seed=5, **QUIET)
    assert len(data.train_files) == len(data.eval_files) == 1
    documents = read_text_corpus(path)
    held = max(2, round(len(documents) * 0.05))
    for files, docs, seed in ((data.train_files, documents[:-held], 5),
                              (data.eval_files, documents[-held:], 6)):
        expected = create_instances(tokenize_documents(docs, tokenizer), SEQ, seed=seed)
        written = [r.numpy() for r in tf.data.TFRecordDataset(files)]
        assert written == [serialize_instance(i, SEQ, tokenizer) for i in expected]
    assert data.num_train > 500


def test_shards_keep_next_sentence_labels_half_random(one_worker, corpus):
    directory, data = one_worker
    assert len(data.train_files) == len(data.eval_files) == 4
    records = _records(data.train_files)
    assert len(records["token_ids"]) == data.num_train > 1000
    assert abs(records["next_sentence_labels"].mean() - 0.5) < 0.03
    settings = json.loads((directory / sharded_data.SETTINGS_FILE).read_text())
    assert settings["complete"] and settings["settings"]["max_seq_length"] == SEQ
    assert [f for f, _, _ in settings["settings"]["train_data"]] == [
        str(corpus / "part-a.txt"), str(corpus / "part-b.txt")]


def test_two_worker_processes_write_what_one_process_writes(one_worker, corpus, tokenizer,
                                                            tmp_path):
    directory, data = one_worker
    two = sharded_data.prepare_sharded(tmp_path, corpus, tokenizer, SEQ, shard_size_mb=SHARD_MB,
                                       num_workers=2, **QUIET)
    assert (two.num_train, two.num_eval) == (data.num_train, data.num_eval)
    assert _bytes(two.train_files + two.eval_files) == _bytes(data.train_files + data.eval_files)


def test_an_interrupted_preparation_resumes_without_redoing_finished_shards(
        one_worker, corpus, tokenizer, tmp_path):
    _, data = one_worker
    first = sharded_data.prepare_sharded(tmp_path, corpus, tokenizer, SEQ,
                                         shard_size_mb=SHARD_MB, **QUIET)
    # As a kill during shard 2 leaves it: no marker, a partial file, no complete flag.
    os.remove(tmp_path / "train-00002-of-00004.json")
    os.remove(tmp_path / "train-00002-of-00004.tfrecord")
    (tmp_path / "train-00002-of-00004.tfrecord.partial-99").write_bytes(b"half")
    settings = json.loads((tmp_path / sharded_data.SETTINGS_FILE).read_text())
    (tmp_path / sharded_data.SETTINGS_FILE).write_text(json.dumps(
        {"settings": settings["settings"], "complete": False}))
    stamps = {f: os.stat(f).st_mtime_ns for f in first.train_files if "00002" not in f}
    lines = []
    again = sharded_data.prepare_sharded(tmp_path, corpus, tokenizer, SEQ,
                                         shard_size_mb=SHARD_MB, log=lines.append)
    assert "resuming: 3 of 4 shard(s) already prepared" in lines
    assert stamps == {f: os.stat(f).st_mtime_ns for f in stamps}  # not written again
    assert not list(tmp_path.glob("*.partial-*"))
    assert _bytes(again.train_files + again.eval_files) == _bytes(data.train_files +
                                                                  data.eval_files)
    # Finished: a further call reads the record, prepares nothing.
    lines = []
    sharded_data.prepare_sharded(tmp_path, corpus, tokenizer, SEQ, shard_size_mb=SHARD_MB,
                                 log=lines.append)
    assert lines == [f"reusing the pretraining data in {tmp_path} ({data.num_train} train, "
                     f"{data.num_eval} held-out instances)"]


def test_other_settings_are_refused_and_overwrite_prepares_afresh(one_worker, corpus, tokenizer,
                                                                  tmp_path):
    _, data = one_worker
    sharded_data.prepare_sharded(tmp_path, corpus, tokenizer, SEQ, shard_size_mb=SHARD_MB,
                                 **QUIET)
    before = _bytes(sorted(str(p) for p in tmp_path.iterdir()))
    for change, message in ((dict(seed=1), "seed=12345 there, 1 now"),
                            (dict(shard_size_mb=1.0), f"shard_size_mb={SHARD_MB} there, 1.0 now"),
                            (dict(train_data=str(corpus / "part-a.txt")),
                             "train_data: other files")):
        arguments = {"shard_size_mb": SHARD_MB, "train_data": corpus, **change}
        with pytest.raises(ValueError, match=f"other settings \\(.*{message}.*--overwrite"):
            sharded_data.prepare_sharded(tmp_path, tokenizer=tokenizer, max_seq_length=SEQ,
                                         **arguments, **QUIET)
    assert _bytes(sorted(str(p) for p in tmp_path.iterdir())) == before  # nothing touched
    fresh = sharded_data.prepare_sharded(tmp_path, corpus, tokenizer, SEQ, shard_size_mb=1.0,
                                         overwrite=True, **QUIET)
    assert len(fresh.train_files) == 1 and sorted(p.name for p in tmp_path.iterdir()) == [
        "eval-00000-of-00001.tfrecord", sharded_data.SETTINGS_FILE, "tokenizer_config.json",
        "train-00000-of-00001.json", "train-00000-of-00001.tfrecord", "vocab.txt"]
    # The vocabulary beside the data is the one it was tokenized with.
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines() == (
        tokenizer.get_vocabulary())
    # TFRecords of unknown origin are not replaced either.
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "mine.tfrecord").write_bytes(b"")
    with pytest.raises(ValueError, match="holds TFRecord files but no pretraining_data.json"):
        sharded_data.prepare_sharded(stray, corpus, tokenizer, SEQ, **QUIET)


def test_the_beam_pipeline_writes_the_same_instances(one_worker, corpus, tokenizer, tmp_path):
    pytest.importorskip("apache_beam", reason="the beam extra is not installed")
    from kerasbert.pretraining.beam_pipeline import prepare_with_beam

    _, data = one_worker
    beam = prepare_with_beam(tmp_path, corpus, tokenizer, SEQ, shard_size_mb=SHARD_MB,
                             runner="DirectRunner", **QUIET)
    assert (beam.num_train, beam.num_eval) == (data.num_train, data.num_eval)
    assert _bytes(beam.train_files + beam.eval_files) == _bytes(data.train_files +
                                                                data.eval_files)
    # The local path then reads the Beam run's output as its own.
    lines = []
    local = sharded_data.prepare_sharded(tmp_path, corpus, tokenizer, SEQ,
                                         shard_size_mb=SHARD_MB, log=lines.append)
    assert local == beam and lines[0].startswith("reusing the pretraining data")


def test_cli_prepare_only_stops_there_and_other_settings_are_a_one_line_error(
        corpus, tmp_path, capsys):
    # (a later run training on the prepared shards with their corpus: test_pretraining's
    # CLI test; here, one without it)
    import shutil

    from absl import flags

    from kerasbert.cli import pretrain as cli
    from kerasbert.cli.flags import run_main

    out = tmp_path / "run"
    text = tmp_path / "corpus"
    shutil.copytree(corpus, text)
    args = ["kerasbert.pretrain", f"--train_data={text}/*.txt", f"--output_dir={out}",
            "--vocab_size=800", "--verbose=0", f"--shard_size_mb={SHARD_MB}", "--prepare_only"]

    def main(argv):  # the program's parse and run, in this process
        fv = flags.FlagValues()
        cli.define_flags(fv)
        return cli.run(cli.parse(argv, fv))

    main.__module__ = cli.__name__
    prepared = main(args + [f"--max_seq_length={SEQ}"])
    assert prepared["prepared_only"] and len(prepared["train_files"]) == 4
    assert sorted(p.name for p in out.iterdir()) == [
        "pretraining_data", "tokenizer_config.json", "vocab.txt", "vocab_training.json"]
    stamps = {f: os.stat(f).st_mtime_ns for f in prepared["train_files"]}
    # Other settings into the same place: one line, exit code 2, nothing lost.
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        run_main(main, args + ["--max_seq_length=32"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exited.value.code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("kerasbert.pretrain: error: ") and (
        "max_seq_length=64 there, 32 now" in lines[0] and "--overwrite" in lines[0])
    assert stamps == {f: os.stat(f).st_mtime_ns for f in stamps}

    # The corpus gone, a later run given only --data_dir pretrains on the prepared
    # files (from scratch, with the vocabulary stored beside them), elsewhere.
    shutil.rmtree(text)
    data_dir, trained = out / "pretraining_data", tmp_path / "trained"
    later = ["kerasbert.pretrain", f"--data_dir={data_dir}", f"--output_dir={trained}",
             "--num_layers=1", "--hidden_size=32", "--num_heads=2", "--intermediate_size=64",
             "--batch_size=16", "--max_steps=2", "--max_eval_examples=32", "--verbose=0"]
    metrics = main(later + [f"--max_seq_length={SEQ}"])
    assert metrics["steps"] == 2 and metrics["from_scratch"]
    assert (metrics["train_instances"], metrics["eval_instances"]) == (
        prepared["train_instances"], prepared["eval_instances"])
    assert (trained / "vocab.txt").read_text() == (out / "vocab.txt").read_text()
    assert stamps == {f: os.stat(f).st_mtime_ns for f in stamps}
    # Continued from a model whose vocabulary is the data's (the encoder just written).
    common = [f"--data_dir={data_dir}", f"--max_seq_length={SEQ}", "--batch_size=16",
              "--max_steps=1", "--max_eval_examples=16", "--verbose=0"]
    continued = main(["kerasbert.pretrain", f"--model={trained}",
                      f"--output_dir={tmp_path / 'continued'}", *common])
    assert continued["steps"] == 1 and not continued["from_scratch"]
    # What cannot work without the corpus is one line, exit code 2.
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv, message in [
            (later + ["--max_seq_length=32"],
             f"{data_dir} was prepared with max_seq_length=64, not 32"),
            (later + [f"--max_seq_length={SEQ}", "--prepare_only"],
             "--prepare_only needs --train_data"),
            ([a.replace(str(data_dir), str(empty)) for a in later],
             f"--data_dir: {empty} holds no prepared pretraining data"),
            (["kerasbert.pretrain", "--model=all_minilm_l6_v2", f"--output_dir={empty}",
              *common], "was tokenized with another vocabulary or casing than "
                        "all_minilm_l6_v2's"),
            (["kerasbert.pretrain", f"--output_dir={trained}"], "--train_data is required")]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            run_main(main, argv)
        lines = capsys.readouterr().err.strip().splitlines()
        assert exited.value.code == 2 and len(lines) == 1 and message in lines[0], lines


@pytest.mark.parametrize("args,message", [
    (["--train_data=/nonexistent/*.txt"], "--train_data: /nonexistent/*.txt: no such file"),
    (["--shard_size_mb=0"], "--shard_size_mb must be > 0"),
    (["--num_workers=0"], "--num_workers must be >= 1"),
    (["--beam_options=--project=p"], "--beam_options needs --beam_runner"),
])
def test_bad_preparation_flags_are_usage_errors(corpus, tmp_path, args, message):
    from absl import flags

    from kerasbert.cli import pretrain as cli
    from kerasbert.cli.flags import UsageError

    fv = flags.FlagValues()
    cli.define_flags(fv)
    argv = ["kerasbert.pretrain", f"--train_data={corpus}", f"--output_dir={tmp_path}", *args]
    with pytest.raises(UsageError) as raised:
        cli.parse(argv, fv)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_without_apache_beam_the_beam_runner_names_the_extra(corpus, tmp_path, monkeypatch):
    from absl import flags

    from kerasbert.cli import pretrain as cli
    from kerasbert.cli.flags import UsageError

    monkeypatch.setitem(sys.modules, "apache_beam", None)  # as when it is not installed
    fv = flags.FlagValues()
    cli.define_flags(fv)
    with pytest.raises(UsageError, match=r"^--beam_runner: .*pip install kerasbert\[beam\]$"):
        cli.parse(["kerasbert.pretrain", f"--train_data={corpus}", f"--output_dir={tmp_path}",
                   "--beam_runner=DirectRunner"], fv)
