"""What a run leaves when things go wrong (issue #27): a damaged weights file, an
empty corpus, a full disk and two runs into one directory are each one line
(no traceback, no crash), and what was written before stays intact.

The full disk is a real one: a 22 MB tmpfs mounted in a private mount
namespace (`unshare`, as root or as a user with user namespaces), holding the
output directory of a real `kerasbert.train` process.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from kerasbert import BertEncoder, BertTokenizer
from kerasbert.checkpoints.loading import save_encoder
from kerasbert.errors import UsageError
from kerasbert.outputs import LOCK_FILE, OutputLock, write_file

SAMPLES = os.path.join(os.path.dirname(__import__("kerasbert").__file__), "data", "samples")
TRAIN = os.path.join(SAMPLES, "sentiment_train.csv")
DEV = os.path.join(SAMPLES, "sentiment_dev.csv")
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64)
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny random encoder with the stand-in hub's BERT-Tiny vocabulary."""
    path = tmp_path_factory.mktemp("base")
    tf.keras.utils.set_random_seed(3)
    save_encoder(BertEncoder(**TINY), path)
    BertTokenizer.from_preset("bert_tiny_en_uncased", sequence_length=32).save_to_dir(path)
    return str(path)


def _train_args(base, output_dir, *extra):
    return ["--train_data=" + TRAIN, "--eval_data=" + DEV, f"--model={base}",
            f"--output_dir={output_dir}", "--epochs=1", "--batch_size=16", "--max_seq_length=32",
            "--verbose=0", *extra]


@pytest.fixture(scope="module")
def trained(base, tmp_path_factory):
    """A model directory written by kerasbert.train (in-process)."""
    from kerasbert.cli.train import main

    directory = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", *_train_args(base, directory)]) == 0
    assert not (directory / LOCK_FILE).exists()  # released
    return directory


def _program(*args, timeout=300):
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                         timeout=timeout, env=ENV)
    return out.returncode, [line for line in out.stderr.splitlines() if line.strip()]


def test_a_truncated_weights_file_is_one_line_naming_it(trained, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(trained, damaged)
    head = damaged / "head.safetensors"
    head.write_bytes(head.read_bytes()[:5])
    code, lines = _program("kerasbert.predict", f"--model={damaged}", "a gripping film")
    assert code == 2, lines
    assert lines[-1].startswith("kerasbert.predict: error: ") and "Traceback" not in "".join(lines)
    assert f"{head}: damaged weights file" in lines[-1]
    # A header that promises more than the file holds (cut mid-weights).
    encoder = damaged / "encoder" / "encoder.safetensors"
    shutil.copy(trained / "head.safetensors", head)
    encoder.write_bytes(encoder.read_bytes()[:1000])
    from kerasbert.serving.predictor import Predictor

    with pytest.raises(UsageError, match=f"{encoder}: damaged weights file"):
        Predictor.from_directory(damaged)


def test_an_empty_corpus_is_one_line_naming_it(tmp_path):
    from kerasbert.cli.pretrain import main
    from kerasbert.data.errors import DataError

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataError, match=f"{empty}: empty file"):
        main(["pretrain", f"--train_data={empty}", f"--output_dir={tmp_path / 'out'}",
              "--max_steps=1"])


HOLDER = textwrap.dedent("""
    import sys
    from kerasbert.outputs import OutputLock
    OutputLock(sys.argv[1], "holder").acquire()
    print("held", flush=True)
    sys.stdin.read()
""")


