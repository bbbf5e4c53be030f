"""One SavedModel serving many users' LoRA adapters, mixed users in one batch (issue #17)."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from kerasbert import BertEncoder, BertTokenizer
from kerasbert.adapters.lora import adapter_variables, enable_lora, save_adapter
from kerasbert.checkpoints.loading import save_encoder
from kerasbert.tasks import get_task
from kerasbert.tasks.keras_task import BertTask
from kerasbert.tasks.model_directory import save_model_directory

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
LENGTH = 32
SENTIMENT = ["negative", "neutral", "positive"]
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TEXTS = ["a gripping , funny film", "dull and far too long", "the cast is wonderful",
         "Ann met Bob in Paris", "not bad at all", "John Smith lives in New York"]


def _base_dir(root, tokenizer, base_seed):
    """The seeded tiny base encoder (with its vocabulary), saved once under `root`."""
    path = root / f"base{base_seed}"
    if not path.exists():
        tf.keras.utils.set_random_seed(base_seed)
        save_encoder(BertEncoder(**TINY), path)
        tokenizer.save_to_dir(path)
    return str(path)


def _user_dir(path, tokenizer, task, head, seed, rank, feed_forward=False, base_seed=11,
              recorded_base=None):
    """A LoRA user's model directory: random adapters and head on the seeded base,
    which its adapter file names (or `recorded_base`), as fine_tune records it."""
    base = _base_dir(path.parent, tokenizer, base_seed)
    model = BertTask(BertEncoder.from_preset(base), len(task.labels), head=head)
    settings = enable_lora(model, rank, feed_forward=feed_forward)
    rng = np.random.default_rng(seed)
    for variable in adapter_variables(model).values():
        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
    save_model_directory(str(path), model, task, tokenizer, LENGTH, False)
    save_adapter(model, os.path.join(str(path), "adapter.safetensors"),
                 {**settings, "base": recorded_base or base})
    return str(path)


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.from_preset("bert_tiny_en_uncased", sequence_length=LENGTH)


@pytest.fixture(scope="module")
def users(tokenizer, tmp_path_factory):
    """{"cls": {user: dir}, "ner": {user: dir}}: users of mixed ranks and targets."""
    root = tmp_path_factory.mktemp("bank_users")
    classification, ner = get_task("classification", SENTIMENT), get_task("ner", TAGS)
    return {
        "cls": {"alice": _user_dir(root / "alice", tokenizer, classification, "pooled", 1, 4),
                "bob": _user_dir(root / "bob", tokenizer, classification, "pooled", 2, 2,
                                 feed_forward=True),
                "carol": _user_dir(root / "carol", tokenizer, classification, "pooled", 3, 4)},
        "ner": {"dan": _user_dir(root / "dan", tokenizer, ner, "sequence", 4, 4),
                "erin": _user_dir(root / "erin", tokenizer, ner, "sequence", 5, 2)},
    }


def test_bank_predictor_matches_each_users_own_model(users):
    from kerasbert.serving.bank_serving import BankPredictor
    from kerasbert.serving.predictor import Predictor

    for kind in ("cls", "ner"):
        names = list(users[kind])
        row_users = [names[i % len(names)] for i in range(len(TEXTS))][::-1]
        bank = BankPredictor.from_users(users[kind])
        got = bank.predict({"text": TEXTS}, row_users, batch_size=4)
        own = {u: Predictor.from_directory(d).predict({"text": TEXTS})
               for u, d in users[kind].items()}
        for i, user in enumerate(row_users):
            expected = own[user][i]
            if kind == "cls":
                assert got[i]["label"] == expected["label"]
                for label, p in expected["probabilities"].items():
                    assert abs(got[i]["probabilities"][label] - p) <= 1e-4
            else:
                assert [e["text"] for e in got[i]["entities"]] == \
                    [e["text"] for e in expected["entities"]]
        if kind == "cls":  # the users really differ
            assert len({json.dumps(own[u][0]["probabilities"]) for u in own}) == len(own)
        with pytest.raises(KeyError, match="unknown user 'mallory'"):
            bank.predict({"text": TEXTS[:2]}, ["mallory", names[0]])


def test_predict_cli_serves_the_bank(users, capsys):
    from kerasbert.cli.flags import UsageError
    from kerasbert.cli.predict import main
    from kerasbert.serving.predictor import Predictor

    spec = ",".join(f"{u}={d}" for u, d in users["cls"].items())
    assert main(["predict", f"--adapter_bank={spec}", TEXTS[0], TEXTS[1], "--user=bob",
                 "--user=alice"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["user"] for r in rows] == ["bob", "alice"]
    for row, user in zip(rows, ("bob", "alice")):
        own = Predictor.from_directory(users["cls"][user]).predict({"text": [row["text"]]})[0]
        assert row["label"] == own["label"] and abs(row["score"] - own["score"]) <= 1e-4
    with pytest.raises(UsageError, match="unknown user 'mallory'"):
        main(["predict", f"--adapter_bank={spec}", TEXTS[0], "--user=mallory"])


def test_predict_cli_streams_a_file_through_the_bank_with_its_users(users, tmp_path,
                                                                     monkeypatch):
    """`--input_file` with `--user_column`: read, predicted and written a chunk
    of rows at a time, each row's user read in step with its text."""
    import csv

    from kerasbert.cli.predict import main
    from kerasbert.data.errors import DataError
    from kerasbert.serving import task_io
    from kerasbert.serving.predictor import Predictor

    names = sorted(users["cls"])
    rows = [(TEXTS[i % len(TEXTS)], names[(i * 2) % len(names)]) for i in range(5)]
    path = tmp_path / "requests.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "user"), *rows])
    monkeypatch.setattr(task_io, "PREDICT_CHUNK_ROWS", 2)  # chunks of 2, 2 and 1 rows
    spec = ",".join(f"{u}={d}" for u, d in users["cls"].items())
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", f"--adapter_bank={spec}", f"--input_file={path}",
                 "--user_column=user", f"--output_file={out}"]) == 0
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["text"], r["user"]) for r in got] == rows
    assert len({r["user"] for r in got}) > 1
    for row in got:
        own = Predictor.from_directory(users["cls"][row["user"]]).predict(
            {"text": [row["text"]]})[0]
        assert row["label"] == own["label"] and abs(row["score"] - own["score"]) <= 1e-4
    # A row without its user names its line; the earlier predictions stay whole.
    before = out.read_bytes()
    with open(path, "a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow((TEXTS[0], ""))
    with pytest.raises(DataError, match=r"requests.csv, line 7, field 'user'"):
        main(["predict", f"--adapter_bank={spec}", f"--input_file={path}",
              "--user_column=user", f"--output_file={out}"])
    assert out.read_bytes() == before


def test_mismatched_users_are_refused_at_export(users, tokenizer, tmp_path):
    from kerasbert.serving.bank_serving import export_adapter_bank

    other_base = _user_dir(tmp_path / "zed", tokenizer, get_task("classification", SENTIMENT),
                           "pooled", 9, 4, base_seed=12)
    bases = os.path.dirname(users["cls"]["alice"]) + "/base11", str(tmp_path / "base12")
    with pytest.raises(ValueError, match=re.escape(
            f"users 'alice' and 'zed' were not trained from the same base encoder (trained "
            f"from {bases[0]} and {bases[1]})")):
        export_adapter_bank({"alice": users["cls"]["alice"], "zed": other_base},
                            tmp_path / "refused")
    with pytest.raises(ValueError, match="users 'alice' and 'dan' differ in their task's task"):
        export_adapter_bank({"alice": users["cls"]["alice"], "dan": users["ner"]["dan"]},
                            tmp_path / "refused")
    assert not (tmp_path / "refused" / "saved_model.pb").exists()


def _adapter_files_only(directory, into):
    """A copy of a user's model directory without its merged encoder (`encoder/`)."""
    copy = into / os.path.basename(directory)
    shutil.copytree(directory, copy, ignore=shutil.ignore_patterns("encoder"))
    return str(copy)


def _probabilities(records):
    return np.array([[r["probabilities"][label] for label in SENTIMENT] for r in records])


def test_rebuilt_bank_adds_a_user_from_adapter_files_only(users, tokenizer, tmp_path):
    from kerasbert.serving.bank_serving import BankPredictor
    from kerasbert.serving.predictor import Predictor

    old = {u: users["cls"][u] for u in ("alice", "bob")}
    row_users = ["bob", "alice", "alice", "bob", "alice", "bob"]
    before = _probabilities(BankPredictor.from_users(old).predict({"text": TEXTS}, row_users))
    frank = _user_dir(tmp_path / "frank", tokenizer, get_task("classification", SENTIMENT),
                      "pooled", 6, 8, feed_forward=True)
    frank_own = _probabilities(Predictor.from_directory(frank).predict({"text": TEXTS}))

    # The rebuilt bank reads the adapter files and the base the files name: the
    # users' merged encoders are gone.
    files_only = tmp_path / "files_only"
    served = {u: _adapter_files_only(d, files_only) for u, d in {**old, "frank": frank}.items()}
    assert not any(os.path.exists(os.path.join(d, "encoder")) for d in served.values())
    bank = BankPredictor.from_users(served)
    assert bank.bank.base_source.endswith("base11") and bank.users == ["alice", "bob", "frank"]
    after = _probabilities(bank.predict({"text": TEXTS}, row_users))
    np.testing.assert_allclose(after, before, atol=1e-5)
    mixed = ["frank", "alice", "frank", "bob", "frank", "frank"]
    got = _probabilities(bank.predict({"text": TEXTS}, mixed))
    rows = [i for i, u in enumerate(mixed) if u == "frank"]
    np.testing.assert_allclose(got[rows], frank_own[rows], atol=1e-4)
    assert np.abs(got[1] - after[1]).max() <= 1e-5  # alice's row, beside frank's


def test_bank_without_its_named_base_uses_the_first_users_merged_encoder(tokenizer, tmp_path):
    from kerasbert.adapters.bank_model import LoraBankModel
    from kerasbert.serving.bank_serving import BankPredictor
    from kerasbert.serving.predictor import Predictor

    classification = get_task("classification", SENTIMENT)
    moved = {u: _user_dir(tmp_path / u, tokenizer, classification, "pooled", seed, 4,
                          recorded_base=str(tmp_path / "moved_away"))
             for u, seed in (("gina", 7), ("hugo", 8))}
    bank = BankPredictor.from_users(moved)
    assert bank.bank.base_source == "user 'gina''s merged encoder minus its adapters"
    got = _probabilities(bank.predict({"text": TEXTS}, "hugo"))
    own = _probabilities(Predictor.from_directory(moved["hugo"]).predict({"text": TEXTS}))
    np.testing.assert_allclose(got, own, atol=1e-4)
    # A base given by hand must be the one the adapters were trained on.
    with pytest.raises(ValueError, match="does not fit the users' adapters: .*base12: its "
                                         "weights are not the ones 'gina''s adapters"):
        BankPredictor.from_users(moved, base=_base_dir(tmp_path, tokenizer, 12))
    given = LoraBankModel.from_model_dirs(moved, base=str(tmp_path / "base11"))
    assert given.base_source == str(tmp_path / "base11")
    # Neither the named base nor a merged encoder: refused, saying what was tried.
    files_only = {u: _adapter_files_only(d, tmp_path / "files_only") for u, d in moved.items()}
    with pytest.raises(ValueError, match=r"cannot find the base encoder of the bank's users "
                                         r"\(tried .*moved_away: .*\), nor recover it: user "
                                         r"'gina': .*encoder \(the merged encoder\) is missing"):
        BankPredictor.from_users(files_only)


FRESH = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    spec = json.loads(sys.argv[1])
    bank = tf.saved_model.load(spec["bank"])
    serve = bank.signatures["serving_default"]
    texts, users = tf.constant(spec["texts"]), spec["users"]
    got = serve(text=texts, user=tf.constant(users))
    own = {u: tf.saved_model.load(d).signatures["serving_default"](text=texts)
           for u, d in spec["own"].items()}
    worst, same = 0.0, True
    for key, value in got.items():
        value = value.numpy()
        for i, user in enumerate(users):
            mine, row = np.asarray(own[user][key].numpy()[i]), np.asarray(value[i])
            if row.ndim:  # padded to the batch's longest row: compare the common width
                n = min(len(row), len(mine))
                pads = np.concatenate([row[n:], mine[n:]]).tolist()
                same = same and all(p in (b"", -1, 0) for p in pads)
                row, mine = row[:n], mine[:n]
            if value.dtype.kind in "fc":
                worst = max(worst, float(np.max(np.abs(row - mine), initial=0.0)))
            else:
                same = same and np.array_equal(row, mine)
    try:
        serve(text=texts[:2], user=tf.constant([users[0], "mallory"]))
        refused = ""
    except tf.errors.InvalidArgumentError as err:
        refused = err.message
    meta = bank.signatures["metadata"]()
    bank_users = [u.decode() for u in meta["users"].numpy()]
    assert not any(m.startswith("kerasbert") for m in sys.modules), "not fresh"
    print(json.dumps({"worst": worst, "same": bool(same), "keys": sorted(got),
                      "refused": refused, "users": bank_users}))
""")


@pytest.mark.parametrize("kind", ["cls", "ner"])
def test_exported_bank_in_fresh_process_matches_each_users_export(users, kind, tmp_path):
    from kerasbert.cli.export import main
    from kerasbert.serving.serving_model import export_saved_model

    spec = ",".join(f"{u}={d}" for u, d in users[kind].items())
    assert main(["export", f"--adapter_bank={spec}", f"--export_dir={tmp_path / 'bank'}"]) == 0
    own = {}
    for user, directory in users[kind].items():
        export_saved_model(directory, tmp_path / user)
        own[user] = str(tmp_path / user)
    names = list(users[kind])
    row_users = [names[(i * 7) % len(names)] for i in range(len(TEXTS))]
    assert len(set(row_users)) == len(names)
    payload = json.dumps({"bank": str(tmp_path / "bank"), "own": own, "texts": TEXTS,
                          "users": row_users})
    out = subprocess.run([sys.executable, "-c", FRESH, payload], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                           "CUDA_VISIBLE_DEVICES": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["worst"] <= 1e-4, result
    assert result["same"], result
    expected_keys = {"cls": ["labels", "probabilities", "scores"],
                     "ner": ["entity_ends", "entity_scores", "entity_starts", "entity_texts",
                             "entity_types", "num_entities", "tag_scores", "tags", "words"]}
    assert result["keys"] == expected_keys[kind]
    assert "mallory" in result["refused"], result["refused"]
    assert result["users"] == names


def test_users_trained_from_one_base_with_other_rates_seeds_and_data_bank_together(
        tokenizer, tmp_path):
    """Two LoRA users fine-tuned by kerasbert.train from one checkpoint directory,
    with another learning rate, seed and training data each, and a dev set (so
    the best weights are restored at the end): their adapter files record the
    checkpoint's own weights, bit for bit, so they bank together, and the bank's
    SavedModel gives each user what the user's own SavedModel gives."""
    import csv

    from kerasbert.adapters.lora import base_record, read_adapter, read_adapter_base
    from kerasbert.cli.train import main as train
    from kerasbert.serving.bank_serving import export_adapter_bank
    from kerasbert.serving.serving_model import export_saved_model

    base = _base_dir(tmp_path, tokenizer, base_seed=5)
    samples = os.path.join(os.path.dirname(__import__("kerasbert").__file__), "data", "samples")
    with open(os.path.join(samples, "sentiment_train.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    users = {}
    for user, lr, seed, part in (("alice", "1e-4", 1, rows[::2]), ("bob", "3e-4", 2, rows[1::2])):
        data = tmp_path / f"{user}.csv"
        with open(data, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, ["text", "label"])
            writer.writeheader()
            writer.writerows(part)
        users[user] = str(tmp_path / user)
        assert train(["train", f"--train_data={data}",
                      f"--eval_data={os.path.join(samples, 'sentiment_dev.csv')}",
                      f"--model={base}", f"--output_dir={users[user]}", "--adapter=lora",
                      "--lora_rank=4", f"--learning_rate={lr}", f"--seed={seed}", "--epochs=2",
                      "--batch_size=16", f"--max_seq_length={LENGTH}", "--eval_every_steps=4",
                      "--verbose=0"]) == 0
    expected = base_record(BertEncoder.from_preset(base))
    for directory in users.values():
        assert read_adapter_base(os.path.join(directory, "adapter.safetensors")) == expected
        arrays, _ = read_adapter(os.path.join(directory, "adapter.safetensors"))
        assert np.abs(arrays["layer_0/attention/query/lora_b"]).max() > 0  # trained, not reset
    export_adapter_bank(users, tmp_path / "bank")
    bank = tf.saved_model.load(str(tmp_path / "bank"))
    texts = tf.constant(TEXTS)
    for user, directory in users.items():
        export_saved_model(directory, tmp_path / f"{user}_own")
        own = tf.saved_model.load(str(tmp_path / f"{user}_own"))
        mine = own.signatures["serving_default"](text=texts)["probabilities"].numpy()
        got = bank.signatures["serving_default"](
            text=texts, user=tf.constant([user] * len(TEXTS)))["probabilities"].numpy()
        np.testing.assert_allclose(got, mine, atol=1e-4)
