"""Readers on the data in tests/data (slices of real data sets, and generated
English NER files), and on small files written here for the features those do
not exercise (quoting, headers, label kinds). Expected counts are computed from
the raw files here, independently of the readers."""

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


def test_sst2_counts_and_label_balance(test_data):
    train = read_delimited(test_data / "glue/SST-2/train.tsv", "sentence", "label")
    dev = read_delimited(test_data / "glue/SST-2/dev.tsv", "sentence", "label")
    raw = {split: (test_data / f"glue/SST-2/{split}.tsv").read_text(encoding="utf-8")
           .splitlines() for split in ("train", "dev")}
    assert raw["train"][0] == raw["dev"][0] == "sentence\tlabel"
    assert (len(train), len(dev)) == (len(raw["train"]) - 1, len(raw["dev"]) - 1)
    assert len(dev) == 872  # GLUE's whole dev set
    for examples, lines in ((train, raw["train"]), (dev, raw["dev"])):
        assert collections.Counter(e.label for e in examples) == collections.Counter(
            line.rsplit("\t", 1)[1] for line in lines[1:])
    assert collections.Counter(e.label for e in dev) == {"1": 444, "0": 428}
    # Line numbers count the header: the first record is on line 2.
    assert train[0].line == 2 and train[-1].line == len(raw["train"])


def test_sst2_by_index_detects_the_header(test_data):
    by_name = read_delimited(test_data / "glue/SST-2/dev.tsv", "sentence", "label")
    by_index = read_delimited(test_data / "glue/SST-2/dev.tsv", 0, 1)
    assert by_index == by_name


def test_sst2_sentences_are_kept_verbatim(test_data):
    path = test_data / "glue/SST-2/train.tsv"
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


def test_label_vocabulary_saved_next_to_model_and_reused(tmp_path, test_data):
    train = read_delimited(test_data / "glue/SST-2/dev.tsv", "sentence", "label")
    vocabulary = LabelVocabulary.from_examples(train)
    assert vocabulary.labels == ["0", "1"]
    written = vocabulary.save(tmp_path)
    assert written.endswith("label_vocabulary.json")
    loaded = LabelVocabulary.load(tmp_path)
    assert loaded == vocabulary
    assert [loaded.encode(e.label) for e in train[:5]] == [int(e.label) for e in train[:5]]
    with pytest.raises(DataError, match="no label vocabulary"):
        LabelVocabulary.load(tmp_path / "elsewhere")


def _conll_blocks(path):
    """Sentences of a CoNLL file as lists of split lines, read without the reader."""
    blocks = [block.splitlines() for block in path.read_text(encoding="utf-8").split("\n\n")]
    return [[line.split(" ") for line in block] for block in blocks
            if block and not block[0].startswith("-DOCSTART-")]


def test_conll_counts_tags_and_documents(test_data):
    for split in ("train", "valid", "test"):
        path = test_data / f"english_ner/{split}.txt"
        read = read_conll(path)
        blocks = _conll_blocks(path)
        assert all(len(fields) == 4 for block in blocks for fields in block)
        assert len(read) == len(blocks) > 100
        assert [s.words for s in read] == [tuple(f[0] for f in block) for block in blocks]
        assert [s.tags for s in read] == [tuple(f[-1] for f in block) for block in blocks]
        documents = path.read_text(encoding="utf-8").count("-DOCSTART- -X- -X- O\n")
        assert documents > 10  # the document markers are not sentences
    train = read_conll(test_data / "english_ner/train.txt")
    tags = collections.Counter(t for s in train for t in s.tags)
    assert tags == collections.Counter(f[-1] for b in _conll_blocks(
        test_data / "english_ner/train.txt") for f in b)
    assert set(tags) == {"O"} | {f"{p}-{t}" for p in "BI" for t in ("PER", "ORG", "LOC", "MISC")}
    assert all(w == w.upper() for w in train[0].words)  # each document starts with a headline
    assert LabelVocabulary.from_examples(train).labels == sorted(tags)


def test_squad_counts_and_answer_offsets(test_data):
    path = test_data / "squad/dev-v1.1.json"
    examples = read_squad(path)
    questions = [qa for article in json.loads(path.read_text(encoding="utf-8"))["data"]
                 for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    assert len(examples) == len(questions) > 1000
    assert len({e.qas_id for e in examples}) == len(examples)
    assert sum(len(e.answers) for e in examples) == sum(len(qa["answers"]) for qa in questions)
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
