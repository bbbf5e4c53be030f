"""Preparation of pretraining data at scale (issue 16): peak memory and MB/s.

For each corpus size and worker count, one fresh process prepares the
TFRecords with `kerasbert.pretraining.sharded_data.prepare_sharded` (BERT
uncased vocabulary, max_seq_length 128, next-sentence pairs, dupe_factor 1,
8 MB input shards); this script samples the resident memory of that process
and its children (the spawned workers) every 0.1 s and reports the peak of the
sum. MB/s is the corpus size over the preparation's own seconds (measured in
the process, from the call to its return: TensorFlow's start-up is reported
apart, as "start s").

The anchor, with `--reference`: google-research/bert's
`create_pretraining_data.py` from its PyPI release `bert-tensorflow==1.0.4`
(which imports `tensorflow.compat.v1`, so it runs under TF 2 unchanged), on
the same corpus with dupe_factor 1 and its default masking; it holds every
instance in memory, so it is stopped when its memory passes `--reference_limit_gb`.
Install it apart (not a kerasbert dependency): `pip download --no-deps
bert-tensorflow==1.0.4` and unzip the wheel into `--reference_dir`.

Corpora are synthetic, written into `--workdir` (never the repository):
documents of 4-30 sentences drawn at random from the shared data's SST-2
train sentences, SQuAD dev contexts (split into sentences) and CoNLL-2003
train sentences, with a blank line between documents, up to the size asked.

Run:  python bench/bench_pretraining_data.py --sizes 5,80 --workers 1,2 \\
          [--reference --reference_dir /tmp/grbert] [--workdir /tmp/pretraining_bench]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sentences(shared):
    """Real sentences from the shared data sets."""
    sys.path.insert(0, REPO)
    from kerasbert.pretraining.corpus import split_sentences

    out = []
    with open(os.path.join(shared, "glue", "SST-2", "train.tsv"), encoding="utf-8") as f:
        next(f)
        out += [line.split("\t")[0].strip() for line in f]
    with open(os.path.join(shared, "squad", "dev-v1.1.json"), encoding="utf-8") as f:
        for article in json.load(f)["data"]:
            for paragraph in article["paragraphs"]:
                out += split_sentences(paragraph["context"])
    with open(os.path.join(shared, "conll2003", "train.txt"), encoding="utf-8") as f:
        words = []
        for line in f:
            if not line.strip() or line.startswith("-DOCSTART-"):
                if words:
                    out.append(" ".join(words))
                words = []
            else:
                words.append(line.split(" ")[0])
    return [s for s in out if s]


def make_corpus(path, megabytes, pool, seed=0):
    """A corpus file of about `megabytes` MB (10^6 bytes) of documents."""
    if os.path.exists(path) and abs(os.path.getsize(path) - megabytes * 1e6) < 1e6:
        return path
    rng = random.Random(seed)
    written, target = 0, megabytes * 1e6
    with open(path + ".partial", "w", encoding="utf-8") as f:
        while written < target:
            document = "\n".join(rng.choice(pool) for _ in range(rng.randint(4, 30))) + "\n\n"
            f.write(document)
            written += len(document.encode("utf-8"))
    os.replace(path + ".partial", path)
    return path


def measure(command, limit_gb=None, env=None, stderr_path=None):
    """Run `command`; returns (exit code, wall seconds, peak RSS MiB of it and
    its children summed, stdout). Killed past `limit_gb` of RSS."""
    import psutil

    start = time.perf_counter()
    errors = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True,
                               env=env)
    parent, peak, killed = psutil.Process(process.pid), 0, False
    while process.poll() is None:
        try:
            tree = [parent] + parent.children(recursive=True)
            rss = sum(p.memory_info().rss for p in tree if p.is_running())
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        if limit_gb and rss > limit_gb * 2**30:
            for p in [parent] + parent.children(recursive=True):
                p.kill()
            killed = True
        time.sleep(0.1)
    out = process.stdout.read()
    if stderr_path:
        errors.close()
    code = "killed" if killed else process.returncode
    return code, time.perf_counter() - start, peak / 2**20, out


def logged_seconds(stderr_path, first, last):
    """Seconds between the absl log lines holding `first` and `last` (the
    reference's own timestamps: its work without TensorFlow's start-up)."""
    import re

    stamps = {}
    with open(stderr_path, errors="replace") as f:
        for line in f:
            match = re.match(r"I\d{4} (\d\d):(\d\d):(\d\d\.\d+)", line)
            for key in (first, last):
                if match and key in line and key not in stamps:
                    h, m, s = match.groups()
                    stamps[key] = int(h) * 3600 + int(m) * 60 + float(s)
    if len(stamps) < 2:
        return None
    return (stamps[last] - stamps[first]) % 86400


def prepare_child(args):
    """In the measured process: prepare the corpus, print the timings as JSON."""
    started = time.perf_counter()
    sys.path.insert(0, REPO)
    from kerasbert.pretraining.sharded_data import prepare_sharded
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

    import resource

    def cpu_seconds():
        # this process and its reaped children (the workers, joined on return)
        return sum(r.ru_utime + r.ru_stime for r in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN)))

    tokenizer = BertTokenizer(args.vocab, sequence_length=128)
    ready, cpu_ready = time.perf_counter(), cpu_seconds()
    data = prepare_sharded(args.out, args.corpus, tokenizer, 128, shard_size_mb=args.shard_mb,
                           num_workers=args.num_workers, log=lambda *a: None)
    done = time.perf_counter()
    print(json.dumps({"start_s": ready - started, "prepare_s": done - ready,
                      "cpu_s": cpu_seconds() - cpu_ready,
                      "train": data.num_train, "eval": data.num_eval,
                      "shards": len(data.train_files)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5,80", help="corpus sizes in MB, comma-separated")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--shard_mb", type=float, default=8.0)
    parser.add_argument("--workdir", default="/tmp/pretraining_bench")
    parser.add_argument("--shared", default=os.path.join(REPO, "..", "shared", "data"))
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--reference_sizes", default="5,80")
    parser.add_argument("--reference_dir", default="/tmp/grbert")
    parser.add_argument("--reference_limit_gb", type=float, default=6.0)
    # in the measured process
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--vocab", help=argparse.SUPPRESS)
    parser.add_argument("--num_workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return prepare_child(args)
    import shutil

    os.makedirs(args.workdir, exist_ok=True)
    vocab = os.path.join(args.shared, "vocab", "bert_uncased", "vocab.txt")
    pool = sentences(args.shared)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    print(f"load average at start: {os.getloadavg()}")
    print("| corpus MB | workers | shards | instances | peak RSS MiB | start s | prepare s "
          "| MB/s | cores busy |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in [float(s) for s in args.sizes.split(",") if s]:
        corpus = make_corpus(os.path.join(args.workdir, f"corpus_{size:g}mb.txt"), size, pool)
        for workers in [int(w) for w in args.workers.split(",") if w]:
            out = os.path.join(args.workdir, f"out_{size:g}mb_{workers}w")
            shutil.rmtree(out, ignore_errors=True)
            code, wall, peak, stdout = measure(
                [sys.executable, __file__, "--child", f"--corpus={corpus}", f"--out={out}",
                 f"--vocab={vocab}", f"--num_workers={workers}", f"--shard_mb={args.shard_mb}"],
                env=env)
            if code != 0:
                print(f"| {size:g} | {workers} | failed ({code}) after {wall:.0f} s |")
                continue
            result = json.loads(stdout.strip().splitlines()[-1])
            print(f"| {size:g} | {workers} | {result['shards']} | "
                  f"{result['train'] + result['eval']} | {peak:.0f} | {result['start_s']:.1f} | "
                  f"{result['prepare_s']:.1f} | {size / result['prepare_s']:.3f} | "
                  f"{result['cpu_s'] / result['prepare_s']:.2f} |", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    if args.reference:
        print(f"\nanchor: google-research/bert create_pretraining_data.py (bert-tensorflow "
              f"1.0.4, dupe_factor 1), load average {os.getloadavg()}")
        print("| corpus MB | peak RSS MiB | wall s (start-up included) | prepare s | MB/s |")
        print("|---:|---:|---:|---:|---:|")
        for size in [float(s) for s in args.reference_sizes.split(",")]:
            corpus = make_corpus(os.path.join(args.workdir, f"corpus_{size:g}mb.txt"), size, pool)
            out = os.path.join(args.workdir, f"reference_{size:g}mb.tfrecord")
            log = os.path.join(args.workdir, f"reference_{size:g}mb.log")
            code, wall, peak, _ = measure(
                [sys.executable, "-m", "bert.create_pretraining_data", f"--input_file={corpus}",
                 f"--output_file={out}", f"--vocab_file={vocab}", "--do_lower_case=True",
                 "--max_seq_length=128", "--max_predictions_per_seq=20", "--dupe_factor=1"],
                limit_gb=args.reference_limit_gb, stderr_path=log,
                env={**env, "PYTHONPATH": args.reference_dir, "TF_CPP_MIN_LOG_LEVEL": "0"})
            state = "" if code == 0 else f" ({code})"
            seconds = logged_seconds(log, "*** Reading from input files ***",
                                     "Wrote ") if code == 0 else None
            rate = f"{size / seconds:.3f}" if seconds else "-"
            print(f"| {size:g} | {peak:.0f}{state} | {wall:.1f} | "
                  f"{seconds if seconds is None else round(seconds, 1)} | {rate} |", flush=True)
            if os.path.exists(out):
                os.remove(out)


if __name__ == "__main__":
    main()
