"""Does the input pipeline slow training? Update time fed by the live pipeline
vs the same update fed from tensors already in memory (issue 3: within 5%).

Data: SST-2 train (`glue/SST-2/train.tsv` in the shared data dir), read with
`read_delimited`, labels from `LabelVocabulary.from_examples`.

The step: `Trainer._make_train_step()` (the Trainer's compiled update: forward,
backward, clipping at global norm 1.0, BertAdamW) on a `BertTask` over a
`BertEncoder` of the `--model` preset's config (randomly initialised: the
values do not change the time), called as `Trainer.fit` calls it,
`float(train_step(iterator))` on an iterator of
`strategy.distribute_datasets_from_function`. A small encoder (BERT-Tiny by
default) keeps the update short, so any input overhead would show.

The two feeds give the step the identical sequence of batches:

- pipeline: the Trainer's own input function for epoch 0
  (`Trainer._input_fn` around `classification_dataset(..., shuffle=True,
  seed=0)`, prefetch included), a fresh dataset and iterator each round as at
  the start of an epoch. The first `--skip_steps` updates of each round are
  not timed: they hold the epoch start-up (tokenizing the first chunk, filling
  the shuffle buffers), which happens once per epoch and is reported on its
  own; the timed `--steps_per_round` updates (default 64, one chunk of
  `CHUNK_BATCHES` batches, so each window holds one tokenization burst) see
  the pipeline in its steady state, working in background threads. The
  iterator is deleted after the round, so none of its work spills into the
  other feed's round (checked: the process's idle CPU after each round is
  printed).
- in memory: batches `skip_steps .. skip_steps + steps_per_round - 1` of the
  same pipeline, materialised beforehand, held as one tensor per feature
  (`tf.data.Dataset.from_tensor_slices`, no prefetch, no threads). Static
  batches are stacked as they are; bucket batches, whose shapes differ, are
  stacked padded and each is sliced back to its own rows and width (a copy of
  at most 16 KB per feature, done in the step's `IteratorGetNext`), so the
  step gets exactly the pipeline's tensors. This is the feed the
  Trainer's step can take (it reads an iterator) with the least input work,
  and its element spec equals the pipeline's (checked), so both feeds run
  the same traced step.

Timing: one untimed round of each feed first (traces the step), then
`--rounds` interleaved rounds, the order alternating (A B, B A, ...) so
machine drift hits both. Reported per feed: median (min-max) of the rounds'
mean ms per update and process CPU ms per update; the ratio pipeline / in
memory as ratio of medians (pass if <= 1.05), as median of same-round
ratios, and of process CPU per update (the pipeline's threads included; far
less disturbed by other load on a shared machine than wall time). Also: the
pipeline alone over one epoch (time to first batch, ms per batch) and the
first update of an epoch.

Run:  nice -n 5 python bench/bench_pipeline_feed.py [--model bert_tiny_en_uncased]
      [--mode both] [--rounds 10] [--steps_per_round 64]
"""

import argparse
import gc
import itertools
import math
import os
import shlex
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasbert.data.delimited import read_delimited  # noqa: E402
from kerasbert.data.label_vocabulary import LabelVocabulary  # noqa: E402
from kerasbert.data.pipeline import classification_dataset  # noqa: E402
from kerasbert.encoder.bert_encoder import BertEncoder  # noqa: E402
from kerasbert.paths import SHARED_DATA_ENV, shared_data_dir  # noqa: E402
from kerasbert.tasks.classification import ClassificationTask  # noqa: E402
from kerasbert.tasks.keras_task import BertTask  # noqa: E402
from kerasbert.tokenizers.bert_tokenizer import BertTokenizer  # noqa: E402
from kerasbert.configs.training import TrainingConfig  # noqa: E402
from kerasbert.loop.trainer import Trainer  # noqa: E402

