"""`customize`: look at the data, measure, decide a recipe within a time budget, run it.

    from kerasbert.customization.customize import customize
    result = customize(CustomizeConfig(train_data="train.csv", eval_data="dev.csv",
                                       output_dir="runs/auto", time_budget=600))

Writes the trained model into `output_dir` (as `kerasbert.train` does) and
`customization_report.md` beside it: what it saw, what it chose and why,
and the result.
"""

import dataclasses
import json
import os
import sys
import time

from kerasbert.configs.customize import CustomizeConfig
from kerasbert.configs.fields import validate
from kerasbert.customization.data_profile import profile_data
from kerasbert.customization.deployment import (CANDIDATES_DIR, DEPLOYMENT_DIR, DEPLOYMENT_FILE,
                                                STUDENT_SHARE)
from kerasbert.customization.recipe import choose_recipe
from kerasbert.training.run_settings import RUN_OUTPUTS

REPORT_FILE = "customization_report.md"
ADAPTED_ENCODER_DIR, SEARCH_DIR = "adapted_encoder", "search"
# What a customization writes into its output directory (with a training run's outputs).
OUTPUTS = (REPORT_FILE, ADAPTED_ENCODER_DIR, SEARCH_DIR, CANDIDATES_DIR, DEPLOYMENT_DIR,
           DEPLOYMENT_FILE) + RUN_OUTPUTS


def customize(config=None, **settings):
    """Choose and run a fine-tuning recipe for the user's data within
    `config.time_budget` seconds.

    Args:
        config: a `CustomizeConfig` (the settings of `python -m
            kerasbert.customize`, under its flags' names): `candidates` are the
            models to choose from, preferred (largest) first, each timed on
            the data before choosing; `unlabeled_data` a plain-text corpus of
            the user's domain, for continued pretraining when the recipe finds
            it worth it; `per_user` trains LoRA adapters; `latency_budget_ms`
            (classification): the batch-1 milliseconds the deployment may
            take: then the trained model's SavedModel, its LiteRT float32 and
            int8 files and students of half and a third of its layers
            (distilled in `STUDENT_SHARE` of the time budget) are measured
            here, and the most accurate within the budget goes to
            OUTPUT_DIR/deployment/ (`kerasbert.customization.deployment`).
        **settings: settings of `config` to change, or, without `config`, to set.

    Returns:
        {"recipe": Recipe, "metrics": dev metrics, "seconds": wall time, and
        with a latency budget "deployment": `deploy`'s result}.
    """
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer
    from kerasbert.training.inputs import read_text_examples

    c = (CustomizeConfig(**settings) if config is None
         else dataclasses.replace(config, **settings))
    validate(c)
    start = time.monotonic()
    log = print if c.verbose else (lambda *a, **k: None)
    files = {"encoding": c.encoding, "header": c.header}
    columns = (c.text_column, c.label_column, c.text_pair_column)
    examples = read_text_examples(c.train_data, c.task, *columns, **files)
    dev = read_text_examples(c.eval_data, c.task, *columns, **files)
    unlabeled = _documents(c.unlabeled_data, c.encoding) if c.unlabeled_data else None
    tokenizer = BertTokenizer.from_preset(c.candidates[0])
    profile = profile_data(examples, tokenizer, unlabeled, seed=c.seed)
    log(f"customize: {profile.num_examples} examples, token length p95 "
        f"{profile.token_lengths[95]}, {profile.pieces_per_word:.2f} pieces per word")
    measured = time.monotonic()
    speeds = _measure(c.candidates, examples, c.task, profile, log)
    # The final run loads and saves a model once more: about one measurement's overhead.
    overhead = (time.monotonic() - measured) / len(c.candidates)
    # With a latency budget, the students' distillation takes its share of the budget.
    student_seconds = STUDENT_SHARE * c.time_budget if c.latency_budget_ms else 0.0
    recipe = choose_recipe(profile, c.time_budget - (time.monotonic() - start) - overhead -
                           student_seconds, speeds, c.per_user, unlabeled is not None,
                           eval_examples=len(dev))
    for reason in recipe.reasons:
        log("  " + reason)
    model = recipe.model
    if recipe.pretrain_seconds:
        model = _continue_pretraining(c, model, recipe)
    learning_rate = 5e-5
    if recipe.search_trials:
        learning_rate = _search(c, model, recipe)
    metrics = _final_training(c, model, recipe, learning_rate)
    deployment = None
    if c.latency_budget_ms:
        from kerasbert.customization.deployment import deploy

        deployment = deploy(c.output_dir, c.output_dir, c.latency_budget_ms, c.train_data,
                            c.eval_data, student_seconds, speeds[recipe.model],
                            profile.num_examples, recipe.batch_size, c.seed, c.text_column,
                            c.text_pair_column, c.label_column, c.encoding, c.header)
        log(f"customize: deployment {deployment['chosen']} -> {deployment['path']}")
        if not deployment["within_budget"]:
            print(f"customize: {deployment['reason']}", file=sys.stderr, flush=True)
    seconds = time.monotonic() - start
    write_report(os.path.join(c.output_dir, REPORT_FILE), profile, recipe, speeds, metrics,
                 seconds, c.time_budget, learning_rate, deployment)
    result = {"recipe": recipe, "metrics": metrics, "seconds": seconds}
    if deployment:
        result["deployment"] = deployment
    return result


