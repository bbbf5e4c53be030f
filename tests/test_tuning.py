"""`python -m kerasbert.tune` as users run it: search spaces, a real search, resume, failures.

Searches fine-tune a one-layer encoder on a 128-sentence slice of GLUE SST-2
(dev: 64 sentences), sequences of 32 tokens, one epoch per trial, in real
subprocesses. The distributed search is in tests/test_tune_distributed.py.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kerasbert.cli import tune as tune_cli
from kerasbert.tuning import search_space
from kerasbert.tuning.search_space import SearchSpaceError, load_search_space

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64)


# -- shared with tests/test_tune_distributed.py ------------------------------------------------

def make_tiny_model(directory):
    """A one-layer encoder directory (kerasbert format + the uncased vocabulary);
    its 64 positions make max_seq_length 128 fail."""
    import keras

    from kerasbert import BertEncoder
    from kerasbert.checkpoints.loading import save_encoder
    from kerasbert.checkpoints.sources import vocabulary_file

    keras.utils.set_random_seed(3)
    save_encoder(BertEncoder(vocab_size=30522, **TINY), directory)
    shutil.copy(vocabulary_file("all_minilm_l6_v2"),
                os.path.join(directory, "vocab.txt"))
    return directory


def make_sst2_slice(test_data, directory, train_rows=128, dev_rows=64):
    """The first rows of GLUE SST-2's train and dev TSVs (header kept)."""
    for name, rows in (("train.tsv", train_rows), ("dev.tsv", dev_rows)):
        with open(test_data / "glue" / "SST-2" / name, encoding="utf-8") as f:
            lines = f.readlines()[: rows + 1]
        (directory / name).write_text("".join(lines), encoding="utf-8")
    return directory


def tune_args(data, model, output_dir, *extra):
    return [f"--train_data={data / 'train.tsv'}", f"--eval_data={data / 'dev.tsv'}",
            "--text_column=sentence", f"--model={model}", f"--output_dir={output_dir}",
            "--epochs=1", "--batch_size=16", "--max_seq_length=32", "--batch_mode=static",
            "--verbose=0", *extra]


def start_tune(args, log_path, **env):
    """`python -m kerasbert.tune ARGS` in the background, output to `log_path`."""
    log = open(log_path, "a", encoding="utf-8")
    return subprocess.Popen([sys.executable, "-m", "kerasbert.tune", *args],
                            env={**ENV, **env}, stdout=log, stderr=subprocess.STDOUT)


