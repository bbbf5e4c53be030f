"""Input pipeline throughput on SST-2 train, next to Hugging Face's fast tokenizer.

Measures, in one run:
- examples/s of `classification_dataset` (in-graph tokenization, length
  bucketing, batching), iterated to the end;
- examples/s of the same pipeline in static mode (pad to 128, drop remainder);
- examples/s of `transformers.BertTokenizerFast` batch-encoding the same
  sentences (padding to the longest of each batch, NumPy output);
- the share of padded positions with bucketing and with static padding to 128.

Run:  python bench/bench_pipeline.py [--batch_size 32] [--sequence_length 128]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import tensorflow as tf  # noqa: E402
import transformers  # noqa: E402

from kerasbert.data.delimited import read_delimited  # noqa: E402
from kerasbert.data.label_vocabulary import LabelVocabulary  # noqa: E402
from kerasbert.data.pipeline import classification_dataset  # noqa: E402
from kerasbert.paths import shared_data_dir  # noqa: E402
from kerasbert.checkpoints.sources import vocabulary_file  # noqa: E402
from kerasbert.tokenizers.bert_tokenizer import BertTokenizer  # noqa: E402

PRESET = "all_minilm_l6_v2"


def run_pipeline(examples, tokenizer, vocabulary, batch_size, mode):
    """(seconds, examples seen, padded positions, all positions) for one pass."""
    dataset = classification_dataset(examples, tokenizer, batch_size=batch_size,
                                     label_vocabulary=vocabulary, mode=mode, shuffle=True,
                                     seed=0)
    start = time.perf_counter()
    seen = padded = total = 0
    for features, labels in dataset:
        mask = features["padding_mask"].numpy()
        seen += len(labels)
        padded += int((mask == 0).sum())
        total += mask.size
    return time.perf_counter() - start, seen, padded, total


def run_hf(texts, batch_size, sequence_length):
    """(seconds, padded positions, all positions) of BertTokenizerFast over `texts`."""
    hf = transformers.BertTokenizerFast(vocab=str(vocabulary_file(PRESET)), do_lower_case=True)
    start = time.perf_counter()
    padded = total = 0
    for i in range(0, len(texts), batch_size):
        mask = hf(texts[i:i + batch_size], padding="longest", truncation=True,
                  max_length=sequence_length, return_tensors="np")["attention_mask"]
        padded += int((mask == 0).sum())
        total += mask.size
    return time.perf_counter() - start, padded, total


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--sequence_length", type=int, default=128)
    args = parser.parse_args(argv)
    path = shared_data_dir() / "glue/SST-2/train.tsv"
    examples = read_delimited(path, "sentence", "label")
    vocabulary = LabelVocabulary.from_examples(examples)
    tokenizer = BertTokenizer.from_preset(PRESET, sequence_length=args.sequence_length)
    print(f"command: python bench/bench_pipeline.py --batch_size {args.batch_size} "
          f"--sequence_length {args.sequence_length}")
    print(f"data: {path} ({len(examples)} examples); TF {tf.__version__}, "
          f"transformers {transformers.__version__}, {os.cpu_count()} CPUs")
    print(f"{'what':46s} {'seconds':>8s} {'examples/s':>11s} {'padded share':>13s}")
    for mode in ("bucket", "static"):
        seconds, seen, padded, total = run_pipeline(examples, tokenizer, vocabulary,
                                                    args.batch_size, mode)
        print(f"{'kerasbert pipeline, mode=' + mode:46s} {seconds:8.2f} "
              f"{seen / seconds:11.0f} {padded / total:13.3f}")
    texts = [e.text for e in examples]
    seconds, padded, total = run_hf(texts, args.batch_size, args.sequence_length)
    print(f"{'BertTokenizerFast batch encode (pad longest)':46s} {seconds:8.2f} "
          f"{len(texts) / seconds:11.0f} {padded / total:13.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
