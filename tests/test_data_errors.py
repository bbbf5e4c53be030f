"""Malformed inputs, written to tmp files: each gets a DataError naming the
file, the line (or record) and the field, or is skipped and counted on request."""

import json
import logging

import pytest

from kerasbert.data.conll import read_conll
from kerasbert.data.delimited import read_delimited
from kerasbert.data.errors import DataError
from kerasbert.data.errors import MissingFileError
from kerasbert.data.jsonl import read_jsonl
from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.squad import read_squad
from kerasbert.data.text_corpus import read_text_corpus

SST_LABELS = LabelVocabulary(["0", "1"])


def _squad(answer_start):
    return json.dumps({"data": [{"title": "T", "paragraphs": [{
        "context": "The cat sat on the mat.",
        "qas": [{"id": "ok-1", "question": "Who sat?", "answers": [{"text": "cat", "answer_start": 4}]},
                {"id": "bad-7", "question": "Where?", "answers": [
                    {"text": "the mat", "answer_start": 15},
                    {"text": "the mat", "answer_start": answer_start}]}]}]}]}).encode()


# (file name, content, reader, where (line N / record R), field, reason)
CASES = [
    ("missing_column.tsv", b"sentence\tlabel\ngood\t1\nno label here\n",
     lambda p: read_delimited(p, "sentence", "label"), "line 3", "label", "missing column"),
    ("missing_header_column.csv", b"review,label\nfine,1\n",
     lambda p: read_delimited(p, "text", "label"), "line 1", "text", "missing column"),
    ("missing_index_column.tsv", b"a\tb\tc\nd\te\n",
     lambda p: read_delimited(p, 0, 2, header=False), "line 2", "column 2", "missing column"),
    ("empty_text.tsv", b"sentence\tlabel\nfine\t1\n \t0\n",
     lambda p: read_delimited(p, "sentence", "label"), "line 3", "sentence", "empty text"),
    ("empty_text.csv", b'text,label\n"ok",1\n"   ",0\n',
     lambda p: read_delimited(p, "text", "label"), "line 3", "text", "empty text"),
    ("not_utf8.tsv", b"sentence\tlabel\nfine\t1\ncaf\xe9 noir\t0\n",
     lambda p: read_delimited(p, "sentence", "label"), "line 3", "sentence", "not valid utf-8"),
    ("unseen_label.tsv", b"sentence\tlabel\nfine\t1\nodd\t2\n",
     lambda p: read_delimited(p, "sentence", "label", label_vocabulary=SST_LABELS),
     "line 3", "label", "label not seen in training"),
    ("bad_regression.csv", b"text,score\nfine,0.5\nodd,high\n",
     lambda p: read_delimited(p, "text", "score", label_type="regression"),
     "line 3", "score", "label is not a number"),
    ("missing_field.jsonl", b'{"text": "a", "label": 1}\n{"txt": "b", "label": 0}\n',
     lambda p: read_jsonl(p, "text", "label"), "line 2", "text", "missing field"),
    ("empty_text.jsonl", b'{"text": "a", "label": 1}\n\n{"text": "\\t ", "label": 0}\n',
     lambda p: read_jsonl(p, "text", "label"), "line 3", "text", "empty text"),
    ("not_utf8.jsonl", b'{"text": "a", "label": 1}\n{"text": "\xff\xfe", "label": 0}\n',
     lambda p: read_jsonl(p, "text", "label"), "line 2", "text", "not valid utf-8"),
    ("unseen_label.jsonl", b'{"text": "a", "label": 1}\n{"text": "b", "label": 5}\n',
     lambda p: read_jsonl(p, "text", "label", label_vocabulary=SST_LABELS),
     "line 2", "label", "label not seen in training"),
    ("wrong_fields.conll", b"-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP\n",
     lambda p: read_conll(p), "line 4", "tag", "wrong number of fields"),
    ("not_utf8.conll", b"EU NNP B-NP B-ORG\nM\xfcller NNP B-NP B-PER\n",
     lambda p: read_conll(p), "line 2", "token", "not valid utf-8"),
    ("unseen_tag.conll", b"EU NNP B-NP B-ORG\n\nParis NNP B-NP B-CITY\n",
     lambda p: read_conll(p, tag_vocabulary=LabelVocabulary(["B-ORG", "O"])),
     "line 3", "tag", "label not seen in training"),
    ("answer_moved.json", _squad(answer_start=3), lambda p: read_squad(p),
     "record bad-7", "answers[1].answer_start", "answer text not at answer_start"),
    ("empty_question.json", _squad(15).replace(b'"Where?"', b'"  "'), lambda p: read_squad(p),
     "record bad-7", "question", "empty text"),
    ("not_utf8_corpus.txt", b"One.\nTwo \xc3\x28.\n", lambda p: read_text_corpus(p),
     "line 2", "sentence", "not valid utf-8"),
]


@pytest.mark.parametrize("name,content,read,where,field,reason", CASES,
                         ids=[c[0] for c in CASES])
