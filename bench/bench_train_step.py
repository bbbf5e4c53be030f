"""Training-step throughput of a BERT classifier, next to torch and KerasHub.

Measures examples/s of one optimizer update (forward, backward, gradient
clipping at global norm 1.0, AdamW with weight decay 0.01, dropout 0.1 on) on
one fixed batch of `batch_size` x `sequence_length` (fp32, CPU, `--threads`
threads) for two configs:

- tiny: Google BERT-Tiny (L-2, H-128, A-2, I-512),
- minilm: all-MiniLM-L6-v2 (L-6, H-384, A-12, I-1536),

both with a 30522-token vocabulary and a 2-class head on the [CLS] pooler.
The contenders, built on the identical config in one process:

- ours: `kerasbert.training.Trainer`'s compiled train step (`strategy.run`
  under the default strategy, `create_optimizer`'s BertAdamW) on
  `BertTask(BertEncoder)`, called on a distributed iterator as
  `Trainer.fit` calls it, with the same `float(loss)` sync;
- ours-fit: the same model under plain Keras `compile` + `train_on_batch`;
- ours-xla (`--jit_compile`): the Trainer's step with `jit_compile=True`;
- ours-loopN: the Trainer's compiled loop of N updates per call
  (`steps_per_loop=N`, the losses read once per call), e.g. `ours-loop1`
  against `ours-loop16` for the cost of the host round trip per update;
- torch: transformers' `BertForSequenceClassification`, `torch.optim.AdamW`
  (no decay on biases/LayerNorm), `clip_grad_norm_`, linear schedule, as
  transformers' Trainer does;
- kerashub: `keras_hub.models.BertTextClassifier(BertBackbone,
  preprocessor=None)` compiled with Keras AdamW (`global_clipnorm=1.0`, no
  metrics), `train_on_batch` (Keras picks no XLA on CPU-only machines).

The machine may be shared, so after warm-up the contenders are timed in
interleaved rounds (A B C D A B C D ...) and the medians of the per-round
rates are reported, with the ratios of ours to each peer, the best round (the
least disturbed) and the process CPU seconds per step (less sensitive to other
load than wall time).

Run:  python bench/bench_train_step.py [--configs tiny,minilm] [--rounds 7]
      (needs torch and keras-hub: `pip install -e .[bench]`)
      python bench/bench_train_step.py --contenders ours-loop1,ours-loop16 ...
      (steps_per_loop 1 against 16; TensorFlow only)
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# torch's OpenMP threads spin while waiting by default, which makes torch 2-3x
# slower whenever the cores are shared with another process (and burns the CPU
# the other contenders need between turns); passive waiting gives torch its
# best figure on a shared machine. TensorFlow does not use OpenMP. Override
# with OMP_WAIT_POLICY=ACTIVE to time torch's default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

CONFIGS = {
    "tiny": dict(vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=512),
    "minilm": dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6,
                   num_attention_heads=12, intermediate_size=1536),
}
LEARNING_RATE, WEIGHT_DECAY, CLIP_NORM, EPSILON, NUM_CLASSES = 5e-5, 0.01, 1.0, 1e-6, 2
TOTAL_STEPS = 10_000  # for the learning-rate schedules only


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="tiny,minilm", help="comma-separated: tiny, minilm")
    parser.add_argument("--contenders", default="ours,ours-fit,torch,kerashub",
                        help="comma-separated subset of ours, ours-fit, torch, kerashub, "
                             "ours-loopN (N updates per compiled call)")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--sequence_length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (TF and torch)")
    parser.add_argument("--inter_op_threads", type=int, default=1, help="TF inter-op threads")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--seconds_per_turn", type=float, default=2.0,
                        help="approximate time each contender runs per round")
    parser.add_argument("--warmup_steps", type=int, default=3)
    parser.add_argument("--jit_compile", action="store_true",
                        help="also time ours with the Trainer's XLA-compiled step (ours-xla)")
    return parser.parse_args(argv)


def set_threads(threads, inter_op_threads):
    """Pin TF and torch to the same thread budget; must run before any TF op."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)
    try:
        import torch
    except ImportError:  # only the torch contender needs it
        return
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def make_batch(vocab_size, batch_size, sequence_length, seed=0):
    """A fixed batch of sentence pairs: int32 `token_ids`, `segment_ids`,
    `padding_mask` `[batch, seq]` (random lengths, padding at the end) and
    int32 `labels` `[batch]`."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(sequence_length // 4, sequence_length + 1, size=batch_size)
    positions = np.arange(sequence_length)[None, :]
    mask = (positions < lengths[:, None]).astype("int32")
    token_ids = rng.integers(1000, vocab_size, size=(batch_size, sequence_length)) * mask
    token_ids[:, 0] = 101
    segment_ids = ((positions >= (lengths[:, None] // 2)) * mask).astype("int32")
    features = {"token_ids": token_ids.astype("int32"), "segment_ids": segment_ids,
                "padding_mask": mask}
    return features, rng.integers(0, NUM_CLASSES, size=batch_size).astype("int32")


# -- contenders: each returns a no-argument function running one synced update ---------------


def ours_trainer_step(config, features, labels, jit_compile=False, steps_per_loop=1):
    """The `Trainer`'s own compiled train loop, fed like `Trainer.fit` feeds it:
    `steps_per_loop` updates per call, their losses read once (the returned
    function's `updates` says how many updates one call makes)."""
    import tensorflow as tf

    from kerasbert import BertEncoder
    from kerasbert.tasks.classification import ClassificationTask
    from kerasbert.tasks.keras_task import BertTask
    from kerasbert.configs.training import TrainingConfig
    from kerasbert.loop.trainer import Trainer

    training = TrainingConfig(batch_size=len(labels), learning_rate=LEARNING_RATE,
                              weight_decay=WEIGHT_DECAY, clip_norm=CLIP_NORM, verbose=0)
    trainer = Trainer(lambda: BertTask(BertEncoder(**config), NUM_CLASSES),
                      ClassificationTask([str(i) for i in range(NUM_CLASSES)]), training,
                      # nothing is written there: the step is called without fit()
                      os.path.join(tempfile.gettempdir(), "bench_train_step"),
                      jit_compile=jit_compile)
    trainer._build(TOTAL_STEPS)
    train_loop = trainer._make_train_loop()
    batch = tf.data.Dataset.from_tensors((features, labels)).repeat()
    iterator = iter(trainer.strategy.distribute_datasets_from_function(lambda context: batch))
    steps = tf.constant(steps_per_loop, tf.int32)

    def step():
        return float(train_loop(iterator, steps).numpy()[-1])

    step.updates = steps_per_loop
    return step


def ours_fit_step(config, features, labels):
    """The same model and optimizer under plain Keras `compile` + `train_on_batch`."""
    import keras

    from kerasbert import BertEncoder
    from kerasbert.tasks.keras_task import BertTask
    from kerasbert.optimization import create_optimizer

    model = BertTask(BertEncoder(**config), NUM_CLASSES)
    optimizer = create_optimizer(LEARNING_RATE, TOTAL_STEPS, weight_decay=WEIGHT_DECAY,
                                 epsilon=EPSILON)
    optimizer.global_clipnorm = CLIP_NORM
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return lambda: float(model.train_on_batch(features, labels))


def kerashub_step(config, features, labels):
    """KerasHub's BertTextClassifier on a BertBackbone of the same config."""
    import keras
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config["vocab_size"], num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"], hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"], dropout=0.1, max_sequence_length=512,
        num_segments=2)
    model = keras_hub.models.BertTextClassifier(backbone, NUM_CLASSES, preprocessor=None,
                                                dropout=0.1)
    optimizer = keras.optimizers.AdamW(
        learning_rate=keras.optimizers.schedules.PolynomialDecay(LEARNING_RATE, TOTAL_STEPS, 0.0),
        weight_decay=WEIGHT_DECAY, epsilon=EPSILON, global_clipnorm=CLIP_NORM)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[])
    return lambda: float(model.train_on_batch(features, labels))


