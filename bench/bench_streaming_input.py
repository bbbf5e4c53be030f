"""Peak memory of fine-tuning input against data size (#16 item 3): the peak
RSS of `python -m kerasbert.train` on CSVs of 100k and 1M rows, for two code
trees (e.g. the commit before streaming input, in a `git worktree`, and this
one), each in its own process.

    git worktree add --detach /tmp/kb_old <commit before the change>
    python bench/bench_streaming_input.py --trees=old=/tmp/kb_old,new=. \\
        --rows=100000,1000000 --max_steps=20

The CSVs (`text,label`: 12 words from a small word list, labels pos / neg,
fixed seed) are written to `--work_dir` (in /tmp, never the repository). The
encoder is `--model` (default: the shared BERT-Mini's shape) with random
weights (`--random_init`, so no weights are needed), sequence length 32,
batch 32, `--max_steps` updates, no dev set: what grows with the data is the
input. Each run's peak RSS is the kernel's `ru_maxrss` of that process
(`os.wait4`), exact, not sampled.

`--program=evaluate` measures `python -m kerasbert.evaluate` instead, of a
model trained here (2 steps on the smallest CSV) on each CSV (batches of 256):

    python bench/bench_streaming_input.py --program=evaluate \
        --trees=old=/tmp/kb_old,new=. --rows=100000,400000

Prints one row per (tree, rows) with peak RSS, wall time, and per tree the
growth from the smallest to the largest data set; the flat-memory goal is a
growth near zero while the in-memory reader's grows with the rows.

`--throughput=FILE.tsv` instead times, in this process, one epoch of the
training input pipeline (shuffled, bucketed batches of 32, all_minilm_l6_v2's
tokenizer at 128 tokens) over a GLUE-layout file, read into a list first
(`read_delimited`, the in-memory path) and streamed (`TextSource`, its first
pass included), alternating, `--repeats` times each:

    python bench/bench_streaming_input.py \
        --throughput=/work/shared/data/glue/SST-2/train.tsv --repeats=2
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ("the a film movie story actor plot was is very quite not good bad dull great boring "
         "funny long short scene music ending cast script").split()


def write_csv(path, rows, seed=0):
    """`rows` records of 12 random words and a pos / neg label (about 75 bytes each)."""
    if os.path.exists(path):
        return path
    r = random.Random(seed)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("text,label\n")
        for _ in range(rows):
            f.write(" ".join(r.choice(WORDS) for _ in range(12)) + "," +
                    r.choice(("pos", "neg")) + "\n")
    os.replace(path + ".tmp", path)
    return path


def train_command(data, model, output_dir, max_steps):
    return ["kerasbert.train", f"--train_data={data}", f"--model={model}", "--random_init",
            f"--output_dir={output_dir}", f"--max_steps={max_steps}", "--batch_size=32",
            "--max_seq_length=32", "--epochs=1", "--verbose=0"]


def peak_rss(tree, data, model, output_dir, max_steps, program="train"):
    """(peak RSS in MiB, wall seconds) of one `kerasbert.train` run of `tree`
    on `data`, or with `program="evaluate"`, of `kerasbert.evaluate` of the
    model directory `model` on `data`."""
    shutil.rmtree(output_dir, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), CUDA_VISIBLE_DEVICES="")
    if program == "evaluate":
        args = ["kerasbert.evaluate", f"--model={model}", f"--eval_data={data}",
                f"--output_dir={output_dir}", "--batch_size=256"]
    else:
        args = train_command(data, model, output_dir, max_steps)
    command = [sys.executable, "-m", *args]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd="/tmp", stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(f"{tree}: {args[0]} failed ({process.returncode}):\n"
                         f"{stderr.decode(errors='replace')[-2000:]}")
    return usage.ru_maxrss / 1024, wall


def throughput(path, repeats):
    """Examples/s of one training epoch's input, list against stream."""
    sys.path.insert(0, REPO)
    from kerasbert.data.delimited import read_delimited
    from kerasbert.data.label_vocabulary import LabelVocabulary
    from kerasbert.data.pipeline import classification_dataset
    from kerasbert.data.streaming import TextSource
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

    tokenizer = BertTokenizer.from_preset("all_minilm_l6_v2", sequence_length=128)
    settings = dict(batch_size=32, mode="bucket", shuffle=True, seed=0)

    def in_memory():
        examples = read_delimited(path, "sentence", "label")
        return classification_dataset(examples, tokenizer,
                                      label_vocabulary=LabelVocabulary.from_examples(examples),
                                      **settings)

    def streamed():
        source = TextSource(path, "sentence", "label")
        summary = source.scan()
        return classification_dataset(
            source, tokenizer, label_vocabulary=LabelVocabulary.from_label_set(summary.labels),
            summary=summary, **settings)

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    times = {"list": [], "stream": []}
    for _ in range(repeats):
        for name, build in (("list", in_memory), ("stream", streamed)):
            start = time.perf_counter()
            count = sum(len(labels) for _, labels in build())
            times[name].append(time.perf_counter() - start)
            print(f"{name}: {count} examples in {times[name][-1]:.1f} s "
                  f"({count / times[name][-1]:.0f} examples/s)", flush=True)
    best = {name: min(t) for name, t in times.items()}
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print(f"stream / list time (best of {repeats}): {best['stream'] / best['list']:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", default=f"new={REPO}",
                        help="NAME=DIR,...: code trees to compare (PYTHONPATH of each run)")
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--max_steps", type=int, default=20)
    parser.add_argument("--model", default=os.path.join(
        os.environ.get("KERASBERT_SHARED_DATA", "/work/shared/data"),
        "checkpoints/bert_uncased_L-4_H-256_A-4"))
    parser.add_argument("--work_dir", default="/tmp/kb_stream_bench")
    parser.add_argument("--throughput", default=None,
                        help="a GLUE-layout TSV: time the input pipeline instead (see above)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--program", default="train", choices=("train", "evaluate"),
                        help="evaluate: the peak RSS of kerasbert.evaluate on the CSVs, of a "
                             "model trained here for 2 steps on the smallest one")
    args = parser.parse_args()
    if args.throughput:
        throughput(args.throughput, args.repeats)
        return
    os.makedirs(args.work_dir, exist_ok=True)
    trees = dict(item.split("=", 1) for item in args.trees.split(","))
    sizes = [int(n) for n in args.rows.split(",")]
    files = {n: write_csv(os.path.join(args.work_dir, f"train_{n}.csv"), n) for n in sizes}
    model = args.model
    if args.program == "evaluate":  # one model directory, evaluated by every tree
        model = os.path.join(args.work_dir, "model")
        peak_rss(REPO, files[min(sizes)], args.model, model, 2)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"kerasbert.{args.program}")
    print("| tree | rows | CSV MiB | peak RSS MiB | wall s |")
    print("|---|---:|---:|---:|---:|")
    results = {}
    for name, tree in trees.items():
        for n in sizes:
            rss, wall = peak_rss(tree, files[n], model,
                                 os.path.join(args.work_dir, f"run_{name}_{n}"), args.max_steps,
                                 args.program)
            results[name, n] = rss
            size = os.path.getsize(files[n]) / 2**20
            print(f"| {name} | {n:,} | {size:.0f} | {rss:.0f} | {wall:.0f} |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    small, large = min(sizes), max(sizes)
    for name in trees:
        growth = results[name, large] - results[name, small]
        print(f"{name}: peak RSS {large:,} rows / {small:,} rows = "
              f"{results[name, large] / results[name, small]:.2f} (+{growth:.0f} MiB)")
    if len(trees) == 2:
        (a, _), (b, _) = trees.items()
        for n in sizes:
            print(f"{b} / {a} at {n:,} rows: {results[b, n] / results[a, n]:.2f}")


if __name__ == "__main__":
    main()
