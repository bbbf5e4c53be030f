"""One declaration per setting: each program's flags are generated from its
config dataclass (`kerasbert.configs`), `--config` YAML sets the same names,
a bad value is one line naming the flag, and each `main` parses fresh flags."""

import dataclasses
import importlib

import pytest

from kerasbert.cli import customize as customize_cli
from kerasbert.cli import pretrain as pretrain_cli
from kerasbert.cli import train as train_cli
from kerasbert.cli import tune as tune_cli
from kerasbert.cli.flags import config_from_flags, run_main
from kerasbert.configs.fields import flag_fields
from kerasbert.configs.customize import CustomizeConfig
from kerasbert.configs.fine_tune import FineTuneConfig
from kerasbert.configs.pretrain import PretrainConfig
from kerasbert.configs.search import SearchConfig
from kerasbert.configs.training import TrainingConfig
from test_cli_flags import DEV, TRAIN


@pytest.mark.parametrize("cli,config_class,count", [
    (train_cli, FineTuneConfig, 46), (pretrain_cli, PretrainConfig, 48),
    (tune_cli, SearchConfig, 9), (tune_cli, FineTuneConfig, 46),
    (customize_cli, CustomizeConfig, 16)])
def test_every_setting_is_a_flag_with_its_help_and_default(cli, config_class, count):
    fv = cli.new_flags()
    fields = flag_fields(config_class)
    assert len(fields) == count
    for field in fields:
        flag = fv[field.name]
        assert flag.help.endswith(field.metadata["help"]), field.name  # enums: "<a|b>: help"
        default = tuple(flag.default) if isinstance(flag.default, list) else flag.default
        if field.metadata["flag_default"] is not None:  # a duration's text
            assert default == field.metadata["flag_default"]
            default = field.metadata["parse"](default)
        assert default == field.default and type(default) is type(field.default), field.name
        if field.metadata["choices"]:
            assert flag.parser.enum_values == list(field.metadata["choices"])
    # --help lists each of them with its help
    with pytest.raises(SystemExit) as exit_info:
        cli.main([cli.__name__, "--help"])
    assert exit_info.value.code == 0


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit):
        train_cli.parse(["kerasbert.train", "--help"])
    out = capsys.readouterr().out
    for field in flag_fields(FineTuneConfig):
        assert f"--{field.name}" in out or f"--[no]{field.name}" in out, field.name
    assert "global-norm gradient clipping (0: off)" in out


def test_search_and_customize_flags_make_their_configs(tmp_path):
    fv = tune_cli.parse(["kerasbert.tune", f"--train_data={TRAIN}", f"--eval_data={DEV}",
                         f"--output_dir={tmp_path}", "--time_budget=90m", "--tuner=grid",
                         "--max_trials=4"])
    search = tune_cli.search_config(fv)
    assert (search.output_dir, search.tuner, search.max_trials, search.time_budget) == (
        str(tmp_path), "grid", 4, 5400.0)
    fv = customize_cli.new_flags()
    fv(["kerasbert.customize", "--candidates=a,b", "--text_column=2", "--time_budget=60"])
    assert config_from_flags(CustomizeConfig, fv) == CustomizeConfig(
        candidates=("a", "b"), text_column=2, time_budget=60.0)


def test_pretraining_keeps_its_own_recipe_defaults():
    assert (PretrainConfig().epochs, PretrainConfig().learning_rate,
            PretrainConfig().checkpoint_every_steps) == (1, 1e-4, 1000)
    assert (FineTuneConfig().epochs, FineTuneConfig().learning_rate) == (3, 5e-5)
    assert isinstance(PretrainConfig(), TrainingConfig)


def test_a_yaml_config_and_the_same_flags_give_the_same_config(tmp_path):
    out = tmp_path / "out"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("task: classification\nlearning_rate: 3.0e-5\nepochs: 2\n"
                      "text_column: '0'\nlabels: [negative, positive]\npooling: mean\n"
                      "case_markers: false\nbatch_size: 16\n")
    common = [f"--train_data={TRAIN}", f"--eval_data={DEV}", f"--output_dir={out}"]
    from_yaml = train_cli.fine_tune_config(
        train_cli.parse(["kerasbert.train", *common, f"--config={recipe}"]))
    from_flags = train_cli.fine_tune_config(train_cli.parse([
        "kerasbert.train", *common, "--learning_rate=3e-5", "--epochs=2", "--text_column=0",
        "--labels=negative,positive", "--pooling=mean", "--batch_size=16"]))
    assert from_yaml == from_flags
    assert (from_yaml.text_column, from_yaml.labels, from_yaml.learning_rate) == (
        0, ("negative", "positive"), 3e-5)
    # a flag on the command line wins over the file
    overridden = train_cli.fine_tune_config(train_cli.parse(
        ["kerasbert.train", *common, f"--config={recipe}", "--epochs=5"]))
    assert overridden == dataclasses.replace(from_yaml, epochs=5)


