"""An adapter bank (one base + N users' LoRA adapters) vs N per-user merged models (issue 17).

Makes N LoRA users of all-MiniLM-L6-v2 (or, `--shape mini`, of an encoder of
BERT-Mini's shape, 4 layers of 256, with random weights and the uncased
vocabulary, from the shared data's weightless BERT-Mini config) with rank 8
on attention, random adapter values and 2-class heads (the speed and memory do
not depend on training), each a model directory as `kerasbert.train
--adapter=lora` writes it. Then, in this process:

- bank: build it from the N users' files (the base read once from the preset
  the adapter files name, each user's adapter.safetensors; no merged encoder
  is read), resident memory it adds, and rows/s of batches of 64 rows with
  users drawn from all N, in one call;
- per-user models: load the N merged models one after another (each kept, as
  a server holding every user's model would), the memory they add, and rows/s
  of the same batches, each batch's rows grouped by user and run through that
  user's model;
- export: write the bank's SavedModel from the files (what adding a user costs).

Both paths include in-graph tokenization (max_seq_length 128) and return logits.

Run:  python bench/bench_adapter_bank.py --users 8 [--shape mini] [--workdir /tmp/bank_bench]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_base(workdir, shape):
    """The base's name: the MiniLM preset, or a saved random encoder of BERT-Mini's shape."""
    if shape == "minilm":
        return "all_minilm_l6_v2"
    import keras

    from kerasbert import BertEncoder, BertTokenizer
    from kerasbert.checkpoints.loading import save_encoder
    from kerasbert.paths import shared_data_dir

    base = os.path.join(workdir, "base_mini")
    if not os.path.exists(os.path.join(base, "vocab.txt")):
        config = os.path.join(shared_data_dir(), "checkpoints", "bert_uncased_L-4_H-256_A-4")
        keras.utils.set_random_seed(0)
        save_encoder(BertEncoder.from_preset(config, load_weights=False), base)
        BertTokenizer.from_preset(config).save_to_dir(base)
    return base


def make_users(workdir, count, rank, shape="minilm"):
    from kerasbert import BertEncoder, BertTokenizer
    from kerasbert.adapters.lora import adapter_variables, enable_lora, save_adapter
    from kerasbert.tasks import get_task
    from kerasbert.tasks.keras_task import BertTask
    from kerasbert.tasks.model_directory import save_model_directory

    workdir = os.path.join(workdir, shape)
    base = make_base(workdir, shape)
    tokenizer = BertTokenizer.from_preset(base, sequence_length=128)
    task = get_task("classification", ["negative", "positive"])
    model = BertTask(BertEncoder.from_preset(base), 2, pooling="mean")
    settings = {**enable_lora(model, rank), "base": base}
    users = {}
    rng = np.random.default_rng(0)
    for i in range(count):
        directory = os.path.join(workdir, f"user{i:03d}")
        users[f"user{i:03d}"] = directory
        if os.path.exists(os.path.join(directory, "adapter.safetensors")):
            continue
        for variable in adapter_variables(model).values():
            variable.assign(rng.normal(0, 0.02, variable.shape).astype("float32"))
        save_model_directory(directory, model, task, tokenizer, 128, False)
        save_adapter(model, os.path.join(directory, "adapter.safetensors"), settings)
    return users


def _batches(users, count, size, seed):
    import csv

    from kerasbert.paths import shared_data_dir

    path = os.path.join(shared_data_dir(), "glue", "SST-2", "dev.tsv")
    with open(path, encoding="utf-8") as f:
        texts = [r[0] for r in list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]]
    rng = np.random.default_rng(seed)
    names = sorted(users)
    out = []
    for b in range(count):
        rows = [texts[(b * size + i) % len(texts)] for i in range(size)]
        # every user appears when size >= N; beyond, users drawn at random
        order = list(rng.permutation(names))
        row_users = [order[i % len(order)] for i in range(size)]
        out.append((rows, row_users))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--workdir", default="/tmp/bank_bench")
    parser.add_argument("--shape", choices=("minilm", "mini"), default="minilm")
    parser.add_argument("--no_per_user", action="store_true", help="bank side only")
    args = parser.parse_args()
    users = make_users(args.workdir, args.users, args.rank, args.shape)
    work = _batches(users, args.batches + 1, 64, 0)
    print(f"N = {args.users} users of {args.shape}, rank {args.rank}, batches of 64 rows "
          f"({len(set(work[0][1]))} distinct users per batch)")

    from kerasbert.serving.bank_serving import BankPredictor

    before = rss_mib()
    start = time.perf_counter()
    bank = BankPredictor.from_users(users)
    built = time.perf_counter() - start
    fn = bank._logits
    fn(tf.constant(work[0][0]), tf.constant(work[0][1]))  # trace
    bank_mib = rss_mib() - before
    start = time.perf_counter()
    for rows, row_users in work[1:]:
        fn(tf.constant(rows), tf.constant(row_users)).__getitem__(0).numpy()
    bank_rate = 64 * args.batches / (time.perf_counter() - start)
    memory = bank.bank.memory_bytes()
    print(f"bank: built from files in {built:.1f} s; weights {memory['base'] / 2**20:.1f} MiB "
          f"base + {memory['per_user'] / 2**10:.0f} KiB per user; resident +{bank_mib:.0f} MiB; "
          f"{bank_rate:.1f} rows/s")
    del bank, fn
    if args.no_per_user:
        per_user_rate = per_user_mib = float("nan")
        _export(args, users, bank_rate, bank_mib, built, per_user_rate, per_user_mib)
        return

    from kerasbert.serving.predictor import Predictor

    before = rss_mib()
    start = time.perf_counter()
    models = {}
    for user, directory in users.items():
        predictor = Predictor.from_directory(directory)
        models[user] = (predictor, predictor.io.signature.logits_function(predictor.model))
    loaded = time.perf_counter() - start
    for user in users:  # trace each user's function once
        models[user][1](tf.constant(work[0][0][:2]))
    per_user_mib = rss_mib() - before
    start = time.perf_counter()
    for rows, row_users in work[1:]:
        for user in sorted(set(row_users)):
            mine = [r for r, u in zip(rows, row_users) if u == user]
            models[user][1](tf.constant(mine))[0].numpy()
    per_user_rate = 64 * args.batches / (time.perf_counter() - start)
    print(f"per-user merged models: loaded in {loaded:.1f} s; resident +{per_user_mib:.0f} MiB; "
          f"{per_user_rate:.1f} rows/s")
    del models
    _export(args, users, bank_rate, bank_mib, built, per_user_rate, per_user_mib)


def _export(args, users, bank_rate, bank_mib, built, per_user_rate, per_user_mib):
    import shutil

    from kerasbert.serving.bank_serving import export_adapter_bank

    export_dir = os.path.join(args.workdir, args.shape, f"bank_{args.users}")
    shutil.rmtree(export_dir, ignore_errors=True)
    start = time.perf_counter()
    export_adapter_bank(users, export_dir)
    exported = time.perf_counter() - start
    print(f"bank SavedModel exported from the files in {exported:.1f} s")
    print(f"ratios bank / per-user: rows/s {bank_rate / per_user_rate:.2f}, "
          f"resident memory {bank_mib / per_user_mib:.3f}")
    print(f"| {args.users} | {bank_rate:.1f} | {per_user_rate:.1f} | "
          f"{bank_rate / per_user_rate:.2f} | +{bank_mib:.0f} | +{per_user_mib:.0f} | "
          f"{bank_mib / per_user_mib:.3f} | {built:.1f} | {exported:.1f} |")


if __name__ == "__main__":
    main()
