"""Keras `fit` of `kerasbert.BertClassifier` against the package's own trainer
(`kerasbert.train`'s `fine_tune`) on the same SST-2 sentences and recipe:
examples/s of the training steps and dev accuracy, as a ratio in one run.

Both start from the same preset, train one epoch of `--max_train_examples`
SST-2 sentences at batch 32 with AdamW, 10% warm-up then linear decay, and
score the whole dev set (872 sentences). Each runs in its own process, one
after the other. The Keras side times `model.fit` (tokenization runs inside
its tf.data pipeline, in the timed loop); the trainer's side reports the
seconds of its train steps (its input is tokenized before).

    python bench/bench_keras_fit.py --max_train_examples=2000 --max_seq_length=64
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

KERAS_RUN = """
import json, sys, time
import keras, kerasbert
args = json.load(open(sys.argv[1]))
keras.utils.set_random_seed(0 if args["seed"] is None else args["seed"])
model = kerasbert.BertClassifier.from_preset(args["model"], num_classes=2,
                                             sequence_length=args["max_seq_length"])
model.compile(learning_rate=args["learning_rate"])
start = time.perf_counter()
model.fit(args["train_texts"], args["train_labels"], batch_size=args["batch_size"], epochs=1,
          verbose=0)
seconds = time.perf_counter() - start
accuracy = model.evaluate(args["dev_texts"], args["dev_labels"], batch_size=64,
                          return_dict=True, verbose=0)["accuracy"]
print(json.dumps({"seconds": seconds, "accuracy": accuracy}))
"""


def read_tsv(path, limit=None):
    with open(path, encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    rows = rows[:limit] if limit else rows
    return [r[0] for r in rows], [int(r[1]) for r in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=os.environ.get(
        "KERASBERT_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                              "data")))
    parser.add_argument("--model", default="all_minilm_l6_v2")
    parser.add_argument("--max_train_examples", type=int, default=2000)
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=None,
                        help="both sides' seed (the head's initialisation, the batch order); "
                             "default: 0 for Keras, the trainer's own default (42)")
    parser.add_argument("--batch_mode", default="bucket",
                        help="the trainer's batching: bucket (its default: batches of similar "
                             "lengths, padded to their longest) or static (padded to "
                             "max_seq_length, as the Keras preprocessor pads)")
    args = parser.parse_args()

    sst2 = os.path.join(args.data_dir, "glue", "SST-2")
    train_texts, train_labels = read_tsv(os.path.join(sst2, "train.tsv"), args.max_train_examples)
    dev_texts, dev_labels = read_tsv(os.path.join(sst2, "dev.tsv"))
    work = tempfile.mkdtemp(prefix="bench_keras_fit_")
    train_file = os.path.join(work, "train.tsv")
    with open(train_file, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        f.writelines(f"{t}\t{y}\n" for t, y in zip(train_texts, train_labels))

    payload = dict(model=args.model, max_seq_length=args.max_seq_length,
                   batch_size=args.batch_size, learning_rate=args.learning_rate,
                   seed=args.seed, train_texts=train_texts, train_labels=train_labels,
                   dev_texts=dev_texts, dev_labels=dev_labels)
    payload_file = os.path.join(work, "payload.json")
    with open(payload_file, "w", encoding="utf-8") as f:
        json.dump(payload, f)
    out = subprocess.run([sys.executable, "-c", KERAS_RUN, payload_file],
                         capture_output=True, text=True, check=True)
    keras_result = json.loads(out.stdout.strip().splitlines()[-1])

    output_dir = os.path.join(work, "trainer")
    command = [sys.executable, "-m", "kerasbert.train", "--task=classification",
               f"--train_data={train_file}", f"--eval_data={os.path.join(sst2, 'dev.tsv')}",
               "--text_column=sentence", f"--model={args.model}", f"--output_dir={output_dir}",
               "--epochs=1", f"--batch_size={args.batch_size}",
               f"--max_seq_length={args.max_seq_length}",
               f"--learning_rate={args.learning_rate}", f"--batch_mode={args.batch_mode}",
               "--verbose=0"] + ([] if args.seed is None else [f"--seed={args.seed}"])
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    with open(os.path.join(output_dir, "history.json")) as f:
        history = json.load(f)
    trainer_seconds = history[-1]["train_seconds"]
    with open(os.path.join(output_dir, "metrics.json")) as f:
        trainer_accuracy = json.load(f)["accuracy"]

    n = len(train_texts)
    keras_rate, trainer_rate = n / keras_result["seconds"], n / trainer_seconds
    print(f"train examples {n}, max_seq_length {args.max_seq_length}, batch {args.batch_size}, "
          f"model {args.model}")
    print(f"keras fit      : {keras_rate:7.1f} examples/s  dev accuracy "
          f"{keras_result['accuracy']:.4f}")
    print(f"kerasbert.train ({args.batch_mode}): {trainer_rate:7.1f} examples/s  dev accuracy "
          f"{trainer_accuracy:.4f}"
          f"  (whole program {wall:.0f} s)")
    print(f"ratio keras/trainer examples/s: {keras_rate / trainer_rate:.2f}")


if __name__ == "__main__":
    main()