def test_an_output_directory_in_use_is_refused_and_a_stale_lock_taken_over(base, tmp_path,
                                                                          capsys):
    from kerasbert.cli import customize, pretrain, train, tune

    directory = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], env=ENV,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        owner = json.loads((directory / LOCK_FILE).read_text())
        assert owner["pid"] == holder.pid
        refusal = f"{directory} is in use by another run \\(holder, pid {holder.pid} on "
        with pytest.raises(UsageError, match=refusal):
            train.main(["train", *_train_args(base, directory)])
        with pytest.raises(UsageError, match=refusal):
            pretrain.main(["pretrain", f"--train_data={SAMPLES}/reviews_corpus.txt",
                           f"--output_dir={directory}", "--max_steps=1"])
        space = tmp_path / "space.yaml"
        space.write_text("learning_rate: {type: choice, values: [1.0e-4]}\n")
        with pytest.raises(UsageError, match=refusal):
            tune.main(["tune", *_train_args(base, directory), f"--search_space={space}",
                       "--max_trials=1"])
        with pytest.raises(UsageError, match=refusal):
            customize.main(["customize", f"--train_data={TRAIN}", f"--eval_data={DEV}",
                            f"--output_dir={directory}", f"--candidates={base}"])
        assert sorted(os.listdir(directory)) == [LOCK_FILE]  # nothing was written
    finally:
        holder.kill()
        holder.wait()
    # The holder was killed: its lock is stale, taken over with a line that says so.
    assert train.main(["train", *_train_args(base, directory)]) == 0
    assert f"taking over the lock of {directory} from a run that is gone (pid {holder.pid})" \
        in capsys.readouterr().err
    assert (directory / "kerasbert_task.json").exists() and not (directory / LOCK_FILE).exists()


def test_two_locks_in_one_process_nest_and_writes_leave_no_partial_files(tmp_path):
    with OutputLock(tmp_path / "d", "outer"):
        with OutputLock(tmp_path / "d", "inner"):  # a program calling another
            assert (tmp_path / "d" / LOCK_FILE).exists()
        assert (tmp_path / "d" / LOCK_FILE).exists()
    assert not (tmp_path / "d").exists()  # it made the directory and nothing was written there
    target = tmp_path / "file.txt"
    write_file(target, "first")
    write_file(target, "second")
    assert target.read_text() == "second" and os.listdir(tmp_path) == ["file.txt"]


def _has_unshare():
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0 or \
        (os.geteuid() == 0 and subprocess.run(["unshare", "-m", "true"],
                                               capture_output=True).returncode == 0)


DISK_FULL = textwrap.dedent("""
    set -e
    mount -t tmpfs -o size={size} tmpfs "$1"
    shift
    mkdir -p "$1"
    echo "my notes" > "$1/notes.txt"
    {python} -m kerasbert.train "$@" 2> "$1.stderr" && code=0 || code=$?
    echo "exit $code"
    ls -A "$1" | tr '\\n' ' '; echo
    {python} -c "import tensorflow as tf, sys; print('latest', tf.train.latest_checkpoint(sys.argv[1]))" "$1/checkpoints"
    cat "$1.stderr" | grep -v '^$' | tail -n 3
    cat "$1/notes.txt"
""")


@pytest.mark.skipif(not _has_unshare(), reason="needs unshare with a mount namespace "
                    "(root, or user namespaces) to mount a small tmpfs")
def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(base, tmp_path):
    """22 MB: room for the run's checkpoint (12 MB with the optimizer's slots) and
    its best weights, not for the whole model directory that follows."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = DISK_FULL.format(size="22m", python=sys.executable)
    flags = ("-rm",) if os.geteuid() != 0 else ("-m",)
    out = subprocess.run(["unshare", *flags, "sh", "-c", script, "sh", str(mount),
                          str(mount / "run"),
                          *_train_args(base, mount / "run", "--max_steps=3",
                                       "--checkpoint_every_steps=3")],
                         capture_output=True, text=True, timeout=600, env=ENV)
    lines = out.stdout.splitlines()
    assert "exit 1" in lines, out.stdout + out.stderr
    listing = lines[lines.index("exit 1") + 1]
    assert "checkpoints" in listing and ".tmp" not in listing, listing
    latest = next(line for line in lines if line.startswith("latest "))
    assert latest != "latest None", lines
    error = lines[-2]
    assert error.startswith(f"kerasbert.train: error: no space left on {mount} writing "
                            f"{mount / 'run'}"), lines
    assert "Traceback" not in out.stdout
    assert lines[-1] == "my notes"
