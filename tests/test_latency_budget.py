"""`kerasbert.customize --latency_budget_ms`: candidate deployments of the
trained model (its SavedModel, LiteRT float32 / int8, distilled students)
measured on this machine, and the most accurate within the budget delivered;
on a tiny random encoder (the choice is what is tested, not the figures)."""

import importlib
import json

import numpy as np
import pytest

from kerasbert.cli.flags import run_main
from tests.helpers import random_encoder_dir

TINY = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=64)


def _main(*args):
    """`python -m kerasbert.customize ARGS` in this process; returns the exit code."""
    module = importlib.import_module("kerasbert.cli.customize")
    with pytest.raises(SystemExit) as exit_info:
        run_main(module.main, ["kerasbert.customize", *map(str, args)])
    return exit_info.value.code


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A random two-layer encoder (width 32) with the wheel's MiniLM vocabulary."""
    return random_encoder_dir(tmp_path_factory.mktemp("tiny_encoder"), **TINY)


@pytest.fixture(scope="module")
def sst2(test_data, tmp_path_factory):
    """Train (160 rows) and dev (64 rows) slices of SST-2."""
    folder = tmp_path_factory.mktemp("sst2")
    train = (test_data / "glue" / "SST-2" / "train.tsv").read_text().splitlines()
    dev = (test_data / "glue" / "SST-2" / "dev.tsv").read_text().splitlines()
    (folder / "train.tsv").write_text("\n".join(train[:161]) + "\n")
    (folder / "dev.tsv").write_text("\n".join(dev[:65]) + "\n")
    return folder


