"""Fine-tuning throughput of a BERT-base-shaped classifier on one accelerator:
steps_per_loop 1 against 100, bfloat16 and float16 with XLA, and the SQuAD
dev evaluation on the device against the host.

For each precision (`mixed_bfloat16`, `mixed_float16` with loss scaling), the
Trainer runs the same updates of SST-2-length batches (SST-2 sentences,
padded to `--sequence_length`, static shapes so XLA compiles once) once with
`steps_per_loop=1` (the host reads the loss after every update) and once with
`steps_per_loop=100` (one compiled call per 100 updates). The first loop
(tracing, XLA compilation) is not timed. It prints sequences/s, their ratio,
and the share of the device's dense peak they reach, counting BERT-base
training as 6 x (non-embedding weights) x tokens plus the attention products:
67 GFLOP per 128-token sequence (issue #15 quotes about 84 GFLOP, which
counts more, so the shares printed here are the lower estimate).

Then it times `Trainer.evaluate` over the windows of SQuAD v1.1 dev
(`--squad_questions` of them; all with 0): predictions under the strategy on
the device, against the same pass pinned to the host CPU.

    python bench/bench_gpu_sst2.py                # on a GPU (or TPU) machine
    python bench/bench_gpu_sst2.py --smoke        # a tiny shape on the CPU: checks it runs

Data from ../shared/data (or $KERASBERT_SHARED_DATA): glue/SST-2/train.tsv,
squad/dev-v1.1.json and vocab/bert_uncased/vocab.txt. The encoder has
random weights (throughput does not depend on them; nothing is downloaded).
"""

import argparse
import csv
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BERT_BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512)
SMOKE = dict(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
             intermediate_size=128, max_position_embeddings=128)
# Dense bfloat16 / float16 tensor-core peaks, FLOP/s (vendor datasheets, no sparsity).
PEAKS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12,
         "T4": 65e12, "V100": 125e12}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny encoder, few updates, on whatever device there is")
    parser.add_argument("--batch_size", type=int, default=None, help="default 256 (smoke: 8)")
    parser.add_argument("--sequence_length", type=int, default=None,
                        help="default 128 (smoke: 32)")
    parser.add_argument("--loops", default=None, help="steps_per_loop values, default 1,100 "
                        "(smoke: 1,4)")
    parser.add_argument("--updates", type=int, default=None,
                        help="timed updates per run, after one untimed loop (default 300; "
                             "smoke: 8)")
    parser.add_argument("--precisions", default="mixed_bfloat16,mixed_float16")
    parser.add_argument("--jit_compile", default="true", help="XLA on (true) or off (false)")
    parser.add_argument("--squad_questions", type=int, default=None,
                        help="SQuAD dev questions to evaluate (0: all; default all, smoke: 16)")
    parser.add_argument("--peak_tflops", type=float, default=None,
                        help="the device's dense peak, when it is not in the table")
    parser.add_argument("--data_dir", default=os.environ.get(
        "KERASBERT_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data")))
    args = parser.parse_args(argv)
    smoke = args.smoke
    args.batch_size = args.batch_size or (8 if smoke else 256)
    args.sequence_length = args.sequence_length or (32 if smoke else 128)
    args.loops = [int(n) for n in (args.loops or ("1,4" if smoke else "1,100")).split(",")]
    args.updates = args.updates or (8 if smoke else 300)
    if args.squad_questions is None:
        args.squad_questions = 16 if smoke else 0
    return args


def flops_per_sequence(config, length):
    """Training FLOPs of one sequence: 6 x non-embedding weights x tokens (forward
    2, backward 4) plus the attention products (QK^T and AV: 2 x 2 x L^2 x H
    per layer forward, three times that with the backward)."""
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    per_layer = 4 * hidden * hidden + 2 * hidden * config["intermediate_size"]
    dense = 6 * layers * per_layer * length
    attention = 3 * layers * 4 * length * length * hidden
    return dense + attention