LIMIT = 1.05
IDLE_SECONDS = 0.1


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bert_tiny_en_uncased",
                        help="preset: encoder config and vocabulary (e.g. all_minilm_l6_v2)")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--sequence_length", type=int, default=128)
    parser.add_argument("--steps_per_round", type=int, default=64, help="timed updates per round")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved timed rounds")
    parser.add_argument("--skip_steps", type=int, default=16,
                        help="untimed updates at the start of each pipeline round (epoch start-up)")
    parser.add_argument("--mode", default="both", choices=("bucket", "static", "both"))
    return parser.parse_args(argv)


def reproduce_command(args):
    """The exact command line, every flag spelled out, with this process's nice level."""
    flags = " ".join(f"--{k} {shlex.quote(str(v))}" for k, v in vars(args).items())
    prefix = f"{SHARED_DATA_ENV}={shlex.quote(os.environ[SHARED_DATA_ENV])} " \
        if os.environ.get(SHARED_DATA_ENV) else ""
    niceness = os.nice(0)
    prefix += f"nice -n {niceness} " if niceness else ""
    return f"{prefix}python bench/bench_pipeline_feed.py {flags}"


# -- set-up ----------------------------------------------------------------------------------


def make_trainer(model, num_classes, batch_size, total_steps, output_dir):
    """A Trainer with its model and optimizer built, and its compiled train step."""
    training = TrainingConfig(batch_size=batch_size, verbose=0)
    trainer = Trainer(
        lambda: BertTask(BertEncoder.from_preset(model, load_weights=False), num_classes),
        ClassificationTask([str(i) for i in range(num_classes)]), training, output_dir)
    trainer._build(total_steps)
    return trainer, trainer._make_train_step()


def pipeline_input_fn(trainer, examples, tokenizer, vocabulary, mode, steps_per_epoch):
    """The Trainer's per-worker input function of epoch 0, around the same
    `classification_dataset` call as `training.text_data` makes."""
    def train_dataset_fn(epoch, input_context):
        return classification_dataset(
            examples, tokenizer, batch_size=trainer.config.batch_size,
            label_vocabulary=vocabulary, mode=mode, shuffle=True, seed=0 + epoch,
            input_context=input_context)
    return trainer._input_fn(train_dataset_fn, 0, 0, steps_per_epoch)


def materialize(input_fn, count):
    """The first `count` batches of a fresh pipeline, as NumPy."""
    dataset = input_fn(tf.distribute.InputContext())
    return [tf.nest.map_structure(lambda t: t.numpy(), b)
            for b in itertools.islice(dataset, count)]


def same_batches(a, b):
    return len(a) == len(b) and all(
        all(np.array_equal(x, y) for x, y in zip(tf.nest.flatten(p), tf.nest.flatten(q)))
        for p, q in zip(a, b))


def memory_dataset(batches):
    """A dataset yielding exactly `batches` from tensors held in memory."""
    shapes = {b[0]["token_ids"].shape for b in batches}
    if len(shapes) == 1:
        return tf.data.Dataset.from_tensor_slices(
            tf.nest.map_structure(lambda *x: np.stack(x), *batches))
    rows = np.array([len(b[1]) for b in batches], np.int32)
    widths = np.array([b[0]["token_ids"].shape[1] for b in batches], np.int32)
    rows_max, width_max = int(rows.max()), int(widths.max())

    def pad(x):
        out = np.zeros((rows_max, width_max)[:x.ndim], x.dtype)
        out[tuple(slice(0, n) for n in x.shape)] = x
        return out

    padded = tf.nest.map_structure(lambda *x: np.stack([pad(v) for v in x]), *batches)

    def cut(element, r, w):
        features, labels = element
        return {k: v[:r, :w] for k, v in features.items()}, labels[:r]

    return tf.data.Dataset.from_tensor_slices((padded, rows, widths)).map(cut)


# -- timing ----------------------------------------------------------------------------------


def timed_steps(train_step, iterator, steps):
    """(wall seconds, process CPU seconds) per update over `steps` updates."""
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = float(train_step(iterator))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if not math.isfinite(loss):
        raise FloatingPointError(f"loss {loss}")
    return wall / steps, cpu / steps


def idle_cpu():
    """Process CPU seconds spent while the main thread sleeps IDLE_SECONDS."""
    gc.collect()
    cpu_start = time.process_time()
    time.sleep(IDLE_SECONDS)
    return time.process_time() - cpu_start