@pytest.fixture(scope="module")
def customized(encoder_dir, sst2, tmp_path_factory):
    """`python -m kerasbert.customize --latency_budget_ms=0.001` on the tiny
    encoder: no candidate is that fast. Returns (output dir, stderr)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("customize") / "run"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = _main(f"--train_data={sst2 / 'train.tsv'}", f"--eval_data={sst2 / 'dev.tsv'}",
                     "--text_column=sentence", f"--output_dir={out}", "--time_budget=20",
                     f"--candidates={encoder_dir}", "--latency_budget_ms=0.001", "--verbose=0")
    assert code == 0, stderr.getvalue()[-3000:]
    return out, stderr.getvalue()


def _candidates(out):
    from kerasbert.customization.deployment import Candidate

    result = json.loads((out / "deployment.json").read_text())
    return result, [Candidate(**c) for c in result["candidates"]]


def test_a_budget_no_candidate_meets_delivers_the_fastest_and_says_so(customized):
    out, stderr = customized
    result, candidates = _candidates(out)
    assert [c.name for c in candidates] == ["savedmodel", "litert_float32", "litert_int8",
                                            "student_1l_savedmodel"]
    assert [c.layers for c in candidates] == [2, 2, 2, 1]
    fastest = min(candidates, key=lambda c: c.batch1_ms)
    assert result["chosen"] == fastest.name and result["within_budget"] is False
    # One line on stderr, and the same words in the report, with every candidate's figures.
    notes = [line for line in stderr.splitlines() if "latency budget" in line]
    assert len(notes) == 1 and notes[0].startswith("customize: no candidate meets the "
                                                   "latency budget of 0.001 ms"), stderr
    report = (out / "customization_report.md").read_text()
    assert "## Deployment within the latency budget" in report
    assert result["reason"] in report
    for c in candidates:
        assert f"| {c.name} | {c.layers} | {c.accuracy:.4f} | {c.batch1_ms:.2f} |" in report
    # The delivered file is the chosen candidate's, and each size is its file's.
    chosen = next(c for c in candidates if c.name == fastest.name)
    delivered = out / "deployment"
    if chosen.kind == "litert":
        assert (delivered / "model.tflite").read_bytes() == open(chosen.path, "rb").read()
    else:
        assert (delivered / "saved_model.pb").exists()
    from kerasbert.serving.latency import file_size

    assert [c.bytes for c in candidates] == [file_size(c.path) for c in candidates]
    assert candidates[2].bytes < 0.6 * candidates[1].bytes  # int8 weights, float32's


def test_candidates_accuracy_is_their_own_outputs_on_dev(customized, sst2):
    # The SavedModel's and the LiteRT float32 file's dev accuracy is the trained
    # Keras model's (an outside reference: Keras `predict` on the same rows); a
    # student's is its own model directory's.
    import kerasbert

    out, _ = customized
    _, candidates = _candidates(out)
    rows = [line.split("\t") for line in (sst2 / "dev.tsv").read_text().splitlines()[1:]]
    texts, gold = [r[0] for r in rows], np.array([r[1] for r in rows])

    def accuracy(model_dir):
        model = kerasbert.BertClassifier.from_preset(str(model_dir))
        labels = json.loads((model_dir / "kerasbert_task.json").read_text())["labels"]
        predicted = np.array(labels)[model.predict(texts, verbose=0).argmax(-1)]
        return float(np.mean(predicted == gold))

    by_name = {c.name: c for c in candidates}
    assert by_name["savedmodel"].accuracy == pytest.approx(accuracy(out), abs=1.5 / len(texts))
    assert by_name["litert_float32"].accuracy == by_name["savedmodel"].accuracy
    student = out / "deploy_candidates" / "student_1l"
    assert by_name["student_1l_savedmodel"].accuracy == pytest.approx(accuracy(student),
                                                                      abs=1.5 / len(texts))
    assert json.loads((student / "distill.json").read_text())["num_layers"] == 1


def test_the_most_accurate_within_the_budget_is_chosen(customized):
    # The choice on the measured candidates of the run, for other budgets.
    from kerasbert.customization.deployment import choose_deployment

    _, candidates = _candidates(customized[0])
    chosen, within, reason = choose_deployment(candidates, 1e9)  # all within
    best = max(c.accuracy for c in candidates)
    assert within and chosen.accuracy == best
    assert chosen.batch1_ms == min(c.batch1_ms for c in candidates if c.accuracy == best)
    assert reason.startswith(f"{chosen.name}: the most accurate")
    budget = sorted(c.batch1_ms for c in candidates)[2]  # the three fastest are within
    chosen, within, _ = choose_deployment(candidates, budget)
    allowed = [c for c in candidates if c.batch1_ms <= budget]
    assert within and len(allowed) == 3 and chosen in allowed
    assert chosen.accuracy == max(c.accuracy for c in allowed)
    chosen, within, reason = choose_deployment(candidates, 0.001)
    assert not within and chosen.batch1_ms == min(c.batch1_ms for c in candidates)
    assert "no candidate meets the latency budget of 0.001 ms" in reason


def test_student_depths_and_their_updates():
    from kerasbert.customization.deployment import student_depths, student_steps

    assert student_depths(6) == [3, 2] and student_depths(12) == [6, 4]
    assert student_depths(4) == [2, 1] and student_depths(2) == [1]
    # 0.01 s per example, batch 32, a 2-layer student of 6: (1/3 + 1/3) * 0.32 s an update.
    assert student_steps(64, 0.01, 32, 2, 6, 10_000) == 300
    assert student_steps(64, 0.01, 32, 2, 6, 320) == 10      # at most one epoch
    assert student_steps(0.01, 0.01, 32, 2, 6, 10_000) == 1  # at least one update


def test_without_the_flag_no_deployment(customized, tmp_path):
    # The flag's absence leaves customize as it was: no deployment outputs, no
    # report section (checked on the report writer with and without a result).
    from kerasbert.customization.customize import write_report
    from kerasbert.customization.data_profile import DataProfile
    from kerasbert.customization.recipe import Recipe

    profile = DataProfile(10, {"0": 5, "1": 5}, {50: 5, 95: 9, 100: 12}, 1.2, 0)
    recipe = Recipe("m", 16, 16, 1, 10.0, reasons=["why"])
    write_report(tmp_path / "r.md", profile, recipe, {"m": 0.1}, {"accuracy": 0.5}, 3, 10, 5e-5)
    assert "Deployment" not in (tmp_path / "r.md").read_text()
    result, _ = _candidates(customized[0])
    write_report(tmp_path / "d.md", profile, recipe, {"m": 0.1}, {"accuracy": 0.5}, 3, 10, 5e-5,
                 result)
    assert "## Deployment within the latency budget" in (tmp_path / "d.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--latency_budget_ms=0"], "--latency_budget_ms must be > 0, got 0.0"),
    (["--latency_budget_ms=fast"], "--latency_budget_ms"),
    (["--latency_budget_ms=5", "--task=regression"],
     "--latency_budget_ms is supported for --task=classification, not regression"),
])
def test_bad_latency_budget_is_one_line_exit_2(sst2, tmp_path, capsys, args, message):
    code = _main(f"--train_data={sst2 / 'train.tsv'}", f"--eval_data={sst2 / 'dev.tsv'}",
                 f"--output_dir={tmp_path / 'run'}", *args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "run" / "deployment").exists()
