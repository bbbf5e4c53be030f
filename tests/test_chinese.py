"""Chinese text through the token-level programs (issue #26): an NER model
trained on character-tagged data takes raw Chinese text and gives entities as
character spans, from `kerasbert.predict` and from its SavedModel in a process
without kerasbert; the words are those of BERT's basic tokenizer (checked
against transformers' BertTokenizerFast); Chinese classification works as
English does."""

import json
import os
import subprocess
import sys

import keras
import pytest

from reference import SERVING_WITHOUT_KERASBERT

from kerasbert import BertEncoder, BertTokenizer
from kerasbert.checkpoints.loading import save_encoder
from kerasbert.cli.flags import run_main
from kerasbert.tokenizers.wordpiece_trainer import train_wordpiece_vocabulary

TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
            max_position_embeddings=64)
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
SENTENCE = "王芳在深圳工作。"
# Made-up reviews for classification: a subject and a verdict.
SUBJECTS = ["这家餐厅", "这部电影", "这本书", "服务", "质量", "价格", "房间", "快递"]
VERDICTS = {"positive": ["很好", "非常满意", "值得推荐", "太棒了"],
            "negative": ["很差", "非常失望", "不值得买", "太糟糕了"]}


def _reviews(count, seed):
    """(text, label) rows of made-up reviews."""
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.choice(sorted(VERDICTS))
        rows.append((f"{rng.choice(SUBJECTS)}{rng.choice(VERDICTS[label])}。", label))
    return rows


def _chars(conll):
    """The sentences of a character-per-line CoNLL file, as strings."""
    return ["".join(line.split()[0] for line in block.splitlines())
            for block in conll.read_text(encoding="utf-8").split("\n\n") if block.strip()]


@pytest.fixture(scope="module")
def chinese_model(test_data, tmp_path_factory):
    """A random tiny encoder with a WordPiece vocabulary learnt from the
    Chinese training sentences, fine-tuned for NER by `kerasbert.train`."""
    from kerasbert.cli.train import main

    folder = tmp_path_factory.mktemp("chinese")
    train = test_data / "chinese_ner" / "train.txt"
    reviews = folder / "reviews.tsv"
    reviews.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in _reviews(160, 0)),
                       encoding="utf-8")
    vocabulary = train_wordpiece_vocabulary(
        300, texts=_chars(train) + [t for t, _ in _reviews(160, 0)])
    keras.utils.set_random_seed(0)
    save_encoder(BertEncoder(vocab_size=len(vocabulary), **TINY), folder / "encoder")
    BertTokenizer(vocabulary).save_to_dir(folder / "encoder")
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["train", "--task=ner", f"--train_data={train}",
                        f"--model={folder / 'encoder'}", f"--output_dir={folder / 'ner'}",
                        "--max_seq_length=32", "--batch_size=16", "--epochs=4",
                        "--learning_rate=3e-3", "--verbose=0", "--checkpoint_every_steps=0"])
    assert exit_info.value.code == 0
    return {"vocabulary": vocabulary, "ner": folder / "ner", "folder": folder,
            "encoder": folder / "encoder", "reviews": reviews}


def test_a_vocabulary_learnt_from_chinese_keeps_every_character(chinese_model, test_data):
    vocabulary = set(chinese_model["vocabulary"])
    characters = set("".join(_chars(test_data / "chinese_ner" / "train.txt")))
    assert characters <= vocabulary
    tokenizer = BertTokenizer(chinese_model["vocabulary"])
    pieces = tokenizer.tokenize([SENTENCE]).to_list()[0]
    assert [tokenizer.id_to_token(i) for i in pieces] == list(SENTENCE)


