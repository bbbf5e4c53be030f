"""Keras `compile()` with no arguments on SST-2: the dev accuracy of the
defaults (the command line's recipe, issue #25). all-MiniLM-L6-v2, the first
`--max_train_examples` training sentences, length 64, batch 32, one epoch,
scored on the whole dev set.

    python bench/bench_compile_defaults.py --max_train_examples=2000
"""

import argparse
import csv
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import kerasbert  # noqa: E402
from kerasbert.paths import shared_data_dir  # noqa: E402


def read(path, limit=None):
    """(sentences, labels) of a GLUE SST-2 TSV (no quote processing)."""
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:limit]
    return [r["sentence"] for r in rows], [int(r["label"]) for r in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=str(shared_data_dir()))
    parser.add_argument("--max_train_examples", type=int, default=2000)
    parser.add_argument("--max_seq_length", type=int, default=64)
    args = parser.parse_args()
    sst2 = os.path.join(args.data_dir, "glue", "SST-2")
    x, y = read(os.path.join(sst2, "train.tsv"), args.max_train_examples)
    dev_x, dev_y = read(os.path.join(sst2, "dev.tsv"))
    keras.utils.set_random_seed(0)
    model = kerasbert.BertClassifier.from_preset("all_minilm_l6_v2", num_classes=2,
                                                 sequence_length=args.max_seq_length)
    model.compile()  # the defaults
    start = time.perf_counter()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(dev_x, dev_y, batch_size=64, return_dict=True,
                              verbose=0)["accuracy"]
    print(json.dumps({"train_examples": len(x), "fit_seconds": round(seconds, 1),
                      "dev_accuracy": round(float(accuracy), 4),
                      "peak_learning_rate": float(model.optimizer.learning_rate.numpy())}))


if __name__ == "__main__":
    main()
