"""Sentence-level input that streams (#16 item 3): files are read line by line,
a first pass checks, counts and collects labels, and the `tf.data` pipeline
reads the file again instead of a list of Python records. Results match the
in-memory readers exactly; errors are the readers' own one-line messages."""

import json

import numpy as np
import pytest
import tensorflow as tf

from kerasbert.data.delimited import iter_delimited
from kerasbert.data.delimited import read_delimited
from kerasbert.data.errors import DataError
from kerasbert.data.files import decoded_lines
from kerasbert.data.files import stream_decoded_lines
from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.pipeline import classification_dataset
from kerasbert.data.pipeline import distribute
from kerasbert.data.pipeline import encode_labels
from kerasbert.data.streaming import TextSource
from kerasbert.training.task_data import read_task_data
from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

_BOM = "\ufeff"


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.from_preset("all_minilm_l6_v2", sequence_length=32)


@pytest.mark.parametrize("encoding,text", [
    ("utf-8", _BOM + "a,é\r\nß€😀,x\n\nlast line"),
    ("utf-8", "ends with a newline\nü\n"),
    ("utf-16", "two-byte units\nsplit anywhere é\n"),
    ("latin-1", "caf\u00e9\r\nna\u00efve\n"),
])
def test_streamed_lines_match_the_whole_file_split(tmp_path, encoding, text):
    path = tmp_path / "lines.txt"
    path.write_bytes(text.encode(encoding))
    expected = list(decoded_lines(path, encoding))
    for chunk_bytes in (1, 2, 3, 7, 1 << 20):  # chunk edges inside multi-byte characters
        assert list(stream_decoded_lines(path, encoding, chunk_bytes)) == expected


def test_undecodable_bytes_split_across_chunks_are_still_named(tmp_path):
    path = tmp_path / "latin.tsv"
    path.write_bytes(b"sentence\tlabel\nfine\t1\ncaf\xe9 noir\t0\n")
    with pytest.raises(DataError) as whole:
        read_delimited(path, "sentence", "label")
    assert str(whole.value).startswith(f"{path}, line 3, field 'sentence': bytes that are not "
                                       f"valid utf-8")
    with pytest.raises(DataError) as streamed:
        TextSource(str(path), "sentence", "label").scan()
    assert str(streamed.value) == str(whole.value)


