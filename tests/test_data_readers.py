"""Readers on the real shared data sets, and on small files written here for the
features the shared data does not exercise (quoting, headers, label kinds)."""

import collections
import json

import pytest

from kerasbert.data.conll import read_conll
from kerasbert.data.delimited import read_delimited
from kerasbert.data.errors import DataError
from kerasbert.data.jsonl import read_jsonl
from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.squad import read_squad
from kerasbert.data.text_corpus import read_text_corpus


def test_sst2_counts_and_label_balance(shared_data):
    train = read_delimited(shared_data / "glue/SST-2/train.tsv", "sentence", "label")
    dev = read_delimited(shared_data / "glue/SST-2/dev.tsv", "sentence", "label")
    assert (len(train), len(dev)) == (67349, 872)
    assert collections.Counter(e.label for e in train) == {"1": 37569, "0": 29780}
    assert collections.Counter(e.label for e in dev) == {"1": 444, "0": 428}
    # Line numbers count the header: the first record is on line 2.
    assert train[0].line == 2 and train[-1].line == 67350


def test_sst2_by_index_detects_the_header(shared_data):
    by_name = read_delimited(shared_data / "glue/SST-2/dev.tsv", "sentence", "label")
    by_index = read_delimited(shared_data / "glue/SST-2/dev.tsv", 0, 1)
    assert by_index == by_name


def test_sst2_sentences_are_kept_verbatim(shared_data):
    path = shared_data / "glue/SST-2/train.tsv"
    raw = path.read_text(encoding="utf-8").splitlines()[1:]
    texts = [e.text for e in read_delimited(path, "sentence", "label")]
    assert texts == [line.split("\t")[0] for line in raw]


def test_tsv_with_a_stray_quote_is_text(tmp_path):
    path = tmp_path / "stray.tsv"
    path.write_text('sentence\tlabel\nhe said " and left\t1\nsecond " line\t0\nthird\t1\n',
                    encoding="utf-8")
    examples = read_delimited(path, "sentence", "label")
    assert [e.text for e in examples] == ['he said " and left', 'second " line', "third"]
    assert [e.line for e in examples] == [2, 3, 4]


def test_csv_standard_quoting_with_embedded_delimiter_and_newline(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('id,review,stars\n7,"good, ""really"" good",5\n8,"two\nlines",1\n9,ok,3\n',
                    encoding="utf-8")
    examples = read_delimited(path, "review", "stars", label_type="regression")
    assert [e.text for e in examples] == ['good, "really" good', "two\nlines", "ok"]
    assert [e.label for e in examples] == [5.0, 1.0, 3.0]
    assert [e.line for e in examples] == [2, 3, 5]


def test_headerless_file_by_index_and_declared_header(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("first text\tsecond text\tyes\nanother\tpair\tno\n", encoding="utf-8")
    examples = read_delimited(path, 0, 2, text_pair_column=1, header=False)
    assert [(e.text, e.text_pair, e.label) for e in examples] == [
        ("first text", "second text", "yes"), ("another", "pair", "no")]
    assert len(read_delimited(path, 0, 2, header=True)) == 1


def test_multi_label_and_encoding(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_bytes("text;labels\ncafé crème;sport|news\nrésumé;news\n".encode("latin-1"))
    examples = read_delimited(path, "text", "labels", delimiter=";", encoding="latin-1",
                              label_type="multi_label", label_delimiter="|")
    assert examples[0].text == "café crème"
    assert [e.label for e in examples] == [("sport", "news"), ("news",)]
    vocabulary = LabelVocabulary.from_examples(examples, multi_label=True)
    assert vocabulary.labels == ["news", "sport"]
    assert vocabulary.encode(examples[0].label) == [1, 1]


def test_jsonl_labels_as_ints_strings_and_lists(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"q": "a", "p": "b", "y": 2}, {"q": "c", "p": "d", "y": "10"}, {"q": "e", "p": "f", "y": 1}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    examples = read_jsonl(path, "q", "y", text_pair_field="p")
    assert [(e.text, e.text_pair, e.label, e.line) for e in examples] == [
        ("a", "b", "2", 1), ("c", "d", "10", 2), ("e", "f", "1", 3)]
    vocabulary = LabelVocabulary.from_examples(examples)
    assert vocabulary.labels == ["1", "2", "10"]


def test_label_vocabulary_saved_next_to_model_and_reused(tmp_path, shared_data):
    train = read_delimited(shared_data / "glue/SST-2/dev.tsv", "sentence", "label")
    vocabulary = LabelVocabulary.from_examples(train)
    assert vocabulary.labels == ["0", "1"]
    written = vocabulary.save(tmp_path)
    assert written.endswith("label_vocabulary.json")
    loaded = LabelVocabulary.load(tmp_path)
    assert loaded == vocabulary
    assert [loaded.encode(e.label) for e in train[:5]] == [int(e.label) for e in train[:5]]
    with pytest.raises(DataError, match="no label vocabulary"):
        LabelVocabulary.load(tmp_path / "elsewhere")


def test_conll_counts_tags_and_documents(shared_data):
    expected = {"train": (14041, 203621), "valid": (3250, 51362), "test": (3453, 46435)}
    for split, (sentences, tokens) in expected.items():
        read = read_conll(shared_data / f"conll2003/{split}.txt")
        assert (len(read), sum(len(s.words) for s in read)) == (sentences, tokens)
    train = read_conll(shared_data / "conll2003/train.txt")
    tags = collections.Counter(t for s in train for t in s.tags)
    assert tags["B-PER"] == 6600 and tags["O"] == 169578 and tags["I-MISC"] == 1155
    assert train[0].words[:2] == ("EU", "rejects") and train[0].tags[0] == "B-ORG"
    assert LabelVocabulary.from_examples(train).labels == sorted(tags)


def test_squad_counts_and_answer_offsets(shared_data):
    examples = read_squad(shared_data / "squad/dev-v1.1.json")
    assert len(examples) == 10570
    assert len({e.qas_id for e in examples}) == 10570
    assert sum(len(e.answers) for e in examples) == 34726
    assert all(e.context[a.start:a.end] == a.text for e in examples for a in e.answers)


def test_squad_v2_impossible_questions(tmp_path):
    data = {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{
        "context": "Paris is in France.",
        "qas": [{"id": "q1", "question": "Where is Paris?", "is_impossible": False,
                 "answers": [{"text": "France", "answer_start": 12}]},
                {"id": "q2", "question": "Where is Rome?", "is_impossible": True,
                 "answers": [], "plausible_answers": [{"text": "France", "answer_start": 12}]}]}]}]}
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    q1, q2 = read_squad(path)
    assert q1.answers[0].text == "France" and not q1.is_impossible
    assert q2.is_impossible and q2.answers == ()


