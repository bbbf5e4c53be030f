"""The CRF head of token classification (`--ner_head=crf`, issue #26): trained
by `kerasbert.train` on character-tagged Chinese, its Viterbi tags come back
from `kerasbert.predict`, `kerasbert.evaluate` and the exported SavedModel in a
process without kerasbert; on the Keras API, the SavedModel decodes with the
model's own transitions."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from reference import SERVING_WITHOUT_KERASBERT
from test_chinese import ENV, SENTENCE, TINY, _chars

from kerasbert import BertEncoder, BertTokenizer
from kerasbert.checkpoints.loading import save_encoder
from kerasbert.cli.flags import run_main
from kerasbert.tokenizers.wordpiece_trainer import train_wordpiece_vocabulary

# The SavedModel's words and tags of each text, as JSON, in a process without kerasbert.
SERVE = SERVING_WITHOUT_KERASBERT + r"""
loaded = tf.saved_model.load(sys.argv[1])
texts = json.loads(sys.argv[2])
out = loaded.signatures["serving_default"](text=tf.constant(texts))
rows = []
for i in range(len(texts)):
    n = int(out["num_entities"][i])
    tags = [t.decode() for t in out["tags"][i].numpy() if t]
    rows.append({"tags": tags, "entities": [
        [out["entity_types"][i, k].numpy().decode(), int(out["entity_starts"][i, k]),
         int(out["entity_ends"][i, k])] for k in range(n)]})
print(json.dumps(rows))
"""


def _serve(export_dir, texts):
    done = subprocess.run([sys.executable, "-c", SERVE, str(export_dir),
                           json.dumps(texts, ensure_ascii=False)],
                          capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def crf_model(test_data, tmp_path_factory):
    """A random tiny encoder (vocabulary learnt from the Chinese training
    sentences) fine-tuned for NER with `--ner_head=crf`, with a dev file."""
    from kerasbert.cli.train import main

    folder = tmp_path_factory.mktemp("crf")
    train = test_data / "chinese_ner" / "train.txt"
    dev = folder / "dev.txt"
    dev.write_text("\n\n".join(train.read_text(encoding="utf-8").split("\n\n")[:40]) + "\n",
                   encoding="utf-8")
    vocabulary = train_wordpiece_vocabulary(300, texts=_chars(train))
    keras.utils.set_random_seed(0)
    save_encoder(BertEncoder(vocab_size=len(vocabulary), **TINY), folder / "encoder")
    BertTokenizer(vocabulary).save_to_dir(folder / "encoder")
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["train", "--task=ner", "--ner_head=crf", f"--train_data={train}",
                        f"--eval_data={dev}", f"--model={folder / 'encoder'}",
                        f"--output_dir={folder / 'ner'}", "--max_seq_length=32",
                        "--batch_size=16", "--epochs=4", "--learning_rate=3e-3",
                        "--verbose=0", "--checkpoint_every_steps=0"])
    assert exit_info.value.code == 0
    return {"ner": folder / "ner", "dev": dev, "folder": folder}


def test_crf_model_finds_the_entities_in_predict_evaluate_and_savedmodel(crf_model, capsys):
    from seqeval.metrics.sequence_labeling import get_entities

    from kerasbert.cli.evaluate import main as evaluate
    from kerasbert.cli.predict import main as predict
    from kerasbert.serving import Predictor

    info = json.loads((crf_model["ner"] / "kerasbert_task.json").read_text())
    assert info["settings"]["ner_head"] == "crf"
    with pytest.raises(SystemExit) as exit_info:
        run_main(predict, ["predict", f"--model={crf_model['ner']}", SENTENCE])
    assert exit_info.value.code == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["type"], e["start"], e["end"], e["text"]) for e in record["entities"]] == [
        ("PER", 0, 2, "王芳"), ("LOC", 3, 5, "深圳")]

    # The transitions (zero at first) learnt the BIO grammar: I-PER follows
    # B-PER, not O.
    predictor = Predictor.from_directory(crf_model["ner"])
    labels = predictor.task.labels
    transitions = predictor.model.get_layer("crf").scores()[0].numpy()
    assert (transitions[labels.index("B-PER"), labels.index("I-PER")]
            > transitions[labels.index("O"), labels.index("I-PER")] + 2.0)

    # evaluate scores the entities predict gives (Viterbi in both).
    with pytest.raises(SystemExit) as exit_info:
        run_main(evaluate, ["evaluate", f"--model={crf_model['ner']}",
                            f"--eval_data={crf_model['dev']}",
                            f"--output_dir={crf_model['folder'] / 'eval'}"])
    assert exit_info.value.code == 0
    metrics = json.loads((crf_model["folder"] / "eval" / "metrics.json").read_text())
    texts = _chars(crf_model["dev"])
    predicted = predictor.predict({"text": texts})
    rows = [[line.split() for line in block.splitlines()]
            for block in crf_model["dev"].read_text(encoding="utf-8").split("\n\n")
            if block.strip()]
    gold = [{(t, a, b + 1) for t, a, b in get_entities([tag for _, tag in row])} for row in rows]
    found = [{(e["type"], e["start"], e["end"]) for e in p["entities"]} for p in predicted]
    correct = sum(len(g & f) for g, f in zip(gold, found))
    assert correct > 0
    assert metrics["entity_recall"] == pytest.approx(correct / sum(map(len, gold)))
    assert metrics["entity_precision"] == pytest.approx(correct / sum(map(len, found)))


def test_crf_savedmodel_without_kerasbert_gives_the_tags_of_predict(crf_model, tmp_path):
    from kerasbert.cli.export import main as export
    from kerasbert.serving import Predictor

    export_dir = tmp_path / "savedmodel"
    with pytest.raises(SystemExit) as exit_info:
        run_main(export, ["export", f"--model={crf_model['ner']}",
                          f"--export_dir={export_dir}"])
    assert exit_info.value.code == 0
    texts = [SENTENCE] + _chars(crf_model["dev"])[:12]
    served = _serve(export_dir, texts)
    predicted = Predictor.from_directory(crf_model["ner"]).predict({"text": texts})
    assert [[tuple(e) for e in row["entities"]] for row in served] == [
        [(e["type"], e["start"], e["end"]) for e in p["entities"]] for p in predicted]
    assert served[0]["entities"] == [["PER", 0, 2], ["LOC", 3, 5]]


def test_keras_crf_classifier_decodes_with_its_transitions_everywhere(tmp_path):
    """Transitions that allow only B-PER I-PER I-PER ... override any logits:
    predict (Python), a preset's reload and its SavedModel all follow them."""
    from kerasbert import BertTokenClassifier, BertTokenClassifierPreprocessor
    from kerasbert.serving import Predictor

    labels = ["O", "B-PER", "I-PER"]
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"王芳在深圳工作。"]
    keras.utils.set_random_seed(1)
    encoder = BertEncoder(vocab_size=len(vocabulary), **TINY)
    model = BertTokenClassifier(
        encoder, 3, BertTokenClassifierPreprocessor(BertTokenizer(vocabulary, sequence_length=16)),
        labels=labels, head="crf")
    crf = model.get_layer("crf")
    forbidden = -1e4
    crf.start_transitions.assign([forbidden, 0.0, forbidden])
    crf.transitions.assign(np.full((3, 3), forbidden, np.float32)
                           + np.array([[0, 0, 0], [0, 0, 1e4], [0, 0, 1e4]], np.float32))
    texts = [SENTENCE, "深圳"]
    expected = [["B-PER"] + ["I-PER"] * (len(t) - 1) for t in texts]
    records = Predictor.from_model(model).predict({"text": texts})
    assert [[(e["type"], e["start"], e["end"]) for e in r["entities"]] for r in records] == [
        [("PER", 0, len(t))] for t in texts]
    explained = model.explain(texts, steps=4)  # explains the CRF's entities
    assert [[(e["type"], e["start"], e["end"]) for e in r["entities"]] for r in explained] == [
        [("PER", 0, len(t))] for t in texts]

    model.save_to_preset(tmp_path / "preset")
    reloaded = BertTokenClassifier.from_preset(tmp_path / "preset")
    assert reloaded.ner_head == "crf"
    np.testing.assert_array_equal(reloaded.get_layer("crf").scores()[0].numpy(),
                                  crf.scores()[0].numpy())
    model.save(tmp_path / "model.keras")
    keras_file = keras.models.load_model(tmp_path / "model.keras")
    assert keras_file.ner_head == "crf"
    np.testing.assert_array_equal(keras_file.get_layer("crf").scores()[0].numpy(),
                                  crf.scores()[0].numpy())
    model.export(tmp_path / "savedmodel")
    # Loaded graph-only (the process without kerasbert is the test above's).
    import tensorflow as tf
    serve = tf.saved_model.load(str(tmp_path / "savedmodel")).signatures["serving_default"]
    tags = serve(text=tf.constant(texts))["tags"].numpy()
    assert [[t.decode() for t in row if t] for row in tags] == expected


