"""GLUE SST-2 fine-tune of the offline MiniLM-L6 preset: dev accuracy and time to reach it.

Runs `python -m kerasbert.train` on the full SST-2 train set (67,349
sentences), evaluating on dev (872) every `--eval_every_steps` updates, then
prints the best dev accuracy, the training seconds (train steps only, no
evaluation or checkpoints) until dev accuracy first reached the peer's
88.9%, and examples/s.

Peer, measured on this machine (issue 4): transformers' torch
BertForSequenceClassification on the same weights, one epoch, lr 5e-5,
batch 32, 10% warm-up then linear decay, dynamic padding: 88.9% dev
accuracy after 1,937 s of training (34.8 examples/s).

    python bench/bench_sst2.py --epochs=2 --output_dir=runs/bench_sst2
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

PEER_ACCURACY, PEER_SECONDS = 0.889, 1937.0
TRAIN_EXAMPLES = 67349


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=os.environ.get(
        "KERASBERT_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                              "data")))
    parser.add_argument("--output_dir", default="runs/bench_sst2")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning_rate", default="5e-5")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--eval_every_steps", type=int, default=250)
    parser.add_argument("--adapter", choices=["lora"], default=None,
                        help="train LoRA adapters and the head only (compare with full)")
    parser.add_argument("--lora_rank", type=int, default=8)
    parser.add_argument("--pooling", choices=["auto", "cls", "mean"], default="cls")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max_train_examples", type=int, default=0,
                        help="train on the first N sentences only (smoke runs)")
    args = parser.parse_args()
    train = os.path.join(args.data_dir, "glue", "SST-2", "train.tsv")
    if args.max_train_examples:
        train = _head(train, args.max_train_examples, args.output_dir)
    command = [sys.executable, "-m", "kerasbert.train", "--task=classification",
               f"--train_data={train}",
               f"--eval_data={os.path.join(args.data_dir, 'glue', 'SST-2', 'dev.tsv')}",
               "--text_column=sentence", "--label_column=label", "--model=all_minilm_l6_v2",
               "--max_seq_length=128", f"--batch_size={args.batch_size}",
               f"--epochs={args.epochs}", f"--learning_rate={args.learning_rate}",
               "--warmup_ratio=0.1", "--weight_decay=0.01", "--batch_mode=bucket",
               f"--eval_every_steps={args.eval_every_steps}", "--checkpoint_every_steps=1000",
               f"--pooling={args.pooling}", f"--seed={args.seed}",
               f"--output_dir={args.output_dir}", "--verbose=0"]
    if args.adapter:
        command += [f"--adapter={args.adapter}", f"--lora_rank={args.lora_rank}"]
    start = time.time()
    subprocess.run(command, check=True)
    wall = time.time() - start
    report(json.load(open(os.path.join(args.output_dir, "history.json"))), wall, args)
    if args.adapter:
        report_adapter(args.output_dir)
    print("reproduce: python bench/bench_sst2.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))


def report(history, wall, args):
    """Print best accuracy, time to the peer's accuracy and throughput."""
    best = max(history, key=lambda h: h["accuracy"])
    reached = next((h for h in history if h["accuracy"] >= PEER_ACCURACY), None)
    last = history[-1]
    examples = last["step"] * args.batch_size
    print(f"best dev accuracy {best['accuracy']:.4f} at update {best['step']} "
          f"({best['train_seconds']:.0f} s of training)")
    if reached:
        print(f"dev accuracy >= {PEER_ACCURACY} first at update {reached['step']} after "
              f"{reached['train_seconds']:.0f} s of training "
              f"(peer: {PEER_SECONDS:.0f} s; speed-up x{PEER_SECONDS / reached['train_seconds']:.2f})")
    else:
        print(f"dev accuracy never reached {PEER_ACCURACY}")
    print(f"{examples} examples in {last['train_seconds']:.0f} s of training: "
          f"{examples / last['train_seconds']:.1f} examples/s (peer 34.8); wall {wall:.0f} s")


def report_adapter(output_dir):
    """Print the size of the adapter file against the whole model's weights."""
    from safetensors.numpy import load_file

    adapter = load_file(os.path.join(output_dir, "adapter.safetensors"))
    trained = sum(v.size for v in adapter.values())
    model_bytes = sum(os.path.getsize(os.path.join(root, name))
                      for root, _, names in os.walk(output_dir) for name in names
                      if name.endswith(".safetensors") and name != "adapter.safetensors")
    print(f"adapter.safetensors: {trained:,} values, "
          f"{os.path.getsize(os.path.join(output_dir, 'adapter.safetensors')):,} bytes "
          f"(the merged model's weights: {model_bytes:,} bytes)")


def _head(path, rows, output_dir):
    """The header and first `rows` lines of a TSV, written under output_dir."""
    os.makedirs(output_dir, exist_ok=True)
    target = os.path.join(output_dir, f"train_head_{rows}.tsv")
    with open(path, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    return target


if __name__ == "__main__":
    main()