def pipeline_round(strategy, train_step, input_fn, skip, steps):
    """A fresh epoch iterator: (first update s, wall s/update, CPU s/update, idle CPU after)."""
    distributed = strategy.distribute_datasets_from_function(input_fn)
    start = time.perf_counter()
    iterator = iter(distributed)
    float(train_step(iterator))
    first = time.perf_counter() - start
    for _ in range(skip - 1):
        float(train_step(iterator))
    wall, cpu = timed_steps(train_step, iterator, steps)
    del iterator, distributed
    return first, wall, cpu, idle_cpu()


def memory_round(strategy, train_step, dataset, steps):
    """The in-memory batches: (wall s/update, CPU s/update, idle CPU after)."""
    iterator = iter(strategy.distribute_datasets_from_function(lambda context: dataset))
    wall, cpu = timed_steps(train_step, iterator, steps)
    del iterator
    return wall, cpu, idle_cpu()


def pipeline_alone(input_fn):
    """One epoch of the pipeline with no training: (s to first batch, s per batch, batches)."""
    start = time.perf_counter()
    iterator = iter(input_fn(tf.distribute.InputContext()))
    next(iterator)
    first, count = time.perf_counter() - start, 1
    for _ in iterator:
        count += 1
    return first, (time.perf_counter() - start) / count, count


# -- one mode --------------------------------------------------------------------------------


def bench_mode(args, mode, examples, tokenizer, vocabulary):
    batch = args.batch_size
    steps_per_epoch = math.ceil(len(examples) / batch) if mode == "bucket" \
        else len(examples) // batch
    needed = args.skip_steps + args.steps_per_round
    if args.skip_steps < 1 or needed > steps_per_epoch:
        raise ValueError(f"need 1 <= skip_steps and skip_steps + steps_per_round <= "
                         f"{steps_per_epoch} updates per epoch")
    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory() as output_dir:
        trainer, train_step = make_trainer(args.model, len(vocabulary), batch,
                                           3 * steps_per_epoch, output_dir)
        input_fn = pipeline_input_fn(trainer, examples, tokenizer, vocabulary, mode,
                                     steps_per_epoch)
        batches = materialize(input_fn, needed)
        if not same_batches(batches, materialize(input_fn, needed)):
            raise AssertionError("two fresh pipelines gave different batches")
        memory = memory_dataset(batches[args.skip_steps:])
        if memory.element_spec != input_fn(tf.distribute.InputContext()).element_spec:
            raise AssertionError(f"element specs differ: {memory.element_spec}")
        if not same_batches(batches[args.skip_steps:], [tf.nest.map_structure(
                lambda t: t.numpy(), b) for b in memory]):
            raise AssertionError("the in-memory dataset does not give the pipeline's batches")
        alone = pipeline_alone(input_fn)
        strategy = trainer.strategy
        run = {"pipeline": lambda: pipeline_round(strategy, train_step, input_fn,
                                                  args.skip_steps, args.steps_per_round),
               "memory": lambda: memory_round(strategy, train_step, memory,
                                              args.steps_per_round)}
        print(f"\n== mode {mode}: {steps_per_epoch} updates per epoch; timed batches "
              f"{args.skip_steps}-{needed - 1}, mean width "
              f"{np.mean([b[0]['token_ids'].shape[1] for b in batches[args.skip_steps:]]):.1f} "
              "tokens", flush=True)
        start = time.perf_counter()
        run["pipeline"]()
        run["memory"]()
        print(f"  warm-up round (untimed): {time.perf_counter() - start:.1f} s, "
              f"step traced {train_step.experimental_get_tracing_count()} time(s)", flush=True)
        results = {"pipeline": [], "memory": []}
        for r in range(args.rounds):
            for name in ("pipeline", "memory") if r % 2 == 0 else ("memory", "pipeline"):
                results[name].append(run[name]())
            print(f"  round {r + 1}/{args.rounds}: ms/update pipeline "
                  f"{results['pipeline'][-1][1] * 1e3:.2f}, in memory "
                  f"{results['memory'][-1][0] * 1e3:.2f}", flush=True)
        traces = train_step.experimental_get_tracing_count()
    return report(mode, results, alone, steps_per_epoch, traces)


