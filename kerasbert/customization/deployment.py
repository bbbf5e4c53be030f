"""Deployment within a latency budget (`kerasbert.customize --latency_budget_ms`).

    from kerasbert.customization.deployment import deploy
    result = deploy("runs/auto", "runs/auto", budget_ms=5.0, train_data="train.csv",
                    eval_data="dev.csv", student_seconds=300, seconds_per_example=0.01,
                    num_examples=3000)
    result["chosen"], result["within_budget"]

Candidate deployments of a trained classifier (the model directory
`model_dir`), each measured on this machine:

- its SavedModel (`kerasbert.export`);
- its LiteRT files, float32 and int8 (dynamic range: int8 weights);
- students of decreasing depth (half, then a third of the layers),
  distilled from it (`kerasbert.training.distill.distill`) for the few
  updates the time budget allows, served as SavedModels.

For each: the dev accuracy of its own outputs on the user's dev rows, the
median batch-1 latency over a sample of them (the candidates taking turns on
each row, `kerasbert.serving.latency`) and its size. The most accurate
candidate whose latency is within the budget is delivered to
`OUTPUT_DIR/deployment/` (a SavedModel, or `model.tflite`), ties going to
the faster; when none is within it, the fastest is delivered, and a note
says so. `OUTPUT_DIR/deployment.json` records every candidate and the choice.
"""

import dataclasses
import math
import os
import shutil

CANDIDATES_DIR, DEPLOYMENT_DIR, DEPLOYMENT_FILE = "deploy_candidates", "deployment", \
    "deployment.json"
STUDENT_SHARE = 0.3        # of customize's time budget, for distilling the students
STUDENT_LEARNING_RATE = 1e-4
LATENCY_SAMPLE = 50        # dev rows timed one at a time
ACCURACY_ROWS = 2000       # dev rows scored (the first ones)


@dataclasses.dataclass
class Candidate:
    """One deployment: `kind` "savedmodel" (a directory) or "litert" (a file)."""

    name: str
    kind: str
    path: str
    layers: int
    steps: int = None          # a student's distillation updates
    accuracy: float = None
    batch1_ms: float = None
    bytes: int = None


