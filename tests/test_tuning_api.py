"""The run settings as a config object, and the search as a Python API.

`FineTuneConfig` carries `kerasbert.train`'s settings under its flag names and
defaults; a search started from Python with one (no absl flags, no
`kerasbert.cli`, no subprocess of ours) trains real trials of a one-layer
encoder on a 32-sentence slice of GLUE SST-2.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from absl import flags

from kerasbert.cli import train as train_cli
from kerasbert.cli import tune as tune_cli
from kerasbert.errors import UsageError
from kerasbert.configs.training import TrainingConfig
from kerasbert.training.run_config import FineTuneConfig
from kerasbert.tuning.hypermodel import trial_config
from tests.test_tuning import make_sst2_slice, make_tiny_model

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def _train_flags(*args):
    fv = flags.FlagValues()
    train_cli.define_flags(fv)
    fv(["kerasbert.train", *args])
    return fv


def test_config_has_every_train_setting_with_the_flag_defaults():
    fv = _train_flags()
    settings = FineTuneConfig().settings()
    strategy_flags = {"tpu", "mixed_precision", "jit_compile", "num_gpus", "cpu_replicas",
                      "tpu_timeout"}
    names = {n for n in fv if fv[n].name == n} - {"config"} - strategy_flags
    missing = sorted(names - set(settings))
    assert not missing, f"train flags without a FineTuneConfig setting: {missing}"
    differ = {n: (fv[n].default, settings[n]) for n in names if fv[n].default != settings[n]}
    assert not differ, f"defaults that differ (flag, config): {differ}"


def test_config_from_flags_and_a_trial_applied_to_it(tmp_path):
    data = tmp_path / "train.tsv"
    data.write_text("sentence\tlabel\na\t1\n")
    fv = _train_flags(f"--train_data={data}", "--text_column=0", "--epochs=2",
                      "--learning_rate=1e-4", "--max_seq_length=64", "--verbose=0",
                      f"--output_dir={tmp_path / 'out'}")
    base = train_cli.fine_tune_config(fv)
    assert base.text_column == 0 and base.max_seq_length == 64  # columns parsed as indices
    assert base == FineTuneConfig(train_data=str(data), text_column=0, epochs=2,
                                  learning_rate=1e-4, max_seq_length=64, verbose=0,
                                  output_dir=str(tmp_path / "out"))
    assert isinstance(base, TrainingConfig)  # the recipe's fields are its own

    trial = trial_config(base, {"learning_rate": 3e-5, "model": "bert_tiny_en_uncased",
                                "seed": 7}, str(tmp_path / "trial"), seed_offset=2)
    assert (trial.learning_rate, trial.model, trial.seed) == (3e-5, "bert_tiny_en_uncased", 9)
    assert trial.output_dir == str(tmp_path / "trial") and trial.epochs == 2
    assert base.learning_rate == 1e-4  # the base is left as it was
    with pytest.raises(ValueError, match="not a fine-tuning setting: train_dat"):
        base.replace(train_dat="x.tsv")


def test_space_values_outside_a_flags_range_are_a_usage_error(tmp_path):
    from kerasbert.tuning.search_space import load_search_space

    path = tmp_path / "space.yaml"
    path.write_text("batch_size: [16, 32]\nwarmup_ratio: {type: float, min: 0.0, max: 1.0}\n")
    space = load_search_space(str(path), "classification", tune_cli.tunable_flags())
    fv = _train_flags()
    with pytest.raises(UsageError) as err:
        tune_cli.check_space_ranges(space, fv)
    assert str(err.value) == (f"search space {path}: entry 'warmup_ratio': --warmup_ratio "
                              "must be in [0, 1), got 1.0")
    path.write_text("batch_size: [16, 32]\nwarmup_ratio: {type: float, min: 0.0, max: 0.2}\n")
    tune_cli.check_space_ranges(load_search_space(str(path), "classification",
                                                  tune_cli.tunable_flags()), fv)


SEARCH = textwrap.dedent("""\
    import json, sys
    from absl import flags
    from kerasbert.training.run_config import FineTuneConfig
    from kerasbert.tuning.search import SearchConfig, run_search
    from kerasbert.tuning.search_space import Entry, SearchSpace

    data, model, out = sys.argv[1:]
    base = FineTuneConfig(train_data=data + "/train.tsv", eval_data=data + "/dev.tsv",
                          text_column="sentence", model=model, max_seq_length=16,
                          batch_mode="static", epochs=1, batch_size=8, verbose=0)
    space = SearchSpace((Entry("learning_rate", "choice", values=(1e-3, 1e-2)),))
    result = run_search(base, space, SearchConfig(out, tuner="grid", max_trials=2))
    print(json.dumps({
        "rows": result.rows, "best": result.best, "best_config": result.best_config,
        "best_model": result.best_model,
        "absl_parsed": flags.FLAGS.is_parsed(),
        "cli_modules": sorted(m for m in sys.modules if m.startswith("kerasbert.cli")),
    }))
""")


def test_a_search_runs_from_python_without_flags_or_the_cli(tmp_path, test_data):
    data = make_sst2_slice(test_data, tmp_path, train_rows=32, dev_rows=16)
    model = make_tiny_model(str(tmp_path / "tiny"))
    out = tmp_path / "search"
    run = subprocess.run([sys.executable, "-c", SEARCH, str(data), model, str(out)],
                         capture_output=True, text=True, env=ENV, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["absl_parsed"] is False and result["cli_modules"] == []

    rows = result["rows"]
    assert sorted(r["hyperparameters"]["learning_rate"] for r in rows) == [1e-3, 1e-2]
    for row in rows:
        # Each trial trained into its own directory; the objective is its dev accuracy.
        assert row["status"] == "COMPLETED", row
        metrics = json.loads(open(os.path.join(row["output_dir"], "metrics.json")).read())
        assert row["objective"] == pytest.approx(metrics["accuracy"])
        assert row["output_dir"].startswith(str(out / "trials"))
    assert result["best"]["objective"] == max(r["objective"] for r in rows)
    # What kerasbert.tune writes, from the config: best_config.yaml is a train config.
    table = json.loads((out / "results.json").read_text())
    assert table["best_trial"] == result["best"]["trial_id"]
    assert result["best_model"] == str(out / "best_model")
    assert (out / "best_model" / "kerasbert_task.json").exists()
    fv = flags.FlagValues()
    train_cli.define_flags(fv)
    train_cli.parse(["kerasbert.train", f"--config={result['best_config']}"], fv)
    assert (fv.learning_rate, fv.text_column, fv.max_seq_length, fv.batch_mode) == (
        result["best"]["hyperparameters"]["learning_rate"], "sentence", 16, "static")
    assert fv.train_data == str(data / "train.tsv") and fv.epochs == 1