def report(mode, results, alone, steps_per_epoch, traces):
    """Print the figures of one mode; returns (ratio of medians, passed)."""
    pipe = dict(zip(("first", "wall", "cpu", "idle"), zip(*results["pipeline"])))
    mem = dict(zip(("wall", "cpu", "idle"), zip(*results["memory"])))
    med = {name: statistics.median(feed["wall"]) for name, feed in
           (("pipeline", pipe), ("memory", mem))}
    ratio = med["pipeline"] / med["memory"]
    paired = statistics.median(a / b for a, b in zip(pipe["wall"], mem["wall"]))
    passed = ratio <= LIMIT
    print(f"\nmode {mode}: ms per update, median of {len(pipe['wall'])} rounds (min-max); "
          "process CPU ms per update, median")
    for label, feed in (("pipeline", pipe), ("in memory", mem)):
        print(f"  {label:10s} {statistics.median(feed['wall']) * 1e3:8.2f} "
              f"({min(feed['wall']) * 1e3:.2f}-{max(feed['wall']) * 1e3:.2f})  "
              f"cpu {statistics.median(feed['cpu']) * 1e3:.2f}")
    cpu_ratio = statistics.median(pipe["cpu"]) / statistics.median(mem["cpu"])
    print(f"  ratio pipeline / in memory: {ratio:.3f} (ratio of medians), {paired:.3f} "
          f"(median of same-round ratios) -> {'PASS' if passed else 'FAIL'} (limit {LIMIT}); "
          f"CPU per update {cpu_ratio:.3f} (pipeline threads included, steadier under load)")
    first_update = statistics.median(pipe["first"])
    startup = max(first_update - med["memory"], 0.0)
    print(f"  epoch start: first update of a fresh epoch iterator {first_update * 1e3:.0f} ms "
          f"(median), {startup * 1e3:.0f} ms over an update, once per {steps_per_epoch} updates "
          f"= {startup / (steps_per_epoch * med['memory']) * 100:.2f}% of an epoch")
    print(f"  pipeline alone (no training), one epoch of {alone[2]} batches: first batch after "
          f"{alone[0] * 1e3:.0f} ms, {alone[1] * 1e3:.3f} ms per batch = "
          f"{alone[1] / med['memory'] * 100:.1f}% of an in-memory update (its cost if not "
          "overlapped)")
    print(f"  idle CPU in {IDLE_SECONDS:.1f} s after a round, median: after pipeline "
          f"{statistics.median(pipe['idle']) * 1e3:.1f} ms, after in memory "
          f"{statistics.median(mem['idle']) * 1e3:.1f} ms; step traced {traces} time(s)")
    return ratio, passed


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print(f"reproduce: {reproduce_command(args)}")
    path = shared_data_dir() / "glue/SST-2/train.tsv"
    examples = read_delimited(path, "sentence", "label")
    vocabulary = LabelVocabulary.from_examples(examples)
    tokenizer = BertTokenizer.from_preset(args.model, sequence_length=args.sequence_length)
    print(f"data: {path} ({len(examples)} examples); model {args.model} (random init), "
          f"batch {args.batch_size}, sequence {args.sequence_length}, fp32; TF {tf.__version__}, "
          f"keras {keras.__version__}, {os.cpu_count()} CPUs, TF threads default, load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    start = time.perf_counter()
    outcomes = {mode: bench_mode(args, mode, examples, tokenizer, vocabulary)
                for mode in (("bucket", "static") if args.mode == "both" else (args.mode,))}
    print("\nsummary: " + "; ".join(
        f"{mode} {ratio:.3f} {'PASS' if passed else 'FAIL'}"
        for mode, (ratio, passed) in outcomes.items())
        + f" (pipeline / in-memory update time, limit {LIMIT}); "
        f"{time.perf_counter() - start:.0f} s, load average {os.getloadavg()[0]:.2f}")
    return outcomes


if __name__ == "__main__":
    main()
