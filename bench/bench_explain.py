"""Faithfulness of explanations of an SST-2 classifier: integrated gradients vs attention vs random.

Fine-tunes all-MiniLM-L6-v2 on the first `--max_train_examples` SST-2 train
sentences (`python -m kerasbert.train`, 1 epoch, length 64, [CLS] pooling;
or takes the run directory `--model`), then on the first `--max_dev_examples`
SST-2 dev sentences explains the predicted class with three methods:

- integrated gradients: `model.explain` (32 steps, [PAD] baseline);
- attention: the last layer's attention from [CLS] to each piece, averaged
  over heads (the layer's softmax weights on the previous layer's output,
  `BertSelfAttention.attention_probabilities`);
- random: a seeded random score per word.

Piece scores are summed into words (runs of non-space characters, as
`kerasbert.explain` groups them). ERASER's faithfulness metrics (DeYoung et
al., 2020, "ERASER: A Benchmark to Evaluate Rationalized NLP Models"), on the
predicted class's softmax probability p, with the rationale r_k the top k% of
the sentence's words (ceil(k% x words), at least one) by score:

- comprehensiveness = p(x) - p(x without r_k): higher is better;
- sufficiency = p(x) - p(r_k alone): lower is better;

at k = 20%, and their AOPC versions: the mean over k in {1, 5, 10, 20, 50}%
(as ERASER's released code averages over its bins). Perturbed texts are the
remaining words joined by spaces, tokenized afresh. Also: explanations per
second for each method on the dev sentences (a batch padded to its longest
row) and on rows of exactly 64 pieces (the model's length).

    python bench/bench_explain.py --output_dir=runs/bench_explain
    python bench/bench_explain.py --model=runs/bench_explain/model   # reuse a run
    python bench/bench_explain.py --max_train_examples=200 --max_dev_examples=20  # smoke
"""

import argparse
import csv
import math
import os
import shlex
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from bench_sst2 import _head  # noqa: E402  (the script's folder is on sys.path)

FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)
MAIN_FRACTION = 0.20