def test_pretrain_flags_make_the_config_pretrain_takes(tmp_path):
    fv = pretrain_cli.parse(["kerasbert.pretrain", f"--train_data={TRAIN}",
                             f"--output_dir={tmp_path}", "--num_layers=2", "--vocab_size=500",
                             "--max_predictions_per_seq=5"])
    config = config_from_flags(PretrainConfig, fv)
    assert config == PretrainConfig(train_data=str(TRAIN), output_dir=str(tmp_path),
                                    num_layers=2, vocab_size=500, max_predictions_per_seq=5)
    assert config.encoder_config["num_hidden_layers"] == 2


@pytest.mark.parametrize("config,message", [
    (FineTuneConfig(batch_size=0), "--batch_size must be >= 1, got 0"),
    (FineTuneConfig(pooling="max"), "--pooling must be one of auto, cls, mean, got 'max'"),
    (FineTuneConfig(encoding="no-such-codec"), "--encoding: unknown encoding"),
    (FineTuneConfig(max_seq_length=64.5), "--max_seq_length must be an integer, got 64.5"),
    (PretrainConfig(max_predictions_per_seq=200, max_seq_length=128),
     "--max_predictions_per_seq must be in [1, --max_seq_length], got 200"),
    (FineTuneConfig(batch_size=6, gradient_accumulation_steps=4),
     "--batch_size 6 is not divisible by --gradient_accumulation_steps 4"),
])
def test_validate_reads_the_declared_ranges(config, message):
    with pytest.raises(ValueError) as err:
        config.validate()
    assert str(err.value).startswith(message)


def test_the_python_api_refuses_a_bad_setting_before_any_work(tmp_path):
    from kerasbert.pretraining.pretrain import pretrain
    from kerasbert.training.fine_tune import fine_tune

    with pytest.raises(ValueError, match=r"^--warmup_ratio must be in \[0, 1\), got 1.5$"):
        fine_tune(FineTuneConfig(train_data=str(TRAIN), output_dir=str(tmp_path / "a")),
                  warmup_ratio=1.5)
    with pytest.raises(ValueError, match=r"^--masked_lm_prob must be in \(0, 1\), got 0$"):
        pretrain(train_data=str(TRAIN), output_dir=str(tmp_path / "b"), masked_lm_prob=0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_bad_value_of_a_generated_flag_is_one_line_and_exit_2(tmp_path, capsys):
    for program, args, message in [
        ("train", ["--max_seq_length=4"], "--max_seq_length must be in [8, 512], got 4"),
        ("train", ["--pooling=max"], "--pooling=max: value should be one of <auto|cls|mean>"),
        ("pretrain", ["--layer_decay=0"], "--layer_decay must be in (0, 1], got 0.0"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            run_main(importlib.import_module(f"kerasbert.cli.{program}").main, [
                program, f"--train_data={TRAIN}", f"--output_dir={tmp_path}/out", *args])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"kerasbert.{program}: error: "), err
        assert message in err[0], err


# (program, first call's flags, its error, second call's flags, its error): the
# second error shows only if nothing of the first call was kept.
TWICE = [
    ("train", ["--task=ner", "--case_markers", "--gradient_accumulation_steps=0"],
     "--gradient_accumulation_steps must be >= 1",
     ["--case_markers"], "--case_markers applies to --task=ner, not classification"),
    ("pretrain", ["--eval_fraction=1"], "--eval_fraction must be in (0, 1)",
     ["--beam_options=--x"], "--beam_options needs --beam_runner"),
    ("tune", ["--max_trials=0"], "--max_trials must be >= 1",
     ["--search_space={tmp}/missing.yaml"], "--search_space: file"),
    ("customize", ["--time_budget=0"], "--time_budget must be > 0",
     ["--seed=-1"], "--seed must be in [0, 4294967295], got -1"),
]


@pytest.mark.parametrize("program,first,first_error,second,second_error", TWICE,
                         ids=[case[0] for case in TWICE])
def test_main_called_twice_in_one_process_keeps_nothing_of_the_first_call(
        tmp_path, capsys, program, first, first_error, second, second_error):
    main = importlib.import_module(f"kerasbert.cli.{program}").main
    common = [f"--train_data={TRAIN}", f"--eval_data={DEV}", f"--output_dir={tmp_path}/out"]
    if program == "pretrain":
        common = common[::2]
    for args, message in ((first, first_error), (second, second_error)):
        with pytest.raises(SystemExit) as exit_info:
            run_main(main, [program, *common, *(a.format(tmp=tmp_path) for a in args)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