def _documents(path, encoding="utf-8"):
    from kerasbert.data.text_corpus import read_text_corpus

    return [" ".join(sentences) for sentences in read_text_corpus(path, encoding=encoding)]


def _measure(candidates, examples, task, profile, log):
    from kerasbert.customization.calibrate import seconds_per_example

    speeds = {}
    for model in candidates:
        speeds[model] = seconds_per_example(model, examples, task,
                                            profile.suggested_max_seq_length,
                                            32 if profile.num_examples >= 2000 else 16)
        log(f"  {model}: {1 / speeds[model]:.1f} training examples/s measured")
    return speeds


def _continue_pretraining(c, model, recipe):
    """Continue pretraining `model` on the user's text (`c`: the CustomizeConfig);
    returns the adapted encoder dir."""
    from kerasbert.configs.pretrain import PretrainConfig
    from kerasbert.pretraining.pretrain import pretrain

    adapted = os.path.join(c.output_dir, ADAPTED_ENCODER_DIR)
    pretrain(PretrainConfig(
        train_data=c.unlabeled_data, output_dir=adapted, model=model,
        max_seq_length=recipe.max_seq_length, epochs=100, max_steps=recipe.pretrain_steps,
        batch_size=recipe.batch_size, learning_rate=5e-5, seed=c.seed,
        max_train_seconds=recipe.pretrain_seconds, verbose=c.verbose, encoding=c.encoding))
    return adapted


def _fine_tune_config(c, model, recipe, **settings):
    """The FineTuneConfig of customization `c` with `model` at the recipe's length."""
    from kerasbert.configs.fine_tune import FineTuneConfig

    return FineTuneConfig(
        task=c.task, train_data=c.train_data, eval_data=c.eval_data, model=model,
        text_column=c.text_column, text_pair_column=c.text_pair_column,
        label_column=c.label_column, encoding=c.encoding, header=c.header,
        max_seq_length=recipe.max_seq_length, batch_size=recipe.batch_size, seed=c.seed,
        **settings)


def _final_training(c, model, recipe, learning_rate):
    from kerasbert.training.fine_tune import fine_tune

    adapter = {"adapter": recipe.adapter, "lora_rank": recipe.lora_rank} if recipe.adapter else {}
    return fine_tune(_fine_tune_config(
        c, model, recipe, output_dir=c.output_dir, epochs=recipe.epochs,
        learning_rate=learning_rate, max_train_seconds=recipe.train_seconds, verbose=c.verbose,
        **adapter))


def _search(c, model, recipe):
    """A short search of the learning rate and warm-up within the recipe's search
    time, in this process through the tuning API (`kerasbert.tune`'s); its files go
    to OUTPUT_DIR/search/. Returns the best learning rate."""
    import yaml

    from kerasbert.tuning.search import SearchConfig, run_search
    from kerasbert.tuning.search_space import Entry, SearchSpace

    search_dir = os.path.join(c.output_dir, SEARCH_DIR)
    os.makedirs(search_dir, exist_ok=True)
    values = {"learning_rate": [5e-5, 3e-5, 2e-5], "warmup_ratio": [0.06, 0.1]}
    space_file = os.path.join(search_dir, "space.yaml")
    with open(space_file, "w", encoding="utf-8") as f:  # what was searched, for the reader
        yaml.safe_dump(values, f)
    space = SearchSpace(tuple(Entry(name, "choice", values=tuple(choices))
                              for name, choices in values.items()), source=space_file)
    per_trial = recipe.search_seconds / recipe.search_trials
    base = _fine_tune_config(c, model, recipe, output_dir=search_dir, epochs=1, verbose=0,
                             max_train_seconds=float(round(per_trial * 0.7)))
    search = SearchConfig(search_dir, tuner="random", max_trials=recipe.search_trials,
                          time_budget=float(round(recipe.search_seconds)))
    result = run_search(base, space, search)
    return float(result.best["hyperparameters"]["learning_rate"])


def write_report(path, profile, recipe, speeds, metrics, seconds, budget_seconds, learning_rate,
                 deployment=None):
    """The Markdown report: what was seen, what was chosen and why, the result,
    and with a latency budget, the deployment candidates and the choice."""
    lines = ["# kerasbert customization report", "", "## What it saw", "",
             f"- {profile.num_examples} training examples",
             f"- labels: {json.dumps(profile.label_counts)}" if profile.label_counts else
             "- regression targets",
             f"- tokens per example: median {profile.token_lengths[50]}, "
             f"95th percentile {profile.token_lengths[95]}, longest {profile.token_lengths[100]}",
             f"- WordPiece pieces per word: {profile.pieces_per_word:.2f}",
             f"- unlabeled documents: {profile.unlabeled_documents}", ""]
    lines += [f"- {model}: {1 / s:.1f} training examples/s measured here"
              for model, s in speeds.items()]
    lines += ["", "## What it chose and why", ""] + [f"- {r}" for r in recipe.reasons]
    lines += ["", f"Learning rate: {learning_rate:g}.", "", "## Result", ""]
    lines += [f"- {name}: {value:.4f}" for name, value in sorted(metrics.items())
              if isinstance(value, float)]
    lines += [f"- wall time: {seconds:.0f} s of a {budget_seconds:.0f} s budget", ""]
    if deployment:
        from kerasbert.customization.deployment import report_lines

        lines += report_lines(deployment)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