def test_malformed_input_is_named(tmp_path, name, content, read, where, field, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert f"{where}," in message, message
    assert f"field {field!r}" in message, message
    assert reason in message, message


@pytest.mark.parametrize("read", [
    lambda p: read_delimited(p, 0, 1), lambda p: read_jsonl(p, "text"),
    lambda p: read_conll(p), lambda p: read_squad(p), lambda p: read_text_corpus(p)])
def test_empty_and_missing_files(tmp_path, read):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b" \n\n")
    with pytest.raises(DataError, match=f"^{empty}: empty file"):
        read(empty)
    missing = tmp_path / "no_such_file.txt"
    with pytest.raises(MissingFileError, match=f"^{missing}: file does not exist") as info:
        read(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)


def test_skip_bad_records_counts_and_logs_one_summary(tmp_path, caplog):
    path = tmp_path / "mixed.tsv"
    path.write_bytes(b"sentence\tlabel\ngood\t1\n \t0\nalso good\t0\nbad \xff\t1\nshort\n"
                     b"unseen\t7\nfine\t1\n")
    with caplog.at_level(logging.WARNING, logger="kerasbert.data"):
        examples = read_delimited(path, "sentence", "label", label_vocabulary=SST_LABELS,
                                  skip_bad_records=True)
    assert [e.line for e in examples] == [2, 4, 8]
    summaries = [r.getMessage() for r in caplog.records]
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary.startswith(f"{path}: skipped 4 bad records")
    for kind, line in [("empty text", 3), ("not valid utf-8", 5), ("missing column", 6),
                       ("label not seen in training", 7)]:
        assert kind in summary and f"line {line}" in summary, summary


def test_skip_bad_conll_lines_drops_and_counts_their_sentences(tmp_path, caplog):
    path = tmp_path / "mixed.conll"
    path.write_text("A x y O\nB x y O\n\nC x y\nD x y O\n\nE x y B-PER\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="kerasbert.data"):
        sentences = read_conll(path, skip_bad_records=True)
    assert [s.words for s in sentences] == [("A", "B"), ("E",)]
    assert "skipped 1 bad records: 1 x wrong number of fields (first at line 4)" in caplog.text


def test_a_row_with_another_field_count_than_the_header_is_named(tmp_path, caplog):
    path = tmp_path / "reviews.csv"
    # An unquoted comma in a text: "truly" would otherwise become a label.
    path.write_text("text,label\ngood film,1\nit was good, truly,1\ndull,0\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_delimited(path, "text", "label")
    assert str(info.value) == (f"{path}, line 3: too many fields: the row has 3 fields, "
                               f"the header 2 (quote texts that hold the delimiter)")
    with caplog.at_level(logging.WARNING, logger="kerasbert.data"):
        examples = read_delimited(path, "text", "label", skip_bad_records=True)
    assert [e.label for e in examples] == ["1", "0"]
    assert "1 x too many fields (first at line 3)" in caplog.text
    # Fewer fields, even in a column not read, and rows of a file without a header.
    short = tmp_path / "short.tsv"
    short.write_text("text\tlabel\tsource\ngood\t1\tweb\nbad\t0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 3, field 'source': missing column: the row "
                                        r"has 2 fields, the header 3$"):
        read_delimited(short, "text", "label")
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("good,1\nbad, really,0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2: too many fields: the row has 3 fields, the "
                                        r"first row 2"):
        read_delimited(headerless, 0, 1, header=False)


@pytest.mark.parametrize("name,content", [("header.csv", b"text,label\n"),
                                          ("header.tsv", b"text\tlabel\n\n\n")])
def test_a_file_with_only_a_header_has_no_examples(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^{path}: no examples"):
        read_delimited(path, "text", "label")


def test_train_or_dev_data_without_examples_is_named(tmp_path):
    from kerasbert.training.inputs import read_text_examples
    from kerasbert.training.task_data import read_task_data

    train, header_only = tmp_path / "train.csv", tmp_path / "dev.csv"
    train.write_text("text,label\ngood,1\nbad,0\n", encoding="utf-8")
    header_only.write_text("text,label\n", encoding="utf-8")
    for train_data, eval_data in [(header_only, train), (train, header_only)]:
        with pytest.raises(DataError, match=f"^{header_only}: no examples"):
            read_task_data("classification", str(train_data), str(eval_data))
    # Every record skipped as bad leaves no examples either.
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"txt": "a", "label": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match=f"^{bad}: no examples"):
        read_text_examples(str(bad), "classification", "text", "label", skip_bad_records=True)


def test_bytes_of_another_encoding_point_to_the_encoding_flag(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncafé crème,1\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_delimited(path, "text", "label")
    message = str(info.value)
    assert message.startswith(f"{path}, line 2, field 'text': bytes that are not valid "
                              "utf-8: b'caf\\xe9 cr"), message
    assert "--encoding" in message, message
    assert read_delimited(path, "text", "label", encoding="latin-1")[0].text == "café crème"
