"""Distillation on SST-2 (issue 29): a teacher, all-MiniLM-L6-v2 fine-tuned one
epoch on the first 3,000 training sentences at length 64, distilled into 2-
and 3-layer students with `python -m kerasbert.distill`, the next
`--unlabeled` training sentences given without their labels. Every step is
the command a user runs; each one's dev accuracy (the whole dev set, 872
sentences) and wall time are printed, with the students' share of the
teacher's accuracy.

    python bench/bench_distill.py --work_dir=/tmp/bench_distill --unlabeled=3000

A teacher already in `--work_dir` is reused (delete it to train it again).
`--alpha=1 --unlabeled=0` is the peer without distillation: the same
student, started from the same layers, trained on the gold labels only.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time

from kerasbert.paths import shared_data_dir

TRAIN_ROWS = 3000


def write_rows(path, rows, header):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join(row[name] for name in header) + "\n")


def run(*args):
    """`python -m kerasbert.PROGRAM ARGS`, timed; its stdout's last lines shown."""
    command = [sys.executable, "-m", *args]
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def accuracy(model_dir):
    with open(os.path.join(model_dir, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    return float(metrics["accuracy"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=str(shared_data_dir()))
    parser.add_argument("--work_dir", default="/tmp/bench_distill")
    parser.add_argument("--unlabeled", type=int, default=3000,
                        help="training sentences after the first 3,000, without labels")
    parser.add_argument("--layers", default="2,3")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    args = parser.parse_args()
    sst2 = os.path.join(args.data_dir, "glue", "SST-2")
    os.makedirs(args.work_dir, exist_ok=True)
    with open(os.path.join(sst2, "train.tsv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    train = os.path.join(args.work_dir, "train.tsv")
    write_rows(train, rows[:TRAIN_ROWS], ["sentence", "label"])
    unlabeled = os.path.join(args.work_dir, "unlabeled.tsv")
    write_rows(unlabeled, rows[TRAIN_ROWS:TRAIN_ROWS + args.unlabeled], ["sentence"])
    dev = os.path.join(sst2, "dev.tsv")
    common = [f"--train_data={train}", f"--eval_data={dev}", "--text_column=sentence",
              "--verbose=0"]

    results = {}
    teacher = os.path.join(args.work_dir, "teacher")
    if not os.path.exists(os.path.join(teacher, "metrics.json")):
        seconds = run("kerasbert.train", "--model=all_minilm_l6_v2", "--max_seq_length=64",
                      "--epochs=1", f"--output_dir={teacher}", "--overwrite", *common)
        results["teacher"] = {"layers": 6, "dev_accuracy": accuracy(teacher),
                              "seconds": round(seconds, 1)}
    else:
        results["teacher"] = {"layers": 6, "dev_accuracy": accuracy(teacher), "seconds": None}
    print(json.dumps(results["teacher"]), flush=True)
    for layers in map(int, args.layers.split(",")):
        student = os.path.join(args.work_dir, f"student_{layers}l_u{args.unlabeled}"
                               f"_a{args.alpha:g}")
        extra = [f"--unlabeled_data={unlabeled}"] if args.unlabeled else []
        seconds = run("kerasbert.distill", f"--teacher={teacher}", f"--num_layers={layers}",
                      f"--output_dir={student}", f"--epochs={args.epochs}",
                      f"--learning_rate={args.learning_rate}",
                      f"--temperature={args.temperature}", f"--alpha={args.alpha}",
                      "--overwrite", *extra, *common)
        value = accuracy(student)
        results[f"student_{layers}l"] = {
            "layers": layers, "dev_accuracy": value, "seconds": round(seconds, 1),
            "share_of_teacher": round(value / results["teacher"]["dev_accuracy"], 4)}
        print(json.dumps(results[f"student_{layers}l"]), flush=True)
    print(json.dumps({"unlabeled": args.unlabeled, "epochs": args.epochs, "alpha": args.alpha,
                      **results}))


if __name__ == "__main__":
    main()
