"""GLUE SST-2 with the MiniLM-L6 preset: a hyperparameter search against the default recipe.

Runs, on the same train / dev files and the same sequence length:

1. the default recipe: `python -m kerasbert.train` with lr 2e-5, batch 32,
   3 epochs (10% warm-up, weight decay 0.01);
2. a search: `python -m kerasbert.tune` (Bayesian by default, the task's
   default space: lr 1e-5..1e-4 on a log scale, batch {16, 32}, epochs 2..4,
   warm-up, weight decay, dropout, layer-wise decay) within `--max_trials`
   and `--time_budget`;

and prints the dev accuracy of each (whole dev set, 872 sentences), the
wall time of each, the search's trials, and the commands to reproduce them.
The budget is what you state on the command line; it is printed with the result.

    python bench/bench_tune_sst2.py --output_dir=runs/bench_tune --max_trials=12 --time_budget=6h
    python bench/bench_tune_sst2.py --smoke     # 64 sentences, 1 epoch, 2 trials: checks it runs
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

DEFAULT_RECIPE = {"learning_rate": "2e-5", "batch_size": "32", "epochs": "3"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=os.environ.get(
        "KERASBERT_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                              "data")))
    parser.add_argument("--output_dir", default="runs/bench_tune_sst2")
    parser.add_argument("--model", default="all_minilm_l6_v2")
    parser.add_argument("--tuner", default="bayesian")
    parser.add_argument("--max_trials", type=int, default=12)
    parser.add_argument("--time_budget", default="6h")
    parser.add_argument("--search_space", default="default")
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--max_train_examples", type=int, default=0,
                        help="train on the first N sentences only (0: all 67,349)")
    parser.add_argument("--max_dev_examples", type=int, default=0)
    parser.add_argument("--smoke", action="store_true",
                        help="64 train / 32 dev sentences, 1 epoch, 2 trials: checks the script")
    args = parser.parse_args()
    baseline_recipe = dict(DEFAULT_RECIPE)
    if args.smoke:
        args.max_train_examples, args.max_dev_examples = 64, 32
        args.max_trials, args.max_seq_length, baseline_recipe["epochs"] = 2, 32, "1"
    os.makedirs(args.output_dir, exist_ok=True)
    train, dev = _data(args)
    common = [f"--train_data={train}", f"--eval_data={dev}", "--text_column=sentence",
              "--label_column=label", f"--model={args.model}",
              f"--max_seq_length={args.max_seq_length}", "--warmup_ratio=0.1",
              "--weight_decay=0.01", "--checkpoint_every_steps=1000", "--verbose=0"]

    baseline_dir = os.path.join(args.output_dir, "default_recipe")
    baseline = [sys.executable, "-m", "kerasbert.train", *common,
                *(f"--{k}={v}" for k, v in baseline_recipe.items()), f"--output_dir={baseline_dir}"]
    baseline_wall = _run(baseline)
    baseline_accuracy = _read(baseline_dir, "metrics.json")["accuracy"]

    search_dir = os.path.join(args.output_dir, "search")
    space = _smoke_space(args.output_dir) if args.smoke else args.search_space
    search = [sys.executable, "-m", "kerasbert.tune", *common, f"--tuner={args.tuner}",
              f"--max_trials={args.max_trials}", f"--time_budget={args.time_budget}",
              f"--search_space={space}", f"--output_dir={search_dir}", "--overwrite"]
    search_wall = _run(search)
    table = _read(search_dir, "results.json")
    best = next(r for r in table["trials"] if r["trial_id"] == table["best_trial"])
    completed = sum(r["status"] == "COMPLETED" for r in table["trials"])

    report = {
        "model": args.model, "max_seq_length": args.max_seq_length,
        "train_examples": args.max_train_examples or 67349,
        "dev_examples": args.max_dev_examples or 872,
        "budget": {"tuner": args.tuner, "max_trials": args.max_trials,
                   "time_budget": args.time_budget, "search_space": space},
        "default_recipe": {**baseline_recipe, "dev_accuracy": baseline_accuracy,
                           "wall_seconds": round(baseline_wall, 1)},
        "search": {"trials": len(table["trials"]), "completed": completed,
                   "best_trial": best["trial_id"], "best_hyperparameters": best["hyperparameters"],
                   "dev_accuracy": best["objective"], "wall_seconds": round(search_wall, 1)},
    }
    with open(os.path.join(args.output_dir, "bench_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"SST-2, {args.model}, max_seq_length {args.max_seq_length}, "
          f"{report['train_examples']} train / {report['dev_examples']} dev sentences")
    print(f"default recipe (lr {baseline_recipe['learning_rate']}, batch "
          f"{baseline_recipe['batch_size']}, {baseline_recipe['epochs']} epochs): dev accuracy "
          f"{baseline_accuracy:.4f} in {baseline_wall:.0f} s")
    print(f"search ({args.tuner}, budget {args.max_trials} trials / {args.time_budget}): "
          f"{completed} of {len(table['trials'])} trials completed in {search_wall:.0f} s; best "
          f"dev accuracy {best['objective']:.4f} (trial {best['trial_id']}: "
          f"{_format(best['hyperparameters'])})")
    print(f"difference: {100 * (best['objective'] - baseline_accuracy):+.2f} points")
    print("reproduce: python bench/bench_tune_sst2.py "
          + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    print("  default recipe: python " + " ".join(shlex.quote(a) for a in baseline[1:]))
    print("  search:         python " + " ".join(shlex.quote(a) for a in search[1:]))


def _data(args):
    """The SST-2 TSVs, or their first rows (header kept) when asked for fewer."""
    paths = []
    for name, rows in (("train.tsv", args.max_train_examples), ("dev.tsv", args.max_dev_examples)):
        source = os.path.join(args.data_dir, "glue", "SST-2", name)
        if not rows:
            paths.append(source)
            continue
        target = os.path.join(args.output_dir, f"{rows}_{name}")
        with open(source, encoding="utf-8") as f, open(target, "w", encoding="utf-8") as out:
            for i, line in enumerate(f):
                if i > rows:
                    break
                out.write(line)
        paths.append(target)
    return paths


def _smoke_space(output_dir):
    path = os.path.join(output_dir, "smoke_space.yaml")
    with open(path, "w") as f:
        f.write("learning_rate: {type: float, min: 1.0e-5, max: 1.0e-4, sampling: log}\n"
                "batch_size: [16, 32]\nepochs: [1]\n")
    return path


def _run(command):
    print("running: python " + " ".join(shlex.quote(a) for a in command[1:]), flush=True)
    start = time.time()
    subprocess.run(command, check=True)
    return time.time() - start


def _read(directory, name):
    with open(os.path.join(directory, name)) as f:
        return json.load(f)


def _format(hps):
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in hps.items())


if __name__ == "__main__":
    main()