def test_ner_on_raw_chinese_gives_character_spans_from_predict_and_savedmodel(
        chinese_model, tmp_path, capsys):
    from kerasbert.cli.export import main as export
    from kerasbert.cli.predict import main as predict

    expected = [("PER", 0, 2, "王芳"), ("LOC", 3, 5, "深圳")]
    with pytest.raises(SystemExit) as exit_info:
        run_main(predict, ["predict", f"--model={chinese_model['ner']}", SENTENCE])
    assert exit_info.value.code == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["type"], e["start"], e["end"], e["text"]) for e in record["entities"]] == expected

    export_dir = tmp_path / "savedmodel"
    with pytest.raises(SystemExit) as exit_info:
        run_main(export, ["export", f"--model={chinese_model['ner']}",
                          f"--export_dir={export_dir}"])
    assert exit_info.value.code == 0
    script = SERVING_WITHOUT_KERASBERT + r"""
loaded = tf.saved_model.load(sys.argv[1])
out = loaded.signatures["serving_default"](text=tf.constant([sys.argv[2]]))
n = int(out["num_entities"][0])
print(json.dumps([[out["entity_types"][0, k].numpy().decode(), int(out["entity_starts"][0, k]),
                   int(out["entity_ends"][0, k]), out["entity_texts"][0, k].numpy().decode()]
                  for k in range(n)]))
"""
    done = subprocess.run([sys.executable, "-c", script, str(export_dir), SENTENCE],
                          capture_output=True, text=True, timeout=300,
                          env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [tuple(e) for e in json.loads(done.stdout.strip().splitlines()[-1])] == expected


def test_words_are_those_of_bert_basic_tokenizer_with_character_offsets():
    """Mixed scripts, punctuation, CJK, emoji and odd spaces: the words and
    spans of transformers' BertTokenizerFast (cased, so that no normalisation
    changes a length), and `text[start:end] == word`."""
    from transformers import BertTokenizerFast

    texts = ["王芳在深圳工作。", "John lives in Paris, France.", "Hello,世界! (U.S.A.) 3.14",
             "  spaced\tout\u00a0nbsp\u3000全角 ", "😀 emoji 北京欢迎你，再见", "", "don't stop-gap"]
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ours = BertTokenizer(vocabulary, lowercase=False)
    words, starts, ends = ours.split_words_with_offsets(texts)
    reference = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocabulary)},
                                  do_lower_case=False)
    for text, row, row_starts, row_ends in zip(texts, words.to_list(), starts.to_list(),
                                               ends.to_list()):
        encoding = reference(text, add_special_tokens=False, return_offsets_mapping=True)
        spans = {}
        for word, (start, end) in zip(encoding.word_ids(), encoding["offset_mapping"]):
            spans.setdefault(word, [start, end])[1] = end
        assert list(zip(row_starts, row_ends)) == [tuple(spans[w]) for w in sorted(spans)], text
        assert [w.decode() for w in row] == [text[a:b] for a, b in zip(row_starts, row_ends)]


def test_classification_of_chinese_text_as_of_english(chinese_model, tmp_path, capsys):
    """Trained by `kerasbert.train` on Chinese reviews (characters as tokens,
    none [UNK]), `kerasbert.predict` labels new reviews."""
    from kerasbert.cli.predict import main as predict
    from kerasbert.cli.train import main as train
    from kerasbert.serving import Predictor

    with pytest.raises(SystemExit) as exit_info:
        run_main(train, ["train", "--task=classification",
                         f"--train_data={chinese_model['reviews']}",
                         f"--model={chinese_model['encoder']}", f"--output_dir={tmp_path / 'cls'}",
                         "--max_seq_length=16", "--batch_size=16", "--epochs=6", "--pooling=mean",
                         "--learning_rate=3e-3", "--verbose=0", "--checkpoint_every_steps=0"])
    assert exit_info.value.code == 0
    capsys.readouterr()
    rows = _reviews(40, 1)
    tokenizer = Predictor.from_directory(tmp_path / "cls").tokenizer
    ids = tokenizer([t for t, _ in rows])["token_ids"].numpy()
    assert (ids != tokenizer.unk_token_id).all()
    with pytest.raises(SystemExit) as exit_info:
        run_main(predict, ["predict", f"--model={tmp_path / 'cls'}", *(t for t, _ in rows)])
    assert exit_info.value.code == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["text"] for p in printed] == [t for t, _ in rows], printed[:2]
    assert "label" in printed[0], printed[0]
    predicted = [p["label"] for p in printed]
    assert sum(p == y for p, (_, y) in zip(predicted, rows)) >= 38


def test_evaluate_scores_the_entities_predict_gives(chinese_model, test_data, tmp_path):
    """`kerasbert.evaluate` on a character-tagged file scores exactly the
    character spans that `kerasbert.predict` gives for the raw sentences."""
    from seqeval.metrics.sequence_labeling import get_entities

    from kerasbert.cli.evaluate import main as evaluate
    from kerasbert.serving import Predictor

    train = (test_data / "chinese_ner" / "train.txt").read_text(
        encoding="utf-8").split("\n\n")[:60]
    sliced = tmp_path / "slice.txt"
    sliced.write_text("\n\n".join(train) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        run_main(evaluate, ["evaluate", f"--model={chinese_model['ner']}",
                            f"--eval_data={sliced}", f"--output_dir={tmp_path / 'eval'}"])
    assert exit_info.value.code == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    rows = [[line.split() for line in block.splitlines()] for block in train]
    texts = ["".join(c for c, _ in row) for row in rows]
    predicted = Predictor.from_directory(chinese_model["ner"]).predict({"text": texts})
    gold = [{(t, a, b + 1) for t, a, b in get_entities([tag for _, tag in row])} for row in rows]
    found = [{(e["type"], e["start"], e["end"]) for e in p["entities"]} for p in predicted]
    correct = sum(len(g & f) for g, f in zip(gold, found))
    assert correct > 0
    assert metrics["entity_precision"] == pytest.approx(correct / sum(map(len, found)))
    assert metrics["entity_recall"] == pytest.approx(correct / sum(map(len, gold)))
