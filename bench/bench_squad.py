"""SQuAD v1.1 fine-tune of the offline MiniLM-L6 preset: exact match and F1 on held-out articles.

No SQuAD train file is here, so the official dev file (48 articles, 10,570
questions) is split by article: the first 24 articles train, the last 24 are
scored (issue 4). Both halves are written as SQuAD JSON under --output_dir,
then `python -m kerasbert.train --task=qa` fine-tunes on the first half with
doc-stride windows and scores the second half with the official v1.1 metrics
after every evaluation. Prints exact match and F1 (after the last epoch, and
the best evaluation, which selects on the scored half itself), the number of
train questions and windows, training seconds, examples/s and wall time.

    python bench/bench_squad.py --epochs=2 --output_dir=runs/bench_squad
    python bench/bench_squad.py --smoke --output_dir=runs/bench_squad_smoke
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

from kerasbert.paths import shared_data_dir

SQUAD_FILE = os.path.join("squad", "dev-v1.1.json")
TRAIN_ARTICLES = 24
SMOKE = {"max_train_articles": 2, "max_train_questions": 40, "max_eval_articles": 1,
         "max_eval_questions": 60, "max_seq_length": 128, "doc_stride": 64, "epochs": 1}


def main():
    args = parse_args()
    train, evaluation = split_squad(os.path.join(args.data_dir, SQUAD_FILE), args)
    command = train_command(args, train, evaluation)
    start = time.time()
    subprocess.run(command, check=True)
    wall = time.time() - start
    report(args, train, evaluation, wall)
    print("reproduce: python bench/bench_squad.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    print("train command: " + " ".join(shlex.quote(a) for a in command))


def parse_args():
    """The flags; --smoke overrides the sizes with a run of a minute or two."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=str(shared_data_dir()),
                        help="shared data folder holding squad/dev-v1.1.json")
    parser.add_argument("--output_dir", default="runs/bench_squad")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning_rate", default="5e-5")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_seq_length", type=int, default=384)
    parser.add_argument("--doc_stride", type=int, default=128)
    parser.add_argument("--max_query_length", type=int, default=64)
    parser.add_argument("--eval_every_steps", type=int, default=0,
                        help="evaluate every N updates (0: after each epoch)")
    parser.add_argument("--max_train_articles", type=int, default=TRAIN_ARTICLES,
                        help="train on the first N articles of the train half")
    parser.add_argument("--max_train_questions", type=int, default=0,
                        help="keep only the first N train questions (0: all)")
    parser.add_argument("--max_eval_articles", type=int, default=0,
                        help="score only the first N articles of the eval half (0: all)")
    parser.add_argument("--max_eval_questions", type=int, default=0,
                        help="score only the first N eval questions (0: all)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny plumbing check: " + ", ".join(f"{k}={v}"
                                                                 for k, v in SMOKE.items()))
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    if not 0 < args.max_train_articles <= TRAIN_ARTICLES:
        parser.error(f"--max_train_articles must be in 1..{TRAIN_ARTICLES}")
    return args


def split_squad(path, args):
    """Write the train half (first 24 articles) and eval half (the rest) of a
    SQuAD file under output_dir, cut to the --max_* limits; their paths."""
    with open(path, encoding="utf-8") as f:
        squad = json.load(f)
    articles = squad["data"]
    if len(articles) <= TRAIN_ARTICLES:
        raise SystemExit(f"{path} has {len(articles)} articles; need more than {TRAIN_ARTICLES}")
    train = _cut(articles[:args.max_train_articles], args.max_train_questions)
    held_out = articles[TRAIN_ARTICLES:]
    evaluation = _cut(held_out[:args.max_eval_articles or len(held_out)], args.max_eval_questions)
    os.makedirs(args.output_dir, exist_ok=True)
    paths = []
    for name, data in (("train", train), ("eval", evaluation)):
        target = os.path.join(args.output_dir, f"squad_{name}.json")
        with open(target, "w", encoding="utf-8") as f:
            json.dump({"version": squad["version"], "data": data}, f)
        paths.append(target)
    return paths


def _cut(articles, max_questions):
    """The articles with only their first `max_questions` questions (0: all),
    dropping paragraphs and articles left without questions."""
    if not max_questions:
        return articles
    kept, left = [], max_questions
    for article in articles:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            if left <= 0:
                break
            qas = paragraph["qas"][:left]
            left -= len(qas)
            paragraphs.append({**paragraph, "qas": qas})
        if paragraphs:
            kept.append({**article, "paragraphs": paragraphs})
    return kept


def train_command(args, train, evaluation):
    """The `python -m kerasbert.train --task=qa` command line of this run."""
    return [sys.executable, "-m", "kerasbert.train", "--task=qa",
            f"--train_data={train}", f"--eval_data={evaluation}", "--model=all_minilm_l6_v2",
            f"--max_seq_length={args.max_seq_length}", f"--doc_stride={args.doc_stride}",
            f"--max_query_length={args.max_query_length}", f"--batch_size={args.batch_size}",
            f"--epochs={args.epochs}", f"--learning_rate={args.learning_rate}",
            "--warmup_ratio=0.1", "--weight_decay=0.01",
            f"--eval_every_steps={args.eval_every_steps}", "--checkpoint_every_steps=1000",
            f"--output_dir={args.output_dir}", "--verbose=0"]


def report(args, train, evaluation, wall):
    """Print EM/F1 of the eval half, data sizes, training time and throughput."""
    history = json.load(open(os.path.join(args.output_dir, "history.json")))
    best = json.load(open(os.path.join(args.output_dir, "metrics.json")))
    last = history[-1]
    sizes = {name: count_windows(path, args) for name, path in (("train", train),
                                                                ("eval", evaluation))}
    print(f"eval half: {sizes['eval'][0]} questions ({sizes['eval'][1]} windows); "
          f"train half: {sizes['train'][0]} questions ({sizes['train'][1]} windows)")
    for record in history:
        print(f"  eval at update {record['step']} (epoch {record['epoch']}, "
              f"{record['train_seconds']:.0f} s of training): "
              f"EM {record['exact_match']:.2f} F1 {record['f1']:.2f}")
    print(f"final: exact match {last['exact_match']:.2f}, F1 {last['f1']:.2f} "
          f"(update {last['step']})")
    print(f"best evaluation (kept weights, metrics.json; selected on the eval half itself): "
          f"exact match {best['exact_match']:.2f}, F1 {best['f1']:.2f}")
    seconds = last["train_seconds"]
    windows = last["step"] * args.batch_size
    questions = sizes["train"][0] * windows / max(sizes["train"][1], 1)
    print(f"{windows} train windows (~{questions:.0f} questions) in {seconds:.0f} s of "
          f"training: {windows / seconds:.1f} windows/s, {questions / seconds:.1f} questions/s; "
          f"wall {wall:.0f} s (training, evaluations, checkpoints and model save)")


def count_windows(path, args):
    """(questions, doc-stride windows) of a SQuAD file, cut as the training run cuts it."""
    from kerasbert.cli.flags import quiet_tensorflow

    quiet_tensorflow()
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer
    from kerasbert.training.squad_data import SquadData

    data = SquadData.read(path, doc_stride=args.doc_stride,
                          max_query_length=args.max_query_length)
    tokenizer = BertTokenizer.from_preset("all_minilm_l6_v2", sequence_length=args.max_seq_length)
    return len(data.train), len(data.features(data.train, tokenizer))


if __name__ == "__main__":
    main()
