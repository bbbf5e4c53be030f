"""The automatic recipe: its decisions on measured profiles, and `python -m kerasbert.customize`
(the README's command, with its budget and a refused second run, is checked by test_readme)."""

import os
import subprocess
import sys

from kerasbert.customization.data_profile import DataProfile, profile_data
from kerasbert.customization.recipe import choose_recipe

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def _profile(num_examples=5000, p95=40, pieces_per_word=1.2, documents=0):
    return DataProfile(num_examples, {"0": num_examples // 2, "1": num_examples // 2},
                       {50: p95 // 2, 95: p95, 100: p95 * 2}, pieces_per_word, documents)


SPEEDS = {"big": 1 / 10.0, "small": 1 / 100.0}  # seconds per example: 10 and 100 examples/s


def test_length_from_the_95th_percentile():
    assert choose_recipe(_profile(p95=40), 10_000, SPEEDS).max_seq_length == 64
    assert choose_recipe(_profile(p95=64), 10_000, SPEEDS).max_seq_length == 64
    assert choose_recipe(_profile(p95=700), 10_000, SPEEDS).max_seq_length == 512


def test_model_that_fits_the_budget_is_chosen():
    roomy = choose_recipe(_profile(num_examples=5000), 10_000, SPEEDS)
    assert roomy.model == "big" and roomy.epochs >= 1
    tight = choose_recipe(_profile(num_examples=5000), 200, SPEEDS)
    assert tight.model == "small"
    assert tight.train_seconds <= 200 and any("small" in r for r in tight.reasons)


def test_search_only_when_three_trials_fit():
    assert choose_recipe(_profile(num_examples=500), 60, SPEEDS).search_trials == 0
    roomy = choose_recipe(_profile(num_examples=500), 20_000, SPEEDS)
    assert roomy.search_trials == 3 and roomy.search_seconds < 20_000


def test_continued_pretraining_only_for_text_the_vocabulary_splits():
    general = choose_recipe(_profile(pieces_per_word=1.2, documents=50), 10_000, SPEEDS,
                            has_unlabeled=True)
    assert general.pretrain_seconds == 0 and any("general English" in r for r in general.reasons)
    domain = choose_recipe(_profile(pieces_per_word=2.1, documents=50), 10_000, SPEEDS,
                           has_unlabeled=True)
    assert domain.pretrain_seconds > 0
    assert choose_recipe(_profile(pieces_per_word=2.1), 10_000, SPEEDS).pretrain_seconds == 0


def test_adapters_for_many_users():
    assert choose_recipe(_profile(), 10_000, SPEEDS, per_user=True).adapter == "lora"
    assert choose_recipe(_profile(), 10_000, SPEEDS).adapter is None


def test_profile_of_real_sst2_and_real_wikipedia_text(test_data):
    from kerasbert import BertTokenizer
    from kerasbert.data.squad import read_squad
    from kerasbert.training.inputs import read_text_examples

    tokenizer = BertTokenizer.from_preset("all_minilm_l6_v2")
    examples = read_text_examples(test_data / "glue" / "SST-2" / "dev.tsv", "classification",
                                  "sentence", "label")
    profile = profile_data(examples, tokenizer)
    assert profile.num_examples == 872 and set(profile.label_counts) == {"0", "1"}
    assert 10 < profile.token_lengths[50] < profile.token_lengths[95] < 64
    assert profile.suggested_max_seq_length == 64
    contexts = sorted({e.context for e in read_squad(test_data / "squad" / "dev-v1.1.json")})
    wiki = profile_data(examples, tokenizer, contexts[:200])
    assert 1.0 < wiki.pieces_per_word < 1.6 and wiki.unlabeled_documents == 200


def test_overwrite_removes_a_customizations_outputs_and_nothing_else(tmp_path):
    # What --overwrite removes before a customization runs again.
    from kerasbert.customization.customize import OUTPUTS
    from kerasbert.training.run_settings import existing_outputs, remove_outputs

    for name in ("customization_report.md", "metrics.json", "model.keras", "notes.txt"):
        (tmp_path / name).write_text("x")
    for name in ("adapted_encoder", "search", "encoder", "my_data"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "file").write_text("x")
    assert sorted(existing_outputs(str(tmp_path), OUTPUTS)) == [
        "adapted_encoder", "customization_report.md", "encoder", "metrics.json",
        "model.keras", "search"]
    remove_outputs(str(tmp_path), OUTPUTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_data", "notes.txt"]
    assert existing_outputs(str(tmp_path), OUTPUTS) == []


def test_customize_bad_flags(tmp_path):
    out = subprocess.run([sys.executable, "-m", "kerasbert.customize", "--train_data=/nope.csv",
                          "--eval_data=/nope.csv", f"--output_dir={tmp_path}"],
                         capture_output=True, text=True, env=ENV, timeout=60)
    assert out.returncode == 2 and "file /nope.csv does not exist" in out.stderr


def test_customize_reads_files_in_the_encoding_given(tmp_path):
    # A Latin-1 training file is read with --encoding=latin-1: the run gets as
    # far as the dev file, which has only a header (no examples: one line, exit 2).
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    train.write_bytes("text,label\ncafé crème,1\nrésumé fade,0\n".encode("latin-1"))
    dev.write_bytes(b"text,label\n")
    out = subprocess.run([sys.executable, "-m", "kerasbert.customize", f"--train_data={train}",
                          f"--eval_data={dev}", f"--output_dir={tmp_path / 'run'}",
                          "--encoding=latin-1", "--header=yes"],
                         capture_output=True, text=True, env=ENV, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"kerasbert.customize: error: {dev}: no examples: the file holds only a header"], \
        out.stderr


def test_search_step_runs_a_real_tune_and_returns_its_best_learning_rate(test_data, tmp_path):
    from kerasbert.configs.customize import CustomizeConfig
    from kerasbert.customization.customize import _search
    from kerasbert.customization.recipe import Recipe

    train = tmp_path / "train.tsv"
    with open(test_data / "glue" / "SST-2" / "train.tsv", encoding="utf-8") as f:
        lines = f.readlines()
    train.write_text("".join(lines[:161]), encoding="utf-8")
    dev = tmp_path / "dev.tsv"
    dev.write_text(lines[0] + "".join(lines[161:225]), encoding="utf-8")
    recipe = Recipe(model="bert_tiny_en_uncased", max_seq_length=32, batch_size=16, epochs=1,
                    train_seconds=30, search_trials=2, search_seconds=120)
    config = CustomizeConfig(train_data=str(train), eval_data=str(dev),
                             output_dir=str(tmp_path / "run"), text_column="sentence")
    rate = _search(config, "bert_tiny_en_uncased", recipe)
    # The rate returned is the learning rate of the trial that scored best in the
    # table the search wrote (direction from its search.json).
    import csv
    import json

    search = tmp_path / "run" / "search"
    direction = json.loads((search / "search.json").read_text())["direction"]
    with open(search / "results.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "COMPLETED"]
    assert rows, "the search completed no trial"
    objectives = [float(r["objective"]) for r in rows]
    best = max(objectives) if direction == "max" else min(objectives)
    best_rates = {float(r["learning_rate"]) for r, o in zip(rows, objectives) if o == best}
    assert rate in best_rates, (rate, rows)
    # ... and it is the rate of the trial the search itself names best.
    table = json.loads((search / "results.json").read_text())
    named = next(t for t in table["trials"] if t["trial_id"] == table["best_trial"])
    assert named["objective"] == best
    assert rate == named["hyperparameters"]["learning_rate"]
    # Apart from the search's own tables: each trial's learning rate as keras-tuner
    # stored it (trial.json) and its accuracy as the trial's run wrote it
    # (execution_*/metrics.json); the rate is that of a best-scoring run.
    scores = {}
    for trial in (search / "trials").glob("trial_*"):
        values = json.loads((trial / "trial.json").read_text())["hyperparameters"]["values"]
        runs = [json.loads(p.read_text())["accuracy"]
                for p in trial.glob("execution_*/metrics.json")]
        if runs:
            scores.setdefault(values["learning_rate"], []).append(max(runs))
    assert sum(map(len, scores.values())) == len(rows)
    assert direction == "max"  # accuracy
    top = max(max(s) for s in scores.values())
    assert rate in {r for r, s in scores.items() if max(s) == top}, scores