def _write_scores(path, rows, bad_line=None):
    """A CSV of `rows` texts with float scores; the record on `bad_line` (file
    line number) gets the score "high"."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("text,score\n")
        for i in range(rows):
            score = "high" if i + 2 == bad_line else f"{i % 7 / 7:.3f}"
            f.write(f"\"row {i}, a sentence\",{score}\n")


def test_records_stream_one_at_a_time_and_errors_wait_for_their_line(tmp_path):
    path = tmp_path / "scores.csv"
    _write_scores(path, 5000, bad_line=4990)
    # The first records come out (and reach tf.data) before the bad one is read.
    first = next(iter_delimited(path, "text", "score", label_type="regression"))
    assert (first.text, first.label, first.line) == ("row 0, a sentence", 0.0, 2)
    source = TextSource(str(path), "text", "score", label_type="regression")
    head = list(source.columns().take(3).as_numpy_iterator())
    assert [h["text"] for h in head] == [b"row 0, a sentence", b"row 1, a sentence",
                                        b"row 2, a sentence"]
    # The first pass reaches it, with the in-memory reader's message.
    with pytest.raises(DataError) as streamed:
        source.scan()
    with pytest.raises(DataError) as whole:
        read_delimited(path, "text", "score", label_type="regression")
    assert str(streamed.value) == str(whole.value) == (
        f"{path}, line 4990, field 'score': label is not a number: 'high'")


@pytest.mark.parametrize("name,content,message", [
    ("header.csv", b"text,label\n", "no examples: the file holds only a header"),
    ("blank.csv", b" \n\n", "empty file"),
    ("blank.jsonl", b"\n \n", "empty file"),
    ("header_only.tsv", b"sentence\tlabel\r\n", "no examples: the file holds only a header"),
])
def test_files_without_records_fail_the_first_pass_by_name(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^{path}: {message}$"):
        TextSource(str(path), "text" if "tsv" not in name else "sentence").scan()


def test_first_pass_counts_and_collects_labels_as_the_list(test_data):
    path = test_data / "glue/SST-2/dev.tsv"
    examples = read_delimited(path, "sentence", "label")
    summary = TextSource(str(path), "sentence", "label").scan()
    assert summary.num_examples == len(examples) == 872
    assert summary.labels == {"0", "1"} and not summary.text_pair
    assert summary.labels == {e.label for e in examples}
    given = TextSource(str(path), "sentence", "label").scan(LabelVocabulary(["1", "0"]))
    assert given.labels is None and given.num_examples == len(examples)
    with pytest.raises(DataError, match="label"):  # a label outside the vocabulary given
        TextSource(str(path), "sentence", "label").scan(LabelVocabulary(["1", "2"]))


def _batches(dataset):
    return [(dict(features), labels) for features, labels in dataset.as_numpy_iterator()]


def _assert_same_batches(left, right):
    assert len(left) == len(right)
    for (features_a, labels_a), (features_b, labels_b) in zip(left, right):
        assert features_a.keys() == features_b.keys()
        for name in features_a:
            np.testing.assert_array_equal(features_a[name], features_b[name])
        np.testing.assert_array_equal(labels_a, labels_b)


def test_streamed_pipeline_gives_the_in_memory_batches(test_data, tokenizer):
    """Same examples in the same order for a seed: a set below the shuffle
    buffer is still shuffled whole."""
    path = test_data / "glue/SST-2/dev.tsv"
    examples = read_delimited(path, "sentence", "label")
    vocabulary = LabelVocabulary.from_examples(examples)
    settings = dict(batch_size=32, label_vocabulary=vocabulary, mode="bucket", shuffle=True,
                    seed=7)
    streamed = _batches(classification_dataset(TextSource(str(path), "sentence", "label"),
                                               tokenizer, **settings))
    _assert_same_batches(streamed, _batches(classification_dataset(examples, tokenizer,
                                                                   **settings)))
    assert sum(len(labels) for _, labels in streamed) == 872


def test_pairs_and_multi_labels_stream_as_the_list(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"a": f"first {i}", "b": f"second {i}", "tags": ["x", "y", "z"][: i % 3 + 1]}
            for i in range(50)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    source = TextSource(str(path), "a", "tags", "b", label_type="multi_label")
    summary = source.scan()
    vocabulary = LabelVocabulary.from_label_set(summary.labels, multi_label=True)
    examples = list(source.examples())
    assert vocabulary == LabelVocabulary.from_examples(examples, multi_label=True)
    columns = list(source.columns(vocabulary).as_numpy_iterator())
    assert [c["pair"].decode() for c in columns] == [e.text_pair for e in examples]
    np.testing.assert_array_equal(np.stack([c["labels"] for c in columns]),
                                  encode_labels(examples, vocabulary, "multi_label"))


def test_the_shuffle_buffer_is_bounded_for_large_sets(tmp_path):
    path = tmp_path / "scores.csv"
    _write_scores(path, 300)
    source = TextSource(str(path), "text", "score", label_type="regression")

    def order(buffer, seed):
        dataset = distribute(source.columns(), shuffle=True, seed=seed, num_examples=300,
                             shuffle_buffer=buffer)
        return [int(row["text"].split()[1].rstrip(b",")) for row in dataset.as_numpy_iterator()]

    bounded = order(16, seed=3)
    assert sorted(bounded) == list(range(300)) and bounded != list(range(300))
    assert bounded == order(16, seed=3) and bounded != order(16, seed=4)
    # An example can leave the buffer only once it was read: at most 15 places early.
    assert all(index <= position + 15 for position, index in enumerate(bounded))
    whole = order(300, seed=3)
    assert any(index > position + 15 for position, index in enumerate(whole))


def _labelled_csv(path, labels):
    path.write_text("text,label\n" + "".join(f"sentence number {i},{label}\n"
                                             for i, label in enumerate(labels)), encoding="utf-8")
    return str(path)


def test_given_labels_fix_the_ids_and_name_a_label_outside_them(tmp_path):
    train = _labelled_csv(tmp_path / "train.csv", ["pos", "neg", "pos", "neg"])
    dev = _labelled_csv(tmp_path / "dev.csv", ["neg", "pos", "meh"])
    inferred = read_task_data("classification", train)
    assert inferred.vocabulary.labels == ["neg", "pos"]
    given = read_task_data("classification", train, labels=["pos", "neg", "unused"])
    assert given.vocabulary.labels == ["pos", "neg", "unused"]
    assert given.task.num_outputs == 3 and given.train_summary.num_examples == 4
    with pytest.raises(DataError) as info:
        read_task_data("classification", train, dev, labels=["pos", "neg"])
    assert str(info.value) == (f"{dev}, line 4, field 'label': label not among the given "
                               f"labels: 'meh' (known labels: pos, neg)")
    with pytest.raises(DataError, match=f"^{train}, line 3, field 'label': label not among"):
        read_task_data("classification", train, labels=["pos"])
    with pytest.raises(ValueError, match="labels apply to the classification and multilabel "
                                         "tasks, not regression"):
        read_task_data("regression", train, labels=["pos", "neg"])
    with pytest.raises(ValueError, match="not ner"):
        read_task_data("ner", train, labels=["pos"])


def test_text_data_inputs_stream_train_and_dev(tmp_path, tokenizer):
    train = _labelled_csv(tmp_path / "train.csv", ["b", "a"] * 40)
    dev = _labelled_csv(tmp_path / "dev.csv", ["a", "b", "b"])
    data = read_task_data("classification", train, dev)
    inputs = data.inputs(tokenizer, batch_size=16, seed=5, batch_mode="static")
    assert inputs.num_train == 80
    epoch = _batches(inputs.train_dataset_fn(0, None))
    assert len(epoch) == 5 and all(f["token_ids"].shape == (16, 32) for f, _ in epoch)
    assert sorted(np.concatenate([labels for _, labels in epoch]).tolist()) == [0] * 40 + [1] * 40
    assert [labels.tolist() for _, labels in epoch] != [
        labels.tolist() for _, labels in _batches(inputs.train_dataset_fn(1, None))]


def test_fine_tune_saves_the_given_label_order(tmp_path, model_hub):
    from kerasbert.training.fine_tune import fine_tune

    train = _labelled_csv(tmp_path / "train.csv", ["pos", "neg"] * 8)
    fine_tune(task="classification", train_data=train, model="bert_tiny_en_uncased",
              random_init=True, output_dir=str(tmp_path / "run"), labels=["pos", "neg"], max_seq_length=16,
              batch_size=8, epochs=1, max_steps=1, verbose=0)
    with open(tmp_path / "run" / "label_vocabulary.json", encoding="utf-8") as f:
        assert json.load(f)["labels"] == ["pos", "neg"]
    tf.keras.backend.clear_session()


def test_the_labels_flag_is_a_checked_comma_list():
    from absl import flags

    from kerasbert.cli.flags import UsageError, define_reader_flags, parse_argv

    def parsed(*argv):
        fv = flags.FlagValues()
        define_reader_flags(fv, labels=True)
        parse_argv(fv, ["kerasbert.train", *argv], "doc")
        return fv.labels

    assert parsed() is None
    assert parsed("--labels= neg , neutral,pos") == ["neg", "neutral", "pos"]
    for bad in ("--labels=neg,neg", "--labels=", "--labels=neg,,pos"):
        with pytest.raises(UsageError, match="^flag --labels=.*: give distinct, non-empty "
                                             "labels separated by commas"):
            parsed(bad)
    without = flags.FlagValues()
    define_reader_flags(without)
    assert "labels" not in without


def test_train_flags_carry_the_labels_to_fine_tune(tmp_path):
    from absl import flags

    from kerasbert.cli import train as train_cli
    from kerasbert.cli.flags import UsageError

    data = _labelled_csv(tmp_path / "train.csv", ["pos", "neg"])

    def parsed(*argv):
        fv = flags.FlagValues()
        train_cli.define_flags(fv)
        return train_cli.parse(["kerasbert.train", f"--train_data={data}",
                                f"--output_dir={tmp_path / 'run'}", *argv], fv)

    assert train_cli.fine_tune_config(parsed("--labels=pos,neg")).labels == ("pos", "neg")
    assert train_cli.fine_tune_config(parsed()).labels is None
    assert parsed("--labels=pos,neg", "--task=multilabel").labels == ["pos", "neg"]
    with pytest.raises(UsageError, match="^--labels applies to --task=classification or "
                                         "multilabel, not regression$"):
        parsed("--labels=pos,neg", "--task=regression")