def read_sst2(path, limit=None):
    """(sentences, labels) of a GLUE SST-2 TSV (no quote processing)."""
    with open(path, encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    rows = rows[:limit] if limit else rows
    return [r[0] for r in rows], np.array([int(r[1]) for r in rows])


def fine_tune(args, sst2):
    """The run directory: `--model`, or a fresh `kerasbert.train` run."""
    if args.model:
        return args.model
    run = os.path.join(args.output_dir, "model")
    train = os.path.join(sst2, "train.tsv")
    if args.max_train_examples:
        train = _head(train, args.max_train_examples, args.output_dir)
    command = [sys.executable, "-m", "kerasbert.train", "--task=classification",
               f"--train_data={train}", "--text_column=sentence", "--label_column=label",
               f"--model={args.base_model}", f"--max_seq_length={args.max_seq_length}",
               f"--batch_size={args.batch_size}", f"--epochs={args.epochs}",
               f"--learning_rate={args.learning_rate}", "--warmup_ratio=0.1",
               "--weight_decay=0.01", f"--pooling={args.pooling}", f"--seed={args.seed}",
               "--checkpoint_every_steps=1000", f"--output_dir={run}", "--verbose=0"]
    start = time.time()
    subprocess.run(command, check=True)
    print(f"fine-tuned {run} in {time.time() - start:.0f} s", file=sys.stderr)
    return run


def cls_attention_function(model):
    """A tf.function: the encoder's features -> float32 `[batch, seq]`, the
    last layer's attention from [CLS] to each position, averaged over heads:
    the layer's own query / key projections on the previous layer's output."""
    import tensorflow as tf

    encoder = model.encoder
    spec = tf.TensorSpec([None, None], tf.int32)

    @tf.function(input_signature=[spec, spec, spec])
    def attention(token_ids, segment_ids, padding_mask):
        hidden = encoder.embeddings(token_ids, segment_ids, training=False)
        bias = encoder.get_layer("attention_bias")(padding_mask)
        for block in encoder.transformer_layers[:-1]:
            hidden = block(hidden, bias, training=False)
        probs = encoder.transformer_layers[-1].attention.attention_probabilities(hidden, bias)
        return tf.reduce_mean(probs[:, :, 0, :], axis=1)

    return attention


_ATTENTION = {}  # id(model) -> its cls_attention_function, traced once


def attention_records(model, texts, batch_size=64):
    """[(piece ids without [CLS]/[SEP], their [CLS] attention)] per text."""
    import tensorflow as tf

    from kerasbert.tasks.signature import trim_padding

    tokenizer = model.preprocessor.tokenizer
    if id(model) not in _ATTENTION:
        _ATTENTION[id(model)] = cls_attention_function(model)
    function = _ATTENTION[id(model)]
    out = []
    for start in range(0, len(texts), batch_size):
        features, _ = trim_padding(tokenizer(tf.constant(texts[start:start + batch_size])))
        weights = function(features["token_ids"], features["segment_ids"],
                           features["padding_mask"]).numpy()
        for ids, mask, row in zip(features["token_ids"].numpy(),
                                  features["padding_mask"].numpy(), weights):
            length = int(mask.sum())
            out.append((ids[1:length - 1], row[1:length - 1]))
    return out


def word_scores_from_pieces(tokenizer, text, piece_ids, piece_scores, spans):
    """Scores of the words `spans` of `text`: the sum of each word's pieces
    (`kerasbert.explain`'s grouping); -inf for a word the model did not see."""
    from kerasbert.tasks.integrated_gradients import group_words

    starts = {span[0]: i for i, span in enumerate(spans)}
    scores = np.full(len(spans), -np.inf)
    for _, value, span in group_words(tokenizer, text, piece_ids, piece_scores):
        scores[starts[span[0]]] = value
    return scores


def ig_word_scores(record, spans):
    starts = {span[0]: i for i, span in enumerate(spans)}
    scores = np.full(len(spans), -np.inf)
    for value, span in zip(record["word_attributions"], record["word_offsets"]):
        scores[starts[span[0]]] = value
    return scores


def rationale(scores, fraction):
    """Indices of the top ceil(fraction x words) words by score (at least one;
    only words the model saw), ties to the earlier word."""
    count = min(max(math.ceil(fraction * len(scores)), 1), int(np.isfinite(scores).sum()))
    order = np.argsort(-scores, kind="stable")
    return set(order[:count].tolist())


def perturbed(text, spans, chosen, keep):
    """The words of `text` in `chosen` (keep=True) or all the others, joined by spaces."""
    return " ".join(text[s:e] for i, (s, e) in enumerate(spans) if (i in chosen) == keep)


def probabilities(model, texts, batch_size):
    import tensorflow as tf

    logits = model.predict(texts, batch_size=batch_size, verbose=0)
    return tf.nn.softmax(logits, axis=-1).numpy()


def eraser(model, texts, spans, scores, predicted, full, batch_size):
    """{fraction: (comprehensiveness, sufficiency)} means over the sentences."""
    rows = np.arange(len(texts))
    out = {}
    for fraction in FRACTIONS:
        chosen = [rationale(s, fraction) for s in scores]
        without = [perturbed(t, sp, c, keep=False) for t, sp, c in zip(texts, spans, chosen)]
        alone = [perturbed(t, sp, c, keep=True) for t, sp, c in zip(texts, spans, chosen)]
        p_without = probabilities(model, without, batch_size)[rows, predicted]
        p_alone = probabilities(model, alone, batch_size)[rows, predicted]
        out[fraction] = (float(np.mean(full - p_without)), float(np.mean(full - p_alone)))
    return out


def rows_of_full_length(model, texts, count):
    """`count` texts of at least the model's sequence length in pieces
    (consecutive dev sentences joined), so every row is 64 pieces long."""
    tokenizer = model.preprocessor.tokenizer
    rows, current, index = [], [], 0
    while len(rows) < count:
        current.append(texts[index % len(texts)])
        index += 1
        ids = tokenizer.tokenize_with_offsets(" ".join(current))[0]
        if len(ids) >= tokenizer.sequence_length - 2:
            rows.append(" ".join(current))
            current = []
    return rows


def rate(function, texts):
    """Items per second of `function(texts)` after one warm-up call on a few."""
    function(texts[:4])
    start = time.perf_counter()
    function(texts)
    return len(texts) / (time.perf_counter() - start)


def main():
    from kerasbert.paths import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=str(shared_data_dir()))
    parser.add_argument("--output_dir", default="runs/bench_explain")
    parser.add_argument("--model", default=None,
                        help="a fine-tuned SST-2 run directory to explain (skips training)")
    parser.add_argument("--base_model", default="all_minilm_l6_v2")
    parser.add_argument("--max_train_examples", type=int, default=8000)
    parser.add_argument("--max_dev_examples", type=int, default=500)
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", default="5e-5")
    parser.add_argument("--pooling", choices=["auto", "cls", "mean"], default="cls")
    parser.add_argument("--steps", type=int, default=32, help="integrated-gradients steps")
    parser.add_argument("--ig_batch_size", type=int, default=4,
                        help="sentences per integrated-gradients call (x steps + 2 rows)")
    parser.add_argument("--throughput_rows", type=int, default=32,
                        help="rows of full length timed for explanations/s")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    sst2 = os.path.join(args.data_dir, "glue", "SST-2")
    run = fine_tune(args, sst2)

    import kerasbert
    from kerasbert.tasks.integrated_gradients import word_spans

    model = kerasbert.BertClassifier.from_preset(run)
    tokenizer = model.preprocessor.tokenizer
    texts, labels = read_sst2(os.path.join(sst2, "dev.tsv"), args.max_dev_examples)
    batch = 64
    full_probs = probabilities(model, texts, batch)
    predicted = full_probs.argmax(-1)
    full = full_probs[np.arange(len(texts)), predicted]
    spans = [word_spans(t) for t in texts]

    def explain(batch_texts):
        return model.explain(batch_texts, steps=args.steps, batch_size=args.ig_batch_size)

    explain(texts[:2])  # traces the graph
    start = time.perf_counter()
    records = explain(texts)
    ig_dev_rate = len(texts) / (time.perf_counter() - start)
    if any(r["label"] != model.labels[p] for r, p in zip(records, predicted)):
        raise RuntimeError("explain's predicted labels differ from predict's")
    attention = attention_records(model, texts)
    rng = np.random.default_rng(args.seed)
    scores = {
        "integrated gradients": [ig_word_scores(r, sp) for r, sp in zip(records, spans)],
        "attention from [CLS] (last layer, mean of heads)": [
            word_scores_from_pieces(tokenizer, t, ids, w, sp)
            for t, (ids, w), sp in zip(texts, attention, spans)],
    }
    seen = [np.isfinite(s) for s in scores["integrated gradients"]]
    scores["random"] = [np.where(m, rng.random(len(m)), -np.inf) for m in seen]

    long_rows = rows_of_full_length(model, texts, args.throughput_rows)
    rates = {"integrated gradients": (ig_dev_rate, rate(explain, long_rows)),
             "attention from [CLS] (last layer, mean of heads)": (
                 rate(lambda t: attention_records(model, t), texts),
                 rate(lambda t: attention_records(model, t), long_rows)),
             "random": (None, None)}

    accuracy = float((predicted == labels).mean())
    print(f"\nSST-2 dev, first {len(texts)} sentences; model {run} (dev accuracy on them "
          f"{accuracy:.4f}); integrated gradients {args.steps} steps; rationale = top k% of "
          "words; p = the predicted class's probability\n")
    print("| method | comprehensiveness k=20% (higher better) | sufficiency k=20% (lower "
          "better) | AOPC comprehensiveness | AOPC sufficiency | explanations/s, dev sentences "
          f"| explanations/s, {args.max_seq_length} pieces |")
    print("|---|---|---|---|---|---|---|")
    for method, method_scores in scores.items():
        result = eraser(model, texts, spans, method_scores, predicted, full, batch)
        comp, suff = result[MAIN_FRACTION]
        aopc_comp = np.mean([result[f][0] for f in FRACTIONS])
        aopc_suff = np.mean([result[f][1] for f in FRACTIONS])
        dev_rate, long_rate = rates[method]
        shown = ["—" if r is None else f"{r:,.1f}" for r in (dev_rate, long_rate)]
        print(f"| {method} | {comp:.4f} | {suff:.4f} | {aopc_comp:.4f} | {aopc_suff:.4f} | "
              f"{shown[0]} | {shown[1]} |")
    gaps = np.array([r["score"] - r["baseline_score"] for r in records])
    deltas = np.array([r["convergence_delta"] for r in records])
    relative = np.abs(deltas) / np.maximum(np.abs(gaps), 1e-12)
    print(f"\ncompleteness of integrated gradients ({args.steps} steps): |sum(attributions) - "
          f"(score - baseline_score)| <= 5% of the gap on {np.mean(relative <= 0.05):.1%} of "
          f"the {len(records)} rows (<= 10%: {np.mean(relative <= 0.10):.1%}; median "
          f"{np.median(relative):.1%} of the gap)")
    print("\nreproduce: python bench/bench_explain.py " +
          " ".join(shlex.quote(a) for a in sys.argv[1:]))


if __name__ == "__main__":
    main()