def test_text_corpus_documents_and_sentences(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("First doc, one.\nFirst doc, two.\n\n\nSecond doc.\n  \nThird.\n",
                    encoding="utf-8")
    assert read_text_corpus(path) == [["First doc, one.", "First doc, two."], ["Second doc."],
                                      ["Third."]]


_BOM = b"\xef\xbb\xbf"
_SQUAD = json.dumps({"data": [{"title": "T", "paragraphs": [{
    "context": "Paris is in France.", "qas": [{"id": "q1", "question": "Where is Paris?",
                                               "answers": [{"text": "France",
                                                            "answer_start": 12}]}]}]}]})
_TEXT_ROWS = lambda examples: [(e.text, e.label) for e in examples]  # noqa: E731

# (file name, UTF-8 content, read): every reader, on files as Excel and Windows tools save them.
BOM_CASES = [
    ("reviews.csv", "Quality,text\n1,good film\n0,dull\n",
     lambda p: _TEXT_ROWS(read_delimited(p, "text", "Quality"))),
    ("reviews.tsv", "Quality\ttext\n1\tgood film\n0\tdull\n",
     lambda p: _TEXT_ROWS(read_delimited(p, "text", "Quality"))),
    ("reviews.jsonl", '{"text": "good film", "Quality": 1}\n{"text": "dull", "Quality": 0}\n',
     lambda p: _TEXT_ROWS(read_jsonl(p, "text", "Quality"))),
    ("corpus.txt", "Erste Zeile.\nZweite.\n\nDritte.\n", read_text_corpus),
    ("tags.conll", "EU B-ORG\nrejects O\n\nMüller B-PER\n", read_conll),
    ("squad.json", _SQUAD, read_squad),
]


@pytest.mark.parametrize("name,content,read", BOM_CASES, ids=[c[0] for c in BOM_CASES])
def test_utf8_with_a_byte_order_mark_reads_as_without(tmp_path, name, content, read):
    plain, marked = tmp_path / name, tmp_path / f"bom_{name}"
    plain.write_bytes(content.encode("utf-8"))
    marked.write_bytes(_BOM + content.encode("utf-8"))
    assert read(marked) == read(plain)


def test_train_data_with_a_byte_order_mark_finds_the_first_column(tmp_path):
    from kerasbert.training.task_data import read_task_data

    path = tmp_path / "excel.csv"
    path.write_bytes(_BOM + "Quality,text\n1,good film\n0,dull\n".encode("utf-8"))
    data = read_task_data("classification", str(path), str(path), text_column="text",
                          label_column="Quality")
    assert data.vocabulary.labels == ["0", "1"]
    assert [e.label for e in data.train.examples()] == ["1", "0"]
    assert data.train_summary.num_examples == 2


def test_header_flag_values_decide_an_ambiguous_first_row(tmp_path):
    from kerasbert.training.inputs import read_text_examples

    # Two text columns: nothing tells a header from a first record.
    path = tmp_path / "pairs.tsv"
    path.write_text("premise\tverdict\nA man sleeps.\tcalm\nKids play.\tloud\n", encoding="utf-8")
    assert len(read_delimited(path, 0, 1, header="auto")) == 3  # today's inference: no header
    assert len(read_delimited(path, 0, 1, header="no")) == 3
    assert [e.text for e in read_delimited(path, 0, 1, header="yes")] == ["A man sleeps.",
                                                                          "Kids play."]
    examples = read_text_examples(str(path), "classification", 0, 1, header="yes")
    assert [e.label for e in examples] == ["calm", "loud"]
    with pytest.raises(ValueError, match="header must be one of auto, yes, no"):
        read_delimited(path, 0, 1, header="maybe")