def torch_step(config, features, labels):
    """transformers' BertForSequenceClassification with the transformers Trainer recipe."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(transformers.BertConfig(
        **config, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2,
        num_labels=NUM_CLASSES))
    model.train()
    decay = [p for n, p in model.named_parameters() if "bias" not in n and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=LEARNING_RATE, eps=EPSILON)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 0, TOTAL_STEPS)
    inputs = {"input_ids": torch.from_numpy(features["token_ids"]).long(),
              "token_type_ids": torch.from_numpy(features["segment_ids"]).long(),
              "attention_mask": torch.from_numpy(features["padding_mask"]).long(),
              "labels": torch.from_numpy(labels).long()}

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        optimizer.step()
        scheduler.step()
        return float(loss.detach())

    print(f"  torch attention implementation: {model.config._attn_implementation}", flush=True)
    return step


def builder(name):
    """The contender named `name` (`ours-loopN` for any N)."""
    if name.startswith("ours-loop"):
        count = int(name[len("ours-loop"):])
        return lambda *args: ours_trainer_step(*args, steps_per_loop=count)
    return BUILDERS[name]


BUILDERS = {"ours": ours_trainer_step, "ours-fit": ours_fit_step, "torch": torch_step,
            "kerashub": kerashub_step,
            "ours-xla": lambda *args: ours_trainer_step(*args, jit_compile=True)}


# -- timing ----------------------------------------------------------------------------------


def warm_up(steps, warmup_steps):
    """Run every step `warmup_steps` times; returns seconds per step after tracing."""
    seconds = {}
    for name, step in steps.items():
        for _ in range(warmup_steps - 1):
            step()
        start = time.perf_counter()
        step()
        seconds[name] = time.perf_counter() - start
        print(f"  warm {name}: {seconds[name] * 1000 / _updates(step):.0f} ms/update",
              flush=True)
    return seconds


def _updates(step):
    """Optimizer updates one call of `step` makes."""
    return getattr(step, "updates", 1)


def interleaved_rates(steps, step_seconds, batch_size, rounds, seconds_per_turn):
    """{name: [examples/s of each round]}, the contenders taking turns every round."""
    repeats = {name: max(1, round(seconds_per_turn / s)) for name, s in step_seconds.items()}
    rates = {name: [] for name in steps}
    cpu_seconds = {name: [] for name in steps}
    for r in range(rounds):
        for name, step in steps.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(repeats[name]):
                loss = step()
            elapsed = time.perf_counter() - start
            updates = repeats[name] * _updates(step)
            cpu_seconds[name].append((time.process_time() - cpu_start) / updates)
            if not np.isfinite(loss):
                raise FloatingPointError(f"{name}: loss {loss}")
            rates[name].append(updates * batch_size / elapsed)
        print(f"  round {r + 1}/{rounds}: " + "  ".join(
            f"{n} {v[-1]:.1f}" for n, v in rates.items()), flush=True)
    return rates, cpu_seconds


def report(config_name, rates, cpu_seconds):
    medians = {name: statistics.median(v) for name, v in rates.items()}
    print(f"\n{config_name}: examples/s, median over {len(next(iter(rates.values())))} rounds "
          "(min-max); process CPU seconds per step, median")
    for name, values in rates.items():
        print(f"  {name:10s} {medians[name]:8.1f}  ({min(values):.1f}-{max(values):.1f})"
              f"  cpu {statistics.median(cpu_seconds[name]):.3f} s/step")
    loops = sorted((n for n in rates if n.startswith("ours-loop")),
                   key=lambda n: int(n[len("ours-loop"):]))
    for many in loops[1:]:
        paired = statistics.median(a / b for a, b in zip(rates[many], rates[loops[0]]))
        print(f"  {many}/{loops[0]}: {medians[many] / medians[loops[0]]:.2f} (ratio of "
              f"medians), {paired:.2f} (median of same-round ratios)")
    for ours in ("ours", "ours-fit", "ours-xla"):
        for peer in ("torch", "kerashub"):
            if ours in medians and peer in medians:
                paired = statistics.median(a / b for a, b in zip(rates[ours], rates[peer]))
                print(f"  {ours}/{peer}: {medians[ours] / medians[peer]:.2f} (ratio of medians), "
                      f"{paired:.2f} (median of same-round ratios), "
                      f"{max(rates[ours]) / max(rates[peer]):.2f} (best rounds)")
    return medians


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    set_threads(args.threads, args.inter_op_threads)
    import keras
    import tensorflow as tf

    contenders = args.contenders.split(",") + (["ours-xla"] if args.jit_compile else [])
    torch_version = sys.modules["torch"].__version__ if "torch" in sys.modules else "-"
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, torch {torch_version}; "
          f"batch {args.batch_size}, sequence {args.sequence_length}, fp32, "
          f"intra-op threads {args.threads} (TF inter-op {args.inter_op_threads}, "
          f"torch inter-op 1, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']})", flush=True)
    all_medians = {}
    for config_name in args.configs.split(","):
        config = CONFIGS[config_name]
        features, labels = make_batch(config["vocab_size"], args.batch_size, args.sequence_length)
        print(f"\n== {config_name}: {config}", flush=True)
        keras.utils.set_random_seed(0)
        steps = {}
        for name in contenders:
            steps[name] = builder(name)(config, features, labels)
        step_seconds = warm_up(steps, args.warmup_steps)
        rates, cpu_seconds = interleaved_rates(steps, step_seconds, args.batch_size, args.rounds,
                                               args.seconds_per_turn)
        all_medians[config_name] = report(config_name, rates, cpu_seconds)
    print("\nreproduce: python bench/bench_train_step.py " + " ".join(
        sys.argv[1:] if argv is None else argv))
    return all_medians


if __name__ == "__main__":
    main()
