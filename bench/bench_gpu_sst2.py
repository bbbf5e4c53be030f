"""SST-2 fine-tuning throughput on one GPU: mixed_float16 + XLA, float32, and torch.

Trains the MiniLM-L6 preset classifier for `--steps` updates of batch 32 at
sequence length 128 (static shapes, so XLA compiles once) in three set-ups,
one after the other in this process, and prints examples/s of each and the
ratios:

  kerasbert, --mixed_precision=mixed_float16 --jit_compile=true
  kerasbert, --mixed_precision=float32 --jit_compile=false
  transformers' torch BertForSequenceClassification, float32, AdamW

    python bench/bench_gpu_sst2.py --steps=200

Needs a GPU (it exits with a message otherwise) and SST-2 under
../shared/data (or $KERASBERT_SHARED_DATA).
"""

import argparse
import csv
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_KERAS_RUN = r"""
import sys, json, tempfile
from kerasbert.distribute import resolve_strategy
setup = resolve_strategy(mixed_precision=sys.argv[1], jit_compile=sys.argv[2])
import numpy as np, tensorflow as tf
from kerasbert import BertTokenizer
from kerasbert.encoder.bert_encoder import BertEncoder
from kerasbert.tasks import get_task
from kerasbert.tasks.heads import BertTaskModel
from kerasbert.training.config import TrainingConfig
from kerasbert.training.trainer import Trainer
sentences, labels, steps, batch = json.loads(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5]), 32
tokenizer = BertTokenizer.from_preset("all_minilm_l6_v2", sequence_length=128)
features = {k: v.numpy() for k, v in tokenizer(sentences).items()}
data = tf.data.Dataset.from_tensor_slices((features, np.array(labels, "int32")))
task = get_task("classification", ["0", "1"])
config = TrainingConfig(epochs=1, batch_size=batch, learning_rate=5e-5, max_steps=steps,
                        verbose=0, checkpoint_every_steps=0)
trainer = Trainer(lambda: BertTaskModel(BertEncoder.from_preset("all_minilm_l6_v2"), 2), task,
                  config, tempfile.mkdtemp(), setup.strategy, setup.jit_compile)
trainer.fit(lambda epoch, ctx: data.repeat().batch(batch, drop_remainder=True), steps)
print(json.dumps({"seconds": trainer.train_seconds}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--data_dir", default=os.environ.get(
        "KERASBERT_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data")))
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench_gpu_sst2: no GPU here; run it on a GPU machine")
    sentences, labels = _sst2(args.data_dir, 32 * (args.steps + 10))
    results = {
        "kerasbert mixed_float16 + XLA": _keras(sentences, labels, args.steps, "mixed_float16",
                                                "true"),
        "kerasbert float32": _keras(sentences, labels, args.steps, "float32", "false"),
        "torch float32": _torch(sentences, labels, args.steps),
    }
    for name, rate in results.items():
        print(f"{name:32s} {rate:8.1f} examples/s")
    torch_rate = results["torch float32"]
    for name, rate in results.items():
        print(f"{name} / torch float32: x{rate / torch_rate:.2f}")
    print(f"reproduce: python bench/bench_gpu_sst2.py --steps={args.steps}")


def _sst2(data_dir, count):
    with open(os.path.join(data_dir, "glue", "SST-2", "train.tsv"), encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:count + 1]
    return [r[0] for r in rows], [int(r[1]) for r in rows]


def _keras(sentences, labels, steps, precision, jit):
    """examples/s of the kerasbert Trainer: the time of `steps + 10` updates less
    that of 10 (tracing and XLA compilation), each run in its own process."""
    import json

    def seconds(updates):
        out = subprocess.run([sys.executable, "-c", _KERAS_RUN, precision, jit,
                              json.dumps(sentences), json.dumps(labels), str(updates)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]

    return 32 * steps / (seconds(steps + 10) - seconds(10))


def _torch(sentences, labels, steps):
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    from kerasbert.checkpoints.sources import resolve

    directory = resolve("all_minilm_l6_v2")
    model = BertForSequenceClassification.from_pretrained(directory, num_labels=2).cuda().train()
    tokenizer = BertTokenizerFast.from_pretrained(directory)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    batches = [tokenizer(sentences[i:i + 32], padding="max_length", max_length=128,
                         truncation=True, return_tensors="pt") for i in range(0, len(sentences), 32)]
    targets = torch.tensor(labels).cuda()
    elapsed = 0.0
    for step, batch in enumerate(batches):
        batch = {k: v.cuda() for k, v in batch.items()}
        torch.cuda.synchronize()
        tick = time.perf_counter()
        loss = model(**batch, labels=targets[step * 32:(step + 1) * 32]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        torch.cuda.synchronize()
        if step >= 10:
            elapsed += time.perf_counter() - tick
    return 32 * steps / elapsed


if __name__ == "__main__":
    main()