def test_keras_crf_classifier_fits_with_the_crf_loss():
    """`compile()` on a CRF head trains its transitions with the sequence loss."""
    from kerasbert import BertTokenClassifier, BertTokenClassifierPreprocessor

    labels = ["O", "B-PER", "I-PER"]
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"王芳在深圳工作。"]
    keras.utils.set_random_seed(2)
    model = BertTokenClassifier(
        BertEncoder(vocab_size=len(vocabulary), **TINY), 3,
        BertTokenClassifierPreprocessor(BertTokenizer(vocabulary, sequence_length=16)),
        labels=labels, head="crf")
    model.compile(learning_rate=1e-2)
    words = [list("王芳在深圳工作"), list("芳在工作")]
    tags = [[1, 2, 0, 0, 0, 0, 0], [1, 0, 0, 0]]
    history = model.fit(x=words, y=tags, batch_size=2, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    transitions = model.get_layer("crf").scores()[0].numpy()
    assert transitions[1, 2] > transitions[0, 2] + 1.0  # B-PER -> I-PER learnt over O -> I-PER


def test_ner_head_on_another_task_is_a_one_line_error(tmp_path, capsys):
    from kerasbert.cli.train import main

    data = tmp_path / "train.csv"
    data.write_text("text,label\ngood,1\nbad,0\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["train", "--task=classification", "--ner_head=crf",
                        f"--train_data={data}", f"--output_dir={tmp_path / 'run'}"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("--ner_head applies to --task=ner, "
                                                 "not classification"), lines
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, ["train", "--task=ner", "--ner_head=hmm",
                        f"--train_data={data}", f"--output_dir={tmp_path / 'run'}"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--ner_head" in lines[0] and "crf" in lines[0], lines