def device_peak(args):
    """(device name, dense peak FLOP/s or None)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU", args.peak_tflops and args.peak_tflops * 1e12
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    if args.peak_tflops:
        return name, args.peak_tflops * 1e12
    return name, next((peak for key, peak in PEAKS.items() if key in name.upper()), None)


def sst2_batches(args, tokenizer):
    """`(features, labels)` numpy arrays of SST-2 train sentences, enough for one
    epoch of the runs; synthetic lengths when SST-2 is not there."""
    import numpy as np

    count = args.batch_size * 64
    path = os.path.join(args.data_dir, "glue", "SST-2", "train.tsv")
    with open(path, encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:count + 1]
    features = {k: v.numpy() for k, v in tokenizer([r[0] for r in rows]).items()}
    return features, np.array([int(r[1]) for r in rows], "int32")


def train_rate(args, config, data, precision, steps_per_loop, jit_compile):
    """Sequences/s of the Trainer's updates after its first (untimed) loop."""
    import keras
    import tensorflow as tf

    from kerasbert import BertEncoder
    from kerasbert.distribute.precision import precision_policy
    from kerasbert.tasks import get_task
    from kerasbert.tasks.keras_task import BertTask
    from kerasbert.configs.training import TrainingConfig
    from kerasbert.loop.trainer import Trainer

    total = steps_per_loop + args.updates
    dataset = tf.data.Dataset.from_tensor_slices(data).repeat().batch(
        args.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    with precision_policy(precision), tempfile.TemporaryDirectory() as directory:
        keras.utils.set_random_seed(0)
        training = TrainingConfig(epochs=1, batch_size=args.batch_size, learning_rate=5e-5,
                                  max_steps=total, checkpoint_every_steps=0, verbose=0,
                                  steps_per_loop=steps_per_loop)
        trainer = Trainer(lambda: BertTask(BertEncoder(**config), 2),
                          get_task("classification", ["0", "1"]), training, directory,
                          jit_compile=jit_compile, static_shapes=True)
        trainer.fit(lambda epoch, context: dataset, total)
    timed = trainer.step_seconds[steps_per_loop:]
    return args.batch_size * len(timed) / sum(timed)


def squad_seconds(args, config, tokenizer):
    """(windows, seconds on the device, seconds on the host) of one evaluation
    of SQuAD dev windows with the Trainer's strategy."""
    import tensorflow as tf

    from kerasbert import BertEncoder
    from kerasbert.tasks.keras_task import BertTask
    from kerasbert.configs.training import TrainingConfig
    from kerasbert.training.squad_data import SquadData
    from kerasbert.loop.trainer import Trainer

    path = os.path.join(args.data_dir, "squad", "dev-v1.1.json")
    if args.squad_questions:
        with open(path, encoding="utf-8") as f:
            squad = json.load(f)
        kept, left = [], args.squad_questions
        for article in squad["data"]:
            for paragraph in article["paragraphs"]:
                paragraph["qas"] = paragraph["qas"][:left]
                left -= len(paragraph["qas"])
            kept.append(article)
            if left <= 0:
                break
        squad["data"] = kept
        path = os.path.join(tempfile.mkdtemp(), "dev-subset.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(squad, f)
    length = args.sequence_length  # questions and strides fitted to short smoke windows
    data = SquadData.read(path, path, max_query_length=min(64, length // 2),
                          doc_stride=min(128, length // 2))
    inputs = data.inputs(tokenizer, batch_size=args.batch_size, seed=0, batch_mode="static")
    with tempfile.TemporaryDirectory() as directory:
        task = data.task
        trainer = Trainer(lambda: BertTask(BertEncoder(**config), task.num_outputs,
                                           task.head),
                          task, TrainingConfig(verbose=0), directory)
        with trainer.strategy.scope():
            trainer.model = trainer.model_fn()
        trainer.evaluate(inputs.evaluate_fn)  # traces
        start = time.perf_counter()
        metrics = trainer.evaluate(inputs.evaluate_fn)
        device = time.perf_counter() - start
        with tf.device("/CPU:0"):
            model = trainer.model_fn()
            model.set_weights(trainer.model.get_weights())
            inputs.evaluate_fn(model)  # traces
            start = time.perf_counter()
            inputs.evaluate_fn(model)
            host = time.perf_counter() - start
    return metrics["eval_examples"], device, host


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from kerasbert import BertTokenizer

    config = SMOKE if args.smoke else BERT_BASE
    name, peak = device_peak(args)
    if name == "CPU" and not args.smoke:
        sys.exit("bench_gpu_sst2: no GPU here; run it on a GPU machine (or --smoke)")
    jit_compile = args.jit_compile.lower() == "true"
    tokenizer = BertTokenizer(os.path.join(args.data_dir, "vocab", "bert_uncased", "vocab.txt"),
                              sequence_length=args.sequence_length)
    data = sst2_batches(args, tokenizer)
    flops = flops_per_sequence(config, args.sequence_length)
    print(f"{name}; {'smoke shape' if args.smoke else 'BERT-base shape'} "
          f"({config['num_hidden_layers']} layers, hidden {config['hidden_size']}), batch "
          f"{args.batch_size}, length {args.sequence_length}, XLA {jit_compile}, "
          f"{flops / 1e9:.3g} GFLOP per sequence; {args.updates} timed updates per run",
          flush=True)
    rates = {}
    for precision in args.precisions.split(","):
        for steps_per_loop in args.loops:
            rate = train_rate(args, config, data, precision, steps_per_loop, jit_compile)
            rates[precision, steps_per_loop] = rate
            share = f", {100 * rate * flops / peak:.1f}% of peak" if peak else ""
            print(f"  {precision:15s} steps_per_loop {steps_per_loop:4d}: "
                  f"{rate:9.1f} sequences/s{share}", flush=True)
        first, last = args.loops[0], args.loops[-1]
        print(f"  {precision}: steps_per_loop {last} / {first}: "
              f"x{rates[precision, last] / rates[precision, first]:.2f}", flush=True)
    windows, device, host = squad_seconds(args, config, tokenizer)
    print(f"SQuAD dev evaluation ({windows} windows of {args.sequence_length} tokens): "
          f"{device:.2f} s under the strategy on the device, {host:.2f} s on the host CPU "
          f"(x{host / device:.2f})")
    print("reproduce: python bench/bench_gpu_sst2.py " + " ".join(
        sys.argv[1:] if argv is None else argv))
    return rates


if __name__ == "__main__":
    main()