def student_depths(num_layers):
    """Students' layer counts, decreasing: half and a third of `num_layers`
    (each at least 1 and below it; 6 -> [3, 2], 4 -> [2, 1], 2 -> [1])."""
    depths = []
    for divisor in (2, 3):
        depth = max(1, num_layers // divisor)
        if depth < num_layers and depth not in depths:
            depths.append(depth)
    return depths


def student_steps(seconds, seconds_per_example, batch_size, layers, teacher_layers,
                  num_examples):
    """Distillation updates of a `layers` student that fit `seconds`, at most one
    epoch: an update costs the teacher's forward pass (a third of its training
    step) and the student's training step (`layers / teacher_layers` of the
    teacher's), from the teacher's measured `seconds_per_example`."""
    per_update = seconds_per_example * batch_size * (1 / 3 + layers / teacher_layers)
    epoch = max(1, math.ceil(num_examples / batch_size))
    return max(1, min(epoch, math.floor(seconds / per_update)))


def build_candidates(model_dir, work_dir, train_data, eval_data, student_seconds,
                     seconds_per_example, num_examples, batch_size=32, seed=42,
                     text_column="text", text_pair_column=None, label_column="label",
                     encoding="utf-8", header="auto"):
    """Export the candidates of `model_dir` into `work_dir`; returns [Candidate]
    (not yet measured). The students (`student_depths`) share `student_seconds`
    of distillation equally (`student_steps`, from the model's measured
    training `seconds_per_example` on `num_examples` training rows)."""
    from kerasbert.serving.litert import export_litert
    from kerasbert.serving.predictor import Predictor
    from kerasbert.serving.serving_model import export_saved_model
    from kerasbert.training.distill import distill

    os.makedirs(work_dir, exist_ok=True)
    predictor = Predictor.from_directory(model_dir)
    layers = predictor.model.encoder.bert_config["num_hidden_layers"]
    candidates = [Candidate("savedmodel", "savedmodel", os.path.join(work_dir, "savedmodel"),
                            layers)]
    export_saved_model(model_dir, candidates[0].path, predictor)
    for quantize, name in (("none", "litert_float32"), ("int8", "litert_int8")):
        candidates.append(Candidate(name, "litert", os.path.join(work_dir, f"{name}.tflite"),
                                    layers))
        export_litert(model_dir, candidates[-1].path, quantize, predictor)
    depths = student_depths(layers)
    for depth in depths:
        steps = student_steps(student_seconds / len(depths), seconds_per_example, batch_size,
                              depth, layers, num_examples)
        student = os.path.join(work_dir, f"student_{depth}l")
        distill(model_dir, depth, train_data, eval_data, output_dir=student,
                text_column=text_column, text_pair_column=text_pair_column,
                label_column=label_column, encoding=encoding, header=header, verbose=0,
                epochs=1, max_steps=steps, batch_size=batch_size,
                learning_rate=STUDENT_LEARNING_RATE, seed=seed)
        candidates.append(Candidate(f"student_{depth}l_savedmodel", "savedmodel",
                                    student + "_savedmodel", depth, steps))
        export_saved_model(student, candidates[-1].path)
    return candidates


def measure_candidates(candidates, inputs, gold, labels, sample=LATENCY_SAMPLE):
    """Fill in each candidate's dev accuracy (its `probabilities` on the rows of
    `inputs`, `{input name: [str]}`, against the `gold` label strings; `labels`
    in the model's order), size, and median batch-1 latency over the first
    `sample` rows."""
    import numpy as np

    from kerasbert.serving.latency import (file_size, litert_runner, measure_latency, rows,
                                           savedmodel_runner)

    count = len(gold)
    runners = {c.name: (savedmodel_runner(c.path) if c.kind == "savedmodel" else
                        litert_runner(c.path)) for c in candidates}
    for candidate in candidates:
        run = runners[candidate.name]
        probabilities = np.concatenate([run(rows(inputs, i, i + 32))["probabilities"]
                                        for i in range(0, count, 32)])
        candidate.accuracy = float(np.mean([labels[i] == g for i, g in
                                            zip(probabilities.argmax(-1), gold)]))
        candidate.bytes = file_size(candidate.path)
    timings = measure_latency(runners, rows(inputs, 0, min(sample, count)), repeats=0)
    for candidate in candidates:
        candidate.batch1_ms = timings[candidate.name].batch1_ms
    return candidates


def choose_deployment(candidates, budget_ms):
    """(chosen Candidate, within the budget?, reasons): the most accurate of those
    whose batch-1 latency is within `budget_ms` (the faster on a tie), else the
    fastest of all."""
    within = [c for c in candidates if c.batch1_ms <= budget_ms]
    if within:
        chosen = max(within, key=lambda c: (c.accuracy, -c.batch1_ms))
        others = [c for c in candidates if c.accuracy > chosen.accuracy]
        reason = (f"{chosen.name}: the most accurate ({chosen.accuracy:.4f}) of the "
                  f"{len(within)} candidate(s) within {budget_ms:g} ms at batch 1 "
                  f"({chosen.batch1_ms:.2f} ms)")
        if others:
            reason += "; more accurate but slower: " + ", ".join(
                f"{c.name} ({c.accuracy:.4f}, {c.batch1_ms:.2f} ms)" for c in others)
        return chosen, True, reason + "."
    chosen = min(candidates, key=lambda c: c.batch1_ms)
    return chosen, False, (f"no candidate meets the latency budget of {budget_ms:g} ms: "
                           f"delivering the fastest, {chosen.name} ({chosen.batch1_ms:.2f} ms "
                           f"at batch 1, accuracy {chosen.accuracy:.4f}).")


def deliver(chosen, output_dir):
    """Move the chosen candidate to OUTPUT_DIR/deployment/ (the SavedModel's files,
    or model.tflite); returns that path."""
    target = os.path.join(output_dir, DEPLOYMENT_DIR)
    shutil.rmtree(target, ignore_errors=True)
    if chosen.kind == "savedmodel":
        shutil.copytree(chosen.path, target)
        return target
    os.makedirs(target)
    shutil.copy2(chosen.path, os.path.join(target, "model.tflite"))
    return os.path.join(target, "model.tflite")


def deploy(model_dir, output_dir, budget_ms, train_data, eval_data, student_seconds,
           seconds_per_example, num_examples, batch_size=32, seed=42, text_column="text",
           text_pair_column=None, label_column="label", encoding="utf-8", header="auto"):
    """Build, measure and choose the deployment of the classifier `model_dir`
    within `budget_ms` (batch-1 milliseconds), students distilled within
    `student_seconds` (see `build_candidates`); deliver it to
    OUTPUT_DIR/deployment/ and write OUTPUT_DIR/deployment.json.

    Returns:
        {"budget_ms", "chosen", "within_budget", "reason", "path", "candidates":
        [{name, kind, layers, accuracy, batch1_ms, bytes}]}.
    """
    from kerasbert.outputs import write_json
    from kerasbert.tasks.model_directory import read_task_config
    from kerasbert.training.inputs import read_text_examples

    meta = read_task_config(model_dir)
    if meta["task"] != "classification":
        raise ValueError(f"a latency budget is supported for classification, not "
                         f"{meta['task']!r}")
    dev = read_text_examples(eval_data, meta["task"], text_column, label_column,
                             text_pair_column, encoding=encoding,
                             header=header)[:ACCURACY_ROWS]
    inputs = {"text": [e.text for e in dev]}
    if text_pair_column is not None:
        inputs["text_pair"] = [e.text_pair for e in dev]
    candidates = build_candidates(model_dir, os.path.join(output_dir, CANDIDATES_DIR),
                                  train_data, eval_data, student_seconds,
                                  seconds_per_example, num_examples, batch_size, seed,
                                  text_column, text_pair_column, label_column, encoding,
                                  header)
    measure_candidates(candidates, inputs, [e.label for e in dev], meta["labels"])
    chosen, within, reason = choose_deployment(candidates, budget_ms)
    result = {"budget_ms": budget_ms, "chosen": chosen.name, "within_budget": within,
              "reason": reason, "path": deliver(chosen, output_dir),
              "dev_rows": len(dev), "latency_rows": min(LATENCY_SAMPLE, len(dev)),
              "candidates": [dataclasses.asdict(c) for c in candidates]}
    write_json(os.path.join(output_dir, DEPLOYMENT_FILE), result)
    return result


def report_lines(result):
    """The customization report's section on the deployment."""
    lines = ["## Deployment within the latency budget", "",
             f"Batch-1 latency: the median over {result['latency_rows']} of your dev texts, "
             f"one at a time, on this machine; accuracy on {result['dev_rows']} dev rows, from "
             f"each deployment's own outputs. Budget: {result['budget_ms']:g} ms.", "",
             "| candidate | layers | dev accuracy | batch-1 ms | MB | |",
             "|---|---:|---:|---:|---:|---|"]
    students = [c for c in result["candidates"] if c["steps"]]
    for c in result["candidates"]:
        mark = "**chosen**" if c["name"] == result["chosen"] else (
            "within budget" if c["batch1_ms"] <= result["budget_ms"] else "over budget")
        lines.append(f"| {c['name']} | {c['layers']} | {c['accuracy']:.4f} | "
                     f"{c['batch1_ms']:.2f} | {c['bytes'] / 1e6:.1f} | {mark} |")
    lines += [""] + [f"- {c['name']}: distilled from the trained model ({c['layers']} layers "
                     f"initialised from its own) for {c['steps']} updates, what its share of "
                     f"the time budget allows." for c in students]
    lines += [f"- {result['reason']}", f"- delivered: {result['path']}", ""]
    return lines
