"""Domain adaptation: continued masked-LM pretraining of the MiniLM-L6 preset on
Wikipedia text (the SQuAD v1.1 dev contexts), held-out perplexity before and after.

The corpus is one document per SQuAD paragraph; the paragraphs of the last
`--held_out_articles` articles are held out (other topics than the training
text). all-MiniLM-L6-v2 ships no masked-LM head, so a perplexity measured
with a fresh head says nothing about the encoder. The benchmark therefore runs
`python -m kerasbert.pretrain` twice, with identical data, masks and budget:

1. probe: the encoder frozen, only the MLM head trained (`--train_encoder=false`):
   the perplexity MiniLM reaches as it is ("before");
2. adapt: from the probe's output (encoder + fitted head), everything trained:
   the perplexity after domain-adaptive pretraining ("after").

    python bench/bench_domain_adaptation.py --epochs=3 --output_dir=runs/bench_dapt
    python bench/bench_domain_adaptation.py --smoke     # a minute-long check of the plumbing
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=os.environ.get(
        "KERASBERT_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                              "data")))
    parser.add_argument("--output_dir", default="runs/bench_domain_adaptation")
    parser.add_argument("--held_out_articles", type=int, default=8, help="of the 48 dev articles")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max_steps", type=int, default=0, help="0: all epochs")
    parser.add_argument("--learning_rate", default="1e-4")
    parser.add_argument("--probe_learning_rate", default="1e-3")
    parser.add_argument("--whole_word_masking", action="store_true")
    parser.add_argument("--max_eval_examples", type=int, default=0, help="0: all held-out")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny settings: 3 updates of batch 8 at 64 tokens, 32 held-out")
    args = parser.parse_args()
    if args.smoke:
        args.max_seq_length, args.batch_size, args.max_steps = 64, 8, 3
        args.max_eval_examples = 32
    train, held_out = write_corpus(args)
    common = [f"--train_data={train}", f"--eval_data={held_out}",
              f"--max_seq_length={args.max_seq_length}", f"--batch_size={args.batch_size}",
              f"--epochs={args.epochs}", f"--max_steps={args.max_steps}",
              f"--max_eval_examples={args.max_eval_examples}", "--next_sentence=false",
              f"--whole_word_masking={str(args.whole_word_masking).lower()}",
              "--max_predictions_per_seq=20", "--warmup_ratio=0.06", "--checkpoint_every_steps=0",
              "--verbose=0"]
    probe_dir = os.path.join(args.output_dir, "probe")
    adapt_dir = os.path.join(args.output_dir, "adapted")
    probe = run([*common, "--model=all_minilm_l6_v2", "--train_encoder=false",
                 f"--learning_rate={args.probe_learning_rate}", f"--output_dir={probe_dir}"])
    adapt = run([*common, f"--model={probe_dir}", f"--learning_rate={args.learning_rate}",
                 f"--output_dir={adapt_dir}"])
    report(probe, adapt)
    print("reproduce: python bench/bench_domain_adaptation.py "
          + " ".join(shlex.quote(a) for a in sys.argv[1:]))


def write_corpus(args):
    """Train and held-out corpus files (one paragraph per document) under output_dir."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from kerasbert.cli.flags import quiet_tensorflow

    quiet_tensorflow()
    from kerasbert.pretraining.corpus import write_text_corpus

    with open(os.path.join(args.data_dir, "squad", "dev-v1.1.json"), encoding="utf-8") as f:
        articles = json.load(f)["data"]
    cut = len(articles) - args.held_out_articles
    os.makedirs(args.output_dir, exist_ok=True)
    paths = []
    for name, part in (("train", articles[:cut]), ("held_out", articles[cut:])):
        path = os.path.join(args.output_dir, f"{name}.txt")
        count = write_text_corpus([p["context"] for a in part for p in a["paragraphs"]], path)
        print(f"{name}: {len(part)} articles, {count} paragraphs -> {path}")
        paths.append(path)
    return paths


def run(flags):
    """Run `python -m kerasbert.pretrain` and return its metrics.json (with wall seconds)."""
    command = [sys.executable, "-m", "kerasbert.pretrain", *flags]
    print("$ " + " ".join(shlex.quote(c) for c in command), flush=True)
    start = time.time()
    subprocess.run(command, check=True)
    output_dir = next(f.split("=", 1)[1] for f in flags if f.startswith("--output_dir="))
    with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    metrics["wall_seconds"] = time.time() - start
    return metrics


def report(probe, adapt):
    """Held-out MLM perplexity and accuracy at each stage."""
    rows = [("MiniLM-L6 + fresh MLM head", probe["before"]),
            ("MiniLM-L6 frozen + fitted head (before)", probe["after"]),
            ("continued pretraining (after)", adapt["after"])]
    print(f"\nheld-out masked-LM on {adapt['eval_sequences']} sequences "
          f"({adapt['after']['masked_tokens']} masked tokens):")
    for name, metrics in rows:
        print(f"  {name:<42} perplexity {metrics['perplexity']:>10.2f}   "
              f"accuracy {metrics['mlm_accuracy']:.4f}")
    before, after = probe["after"]["perplexity"], adapt["after"]["perplexity"]
    print(f"perplexity before -> after: {before:.2f} -> {after:.2f} "
          f"({100 * (after - before) / before:+.1f}%)")
    print(f"training: probe {probe['steps']} updates ({probe['train_seconds']:.0f} s), "
          f"adaptation {adapt['steps']} updates ({adapt['train_seconds']:.0f} s) on "
          f"{adapt['train_instances']} sequences; wall {probe['wall_seconds']:.0f} s + "
          f"{adapt['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