def wait_until(condition, timeout, processes=(), what="condition"):
    """Poll `condition()` every 0.5 s; fail when a process in `processes` exits first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"process {process.args[-1]} exited with {process.returncode} "
                            f"before {what}")
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def trials(output_dir):
    """{trial_id: (KerasTuner's trial.json, the kerasbert record, the runs)}."""
    out = {}
    root = os.path.join(output_dir, "trials")
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        path = os.path.join(root, name, "trial.json")
        if name.startswith("trial_") and os.path.exists(path):
            with open(path) as f:
                trial = json.load(f)
            record_path = os.path.join(root, name, "kerasbert_trial.json")
            record = json.load(open(record_path)) if os.path.exists(record_path) else None
            runs_path = os.path.join(root, name, "runs.jsonl")
            runs = [json.loads(line) for line in open(runs_path)] \
                if os.path.exists(runs_path) else []
            out[trial["trial_id"]] = (trial, record, runs)
    return out


def stop_all(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(str(tmp_path_factory.mktemp("tiny_encoder")))


@pytest.fixture(scope="module")
def sst2(test_data, tmp_path_factory):
    return make_sst2_slice(test_data, tmp_path_factory.mktemp("sst2"))


# -- search spaces -----------------------------------------------------------------------------

EVERY_TYPE = """\
learning_rate: {type: float, min: 1e-5, max: 1.0e-3, sampling: log}
batch_size: [16, 32]
epochs: {type: int, min: 1, max: 3}
warmup_ratio: {type: float, min: 0.0, max: 0.2, step: 0.1}
model: {type: choice, values: [bert_tiny_en_uncased, all_minilm_l6_v2], default: all_minilm_l6_v2}
layer_decay:
  type: float
  min: 0.5
  max: 1.0
  when: {batch_size: 32}
"""


def test_search_space_file_with_each_entry_type(tmp_path):
    import keras_tuner

    path = tmp_path / "space.yaml"
    path.write_text(EVERY_TYPE)
    space = load_search_space(str(path), "classification", tune_cli.tunable_flags())
    assert [(e.name, e.type) for e in space.entries] == [
        ("learning_rate", "float"), ("batch_size", "choice"), ("epochs", "int"),
        ("warmup_ratio", "float"), ("model", "choice"), ("layer_decay", "float")]

    hp = keras_tuner.HyperParameters()
    space.register(hp)
    assert hp.values["model"] == "all_minilm_l6_v2"  # the default is tried first
    by_name = {p.name: p for p in hp.space}
    rates = np.array([by_name["learning_rate"].random_sample(seed) for seed in range(400)])
    assert rates.min() >= 1e-5 and rates.max() <= 1e-3
    # Log sampling: as many draws below the geometric middle (1e-4) as above it.
    assert 0.35 < (rates < 1e-4).mean() < 0.65
    assert {by_name["epochs"].random_sample(s) for s in range(100)} == {1, 2, 3}
    warmups = {round(by_name["warmup_ratio"].random_sample(s), 6) for s in range(100)}
    assert warmups == {0.0, 0.1, 0.2}

    # The conditional entry is tuned only when its parent takes the named value.
    for batch_size, active in ((16, False), (32, True)):
        values = keras_tuner.HyperParameters()
        values.values.update(hp.values, batch_size=batch_size, layer_decay=0.7)
        recipe = space.register(values)
        assert ("layer_decay" in recipe) is active, recipe
        assert recipe["batch_size"] == batch_size


@pytest.mark.parametrize("text,message", [
    ("learning_rate: {type: normal, min: 1.0e-5, max: 1.0e-4}\n",
     "line 1: entry 'learning_rate': unknown type 'normal'; use one of choice, int, float"),
    ("batch_size: [16]\nlearning_rate: {type: float, min: 1e-3, max: 1e-5}\n",
     "line 2: entry 'learning_rate': min 0.001 > max 1e-05"),
    ("epochs: [2]\n\nbatch_size: {type: choice, values: []}\n",
     "line 3: entry 'batch_size': a choice needs a non-empty list of values"),
    ("batch_size: []\n", "line 1: entry 'batch_size': a choice needs a non-empty list"),
    ("learning_rat: [1.0e-5]\n", "not a tunable flag of kerasbert.train (did you mean "
                                 "'learning_rate'?)"),
    ("train_data: [a.tsv, b.tsv]\n", "entry 'train_data': not a tunable flag"),
    ("epochs: {type: float, min: 1, max: 3}\n", "--epochs is an integer flag"),
    ("batch_mode: [bucket, dynamic]\n", "value 'dynamic' is not valid for --batch_mode"),
    ("learning_rate: {type: float, min: 0, max: 1.0e-4, sampling: log}\n",
     "log sampling needs min > 0"),
    ("dropout: {type: float, min: 0, max: 0.2, when: {learning_rate: [1.0e-5]}}\n",
     "when: parent 'learning_rate' must be an entry declared above"),
    ("epochs: {type: int, min: 1, max: 3}\ndropout: {type: choice, values: [0.1], "
     "when: {epochs: 2}}\n", "when: parent 'epochs' must be a choice entry"),
    ("batch_size: [16, 32\n", "invalid YAML"),
    ("- learning_rate\n", "expected a mapping of train flags to entries"),
])
def test_bad_search_space_files_get_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SearchSpaceError) as err:
        load_search_space(str(path), "classification", tune_cli.tunable_flags())
    assert str(err.value).startswith(f"search space {path}"), err.value
    assert message in str(err.value)


def test_bad_search_space_is_a_one_line_cli_error_before_any_training(tmp_path, sst2):
    bad = tmp_path / "bad.yaml"
    bad.write_text("batch_size: [16, 32]\nwarmup_ratio: {type: float, min: 0.3, max: 0.1}\n")
    # `python -m kerasbert.tune`, run by runpy in a process that says at exit
    # whether TensorFlow was ever imported.
    probe = ("import atexit, runpy, sys\n"
             "atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules))\n"
             "sys.argv[0] = 'kerasbert.tune'\n"
             "runpy.run_module('kerasbert.tune', run_name='__main__', alter_sys=True)\n")
    out = subprocess.run([sys.executable, "-c", probe,
                          *tune_args(sst2, "bert_tiny_en_uncased", tmp_path / "out",
                                     f"--search_space={bad}")],
                         capture_output=True, text=True, env=ENV, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines == [f"kerasbert.tune: error: search space {bad}, line 2: entry "
                     "'warmup_ratio': min 0.3 > max 0.1"]
    # No TensorFlow start, no trial.
    assert out.stdout.strip().splitlines()[-1] == "tensorflow imported: False", out.stdout
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_default_spaces_hyperband_and_objectives():
    tunable = tune_cli.tunable_flags()
    for task in ("classification", "regression", "multilabel", "ner", "qa"):
        space = load_search_space(None, task, tunable)
        assert {"learning_rate", "batch_size", "epochs", "warmup_ratio"} <= set(space.names)
        rate = space.entries[space.names.index("learning_rate")]
        assert (rate.min, rate.max, rate.sampling) == (1e-5, 1e-4, "log")
    paper = load_search_space("bert_paper", "classification", tunable)
    assert paper.to_dict()["learning_rate"]["values"] == [5e-5, 3e-5, 2e-5]
    # Hyperband allots the epochs itself: the built-in spaces leave them out, a file may not
    # tune them.
    assert "epochs" not in load_search_space(None, "classification", tunable, "hyperband").names
    assert "epochs" not in load_search_space("bert_paper", "ner", tunable, "hyperband").names
    with pytest.raises(SearchSpaceError, match="hyperband uses epochs as its resource"):
        search_space.check_for_tuner(paper, "hyperband")

    from kerasbert.tuning.objective import resolve_objective

    assert [(o.name, o.direction) for o in map(resolve_objective, (
        "classification", "regression", "ner", "qa"))] == [
        ("accuracy", "max"), ("pearson", "max"), ("entity_f1", "max"), ("f1", "max")]
    assert resolve_objective("regression", "mse").direction == "min"
    assert resolve_objective("classification", "mcc").direction == "max"
    assert resolve_objective("classification", "f1_macro:min").direction == "min"
    with pytest.raises(ValueError, match="must be min or max"):
        resolve_objective("classification", "accuracy:up")
    assert tune_cli.parse_duration("90m") == 5400 and tune_cli.parse_duration("1.5h") == 5400


# -- a real search -----------------------------------------------------------------------------

SEARCH_SPACE = """\
learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, sampling: log}
batch_size: [8, 16]
warmup_ratio: {type: float, min: 0.0, max: 0.2, step: 0.1}
layer_decay: {type: choice, values: [1.0, 0.8], when: {batch_size: 16}}
seed: {type: int, min: 1, max: 1000}
"""


def _dev_accuracy(model_dir, dev_tsv):
    """Accuracy of an exported model directory over the whole dev file."""
    from kerasbert.tasks.model_directory import load_model_directory

    model, task, tokenizer, _ = load_model_directory(model_dir)
    with open(dev_tsv, encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    logits = model(tokenizer([r[0] for r in rows]), training=False).numpy()
    gold = np.array([task.labels.index(r[1]) for r in rows])
    return float((logits.argmax(-1) == gold).mean())


def test_hyperband_search_of_three_trials_and_its_results(tmp_path, sst2, tiny_model):
    space = tmp_path / "space.yaml"
    space.write_text(SEARCH_SPACE)
    out_dir = tmp_path / "search"
    args = tune_args(sst2, tiny_model, out_dir, "--tuner=hyperband", "--epochs=2",
                     "--hyperband_factor=2", "--max_trials=3", f"--search_space={space}")
    run = subprocess.run([sys.executable, "-m", "kerasbert.tune", *args], capture_output=True,
                         text=True, env=ENV, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    table = json.loads((out_dir / "results.json").read_text())
    rows = {r["trial_id"]: r for r in table["trials"]}
    assert len(rows) == 3 and all(r["status"] == "COMPLETED" for r in rows.values())
    assert (table["objective"], table["direction"]) == ("accuracy", "max")
    for row in rows.values():
        # The objective is the dev accuracy fine_tune measured over the whole dev set.
        metrics = json.loads(open(os.path.join(row["output_dir"], "metrics.json")).read())
        assert row["objective"] == pytest.approx(metrics["accuracy"])
        assert row["runs"] == 1 and row["tuner_id"] == "tuner0"
        assert ("layer_decay" in row["hyperparameters"]) == (
            row["hyperparameters"]["batch_size"] == 16)

    # Hyperband: two one-epoch trials, then the better one continued to two epochs
    # from its own checkpoint (its first epoch is not trained again).
    first_round = [r for r in rows.values() if r["continues"] is None]
    [promoted] = [r for r in rows.values() if r["continues"] is not None]
    assert sorted(r["hyperparameters"]["epochs"] for r in rows.values()) == [1, 1, 2]
    parent = rows[promoted["continues"]]
    assert parent["objective"] == max(r["objective"] for r in first_round)
    child_history = json.loads(open(os.path.join(promoted["output_dir"], "history.json")).read())
    parent_history = json.loads(open(os.path.join(parent["output_dir"], "history.json")).read())
    assert [h["epoch"] for h in child_history] == [1, 2]
    assert child_history[0] == parent_history[0]

    best_id = table["best_trial"]
    best = rows[best_id]
    assert best["objective"] == max(r["objective"] for r in rows.values())
    with open(out_dir / "results.csv", encoding="utf-8") as f:
        table_rows = list(csv.DictReader(f))
    assert [r["trial_id"] for r in table_rows] == sorted(rows)
    assert {"learning_rate", "batch_size", "warmup_ratio", "seed", "epochs"} <= set(table_rows[0])

    # The best recipe is a config that kerasbert.train accepts as it is.
    from absl import flags

    from kerasbert.cli import train as train_cli

    fv = flags.FlagValues()
    train_cli.define_flags(fv)
    train_cli.parse(["kerasbert.train", f"--config={out_dir / 'best_config.yaml'}"], fv)
    for name, value in best["hyperparameters"].items():
        assert fv[name].value == pytest.approx(value), name
    assert fv.model == tiny_model and fv.max_seq_length == 32 and fv.task == "classification"
    assert fv.output_dir == str(out_dir / "best_retrained")

    # The best model is kept and exported, without its training state, and scores the
    # objective on the dev set.
    model_dir = out_dir / "best_model"
    assert (model_dir / "kerasbert_task.json").exists() and not (model_dir / "checkpoints").exists()
    assert _dev_accuracy(str(model_dir), sst2 / "dev.tsv") == pytest.approx(best["objective"])
    png = (out_dir / "search.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000

    summary = subprocess.run([sys.executable, "-m", "kerasbert.tune", f"--summary={out_dir}"],
                             capture_output=True, text=True, env=ENV, timeout=60)
    assert summary.returncode == 0, summary.stderr
    lines = summary.stdout.splitlines()
    assert "3 trials: 3 completed, 0 failed" in lines[1] and f"best: trial {best_id}" in lines[1]
    body = {line.split()[1] if line.startswith("*") else line.split()[0]: line
            for line in lines[3:]}
    assert set(body) == set(rows) and body[best_id].startswith("*")
    assert all(f"{rows[t]['objective']:.4f}" in body[t] for t in rows)


# -- resume and failures -----------------------------------------------------------------------

GRID = """\
learning_rate: [1.0e-3, 1.0e-2]
max_seq_length: [32, 128]
"""


def test_killed_search_resumes_without_rerunning_finished_trials_and_records_failures(
        tmp_path, sst2, tiny_model):
    """A grid whose max_seq_length 128 is beyond the encoder's 64 positions: those trials
    raise inside fine_tune. The search is killed after its first finished trial and
    started again with the same command."""
    space = tmp_path / "grid.yaml"
    space.write_text(GRID)
    out_dir = tmp_path / "search"
    args = tune_args(sst2, tiny_model, out_dir, "--tuner=grid", "--max_trials=3",
                     f"--search_space={space}")
    log = tmp_path / "tune.log"
    process = start_tune(args, log)
    try:
        wait_until(lambda: any(t["status"] in ("COMPLETED", "FAILED")
                               for t, _, _ in trials(out_dir).values()),
                   timeout=300, processes=[process], what="a finished trial")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        before = {tid: (t, record) for tid, (t, record, _) in trials(out_dir).items()
                  if t["status"] in ("COMPLETED", "FAILED")}
        process = start_tune(args, log)
        assert process.wait(timeout=400) == 0, log.read_text()[-3000:]
    finally:
        stop_all([process])

    after = trials(out_dir)
    assert len(after) == 3
    for trial_id, (trial, record) in before.items():
        # Kept as they were, and not run again.
        assert after[trial_id][0]["status"] == trial["status"]
        assert after[trial_id][0]["score"] == trial["score"]
        assert after[trial_id][1]["finished"] == record["finished"]
        assert len(after[trial_id][2]) == 1
    statuses = {}
    for trial_id, (trial, record, _) in after.items():
        length = trial["hyperparameters"]["values"]["max_seq_length"]
        statuses[trial_id] = trial["status"]
        if length == 128:
            assert trial["status"] == "FAILED" and record["status"] == "FAILED"
            assert "max_seq_length 128 is above the model's max_position_embeddings 64" \
                in record["reason"]
        else:
            assert trial["status"] == "COMPLETED" and record["objective"] == trial["score"]
    assert sorted(statuses.values()) == ["COMPLETED", "COMPLETED", "FAILED"]
    assert "Reloading Tuner" in log.read_text()

    table = json.loads((out_dir / "results.json").read_text())
    [failed] = [r for r in table["trials"] if r["status"] == "FAILED"]
    assert "max_position_embeddings" in failed["reason"]
    assert table["best_trial"] in statuses and statuses[table["best_trial"]] == "COMPLETED"


# -- the oracles' budget and resume ------------------------------------------------------------

def _oracle(kind, directory, **kwargs):
    import keras_tuner

    from kerasbert.tuning.objective import Objective
    from kerasbert.tuning.oracles import make_oracle

    oracle = make_oracle(kind, Objective("accuracy", "max"), max_trials=4, seed=1, **kwargs)
    oracle._set_project_dir(str(directory), "trials")
    hp = keras_tuner.HyperParameters()
    hp.Choice("batch_size", [8, 16, 32, 64])
    oracle.update_space(hp)
    return oracle


def _end(oracle, trial, value):
    oracle.update_trial(trial.trial_id, {"accuracy": value})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


@pytest.mark.parametrize("kind", ["random", "grid"])
def test_reloaded_oracle_hands_running_trials_back_to_their_tuners(tmp_path, kind):
    oracle = _oracle(kind, tmp_path)
    first = oracle.create_trial("tuner0")
    _end(oracle, first, 0.5)
    running = oracle.create_trial("tuner1")
    oracle.save()  # what a chief killed now leaves on disk

    resumed = _oracle(kind, tmp_path)
    resumed.reload()
    assert resumed.trials[first.trial_id].status == "COMPLETED"
    # tuner1 still runs its trial: nobody else gets it (grid waits for it: IDLE), and
    # tuner1 gets it back if it restarts.
    meanwhile = resumed.create_trial("tuner0")
    assert meanwhile.trial_id not in (first.trial_id, running.trial_id)
    assert meanwhile.status == ("IDLE" if kind == "grid" else "RUNNING")
    assert resumed.create_trial("tuner1").trial_id == running.trial_id
    _end(resumed, running, 0.75)
    _end(resumed, running, 0.75)  # a report repeated after the restart changes nothing
    assert resumed.end_order.count(running.trial_id) == 1
    other = meanwhile if kind == "random" else resumed.create_trial("tuner0")
    assert other.status == "RUNNING"
    _end(resumed, other, 0.25)
    values = [t.hyperparameters.values["batch_size"] for t in resumed.trials.values()]
    assert len(set(values)) == len(values) == 3  # no value tried twice
    assert resumed.get_best_trials()[0].trial_id == running.trial_id


def test_a_trial_that_ended_before_the_chief_died_is_not_waited_for(tmp_path):
    # KerasTuner saves the oracle in end_trial before it drops the trial from the running
    # ones: the last state on disk still calls it running after its tuner has left.
    oracle = _oracle("random", tmp_path)
    ended = oracle.create_trial("tuner0")
    running = oracle.create_trial("tuner1")
    _end(oracle, ended, 0.5)
    saved = json.loads((tmp_path / "trials" / "oracle.json").read_text())
    assert saved["ongoing_trials"] == {"tuner0": ended.trial_id, "tuner1": running.trial_id}

    resumed = _oracle("random", tmp_path)
    resumed.reload()
    assert {t: trial.trial_id for t, trial in resumed.ongoing_trials.items()} == {
        "tuner1": running.trial_id}
    assert resumed.end_order == [ended.trial_id] and not resumed._retry_queue
    _end(resumed, running, 0.75)
    assert not resumed.ongoing_trials
    assert resumed.create_trial("tuner0").trial_id not in (ended.trial_id, running.trial_id)


@pytest.mark.parametrize("kind", ["random", "grid", "hyperband"])
def test_a_trial_created_as_the_chief_died_is_created_again_not_lost(tmp_path, kind):
    # KerasTuner writes a new trial's file, then the oracle's: a chief killed between
    # the two leaves a trial the saved oracle never started and no tuner received.
    oracle = _oracle(kind, tmp_path)
    first = oracle.create_trial("tuner0")
    _end(oracle, first, 0.5)
    saved = (tmp_path / "trials" / "oracle.json").read_bytes()
    orphan = oracle.create_trial("tuner1")
    (tmp_path / "trials" / "oracle.json").write_bytes(saved)  # the kill: oracle.json not written
    assert json.loads((tmp_path / "trials" / f"trial_{orphan.trial_id}" / "trial.json").read_text(
        ))["status"] == "RUNNING"

    resumed = _oracle(kind, tmp_path)
    resumed.reload()
    assert sorted(resumed.trials) == [first.trial_id]
    again = resumed.create_trial("tuner1")  # the worker's retried call
    assert (again.trial_id, again.status) == (orphan.trial_id, "RUNNING")
    assert again.hyperparameters.values == orphan.hyperparameters.values
    _end(resumed, again, 0.75)
    for _ in range(2):
        _end(resumed, resumed.create_trial("tuner0"), 0.25)
    assert resumed.create_trial("tuner0").status == "STOPPED"  # max_trials=4, each run once
    values = [str(t.hyperparameters.values) for t in resumed.trials.values()]
    assert len(set(values)) == len(values) == 4, values


def test_time_budget_stops_new_trials_and_survives_a_restart(tmp_path):
    oracle = _oracle("random", tmp_path, time_budget=3600)
    trial = oracle.create_trial("tuner0")
    assert trial.status == "RUNNING"
    _end(oracle, trial, 0.5)
    oracle.search_start -= 3599  # one second of the budget left
    oracle.save()
    resumed = _oracle("random", tmp_path, time_budget=3600)
    resumed.reload()
    assert resumed.search_start == pytest.approx(oracle.search_start)
    time.sleep(1.1)
    assert resumed.create_trial("tuner0").status == "STOPPED"
