"""Serving latency of an all-MiniLM-L6-v2 classifier: kerasbert's SavedModel and
LiteRT files against ONNX Runtime fp32 (the same model through Hugging Face).

Builds a classifier run directory on the `all_minilm_l6_v2` preset (length
64, [CLS] pooling, a random 2-class head: latency does not depend on the
weights' values), or takes one (`--model`), then on the first 100 SST-2 dev
sentences (tests/data/glue/SST-2/dev.tsv) measures, in one process:

- batch 1: each sentence alone, the median latency (ms) over the 100;
- batch 64: the 100 sentences in batches of 64 (each padded to its longest
  row), rows per second over `--repeats` passes;

the contenders taking turns on each sentence and each pass, so that the load
of a shared machine falls on all alike.

Contenders: kerasbert's SavedModel (`serving_default`, raw strings in, the
tokenizer in the graph); the LiteRT files (`--format=litert`, float32 and
int8, run by ai-edge-litert with 2 threads); ONNX Runtime fp32 of the
`kerasbert.serving.hf_classifier` export (`torch.onnx.export`), with the
Hugging Face fast tokenizer in Python. Each number is also given as a ratio
to ONNX Runtime's in the same run, and each contender's probabilities are
compared with the SavedModel's (largest difference, label agreement).

    python bench/bench_serving_latency.py --output_dir=runs/bench_serving
"""

import argparse
import csv
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SST2_DEV = os.path.join(ROOT, "tests", "data", "glue", "SST-2", "dev.tsv")


def sentences(limit):
    with open(SST2_DEV, encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [r[0] for r in rows[:limit]]


def build_run(directory, length):
    """A MiniLM classifier run directory with a random head."""
    import keras

    from kerasbert import BertEncoder, BertTokenizer
    from kerasbert.data.label_vocabulary import LabelVocabulary
    from kerasbert.tasks import get_task
    from kerasbert.tasks.keras_task import BertTask
    from kerasbert.tasks.model_directory import save_model_directory

    keras.utils.set_random_seed(0)
    task = get_task("classification", ["0", "1"])
    model = BertTask(BertEncoder.from_preset("all_minilm_l6_v2"), task.num_outputs,
                     task.head, pooling="cls")
    tokenizer = BertTokenizer.from_preset("all_minilm_l6_v2", sequence_length=length)
    save_model_directory(directory, model, task, tokenizer, length, False)
    LabelVocabulary(["0", "1"]).save(directory)


def onnx_runner(hf_dir, onnx_path, length):
    """ONNX Runtime on the Hugging Face export `hf_dir` (written to `onnx_path`
    by `torch.onnx.export` if not there), the HF fast tokenizer in Python; a
    runner of `{"text": [str]}` (`kerasbert.serving.latency`)."""
    import numpy as np
    import onnxruntime
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    if not os.path.exists(onnx_path):
        model = BertForSequenceClassification.from_pretrained(hf_dir).eval()
        example = tokenizer(["a b"], return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        torch.onnx.export(model, tuple(example[n] for n in names), onnx_path, input_names=names,
                          output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
                          opset_version=17, dynamo=False)
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])

    def run(inputs):
        batch = tokenizer(inputs["text"], padding=True, truncation=True, max_length=length,
                          return_tensors="np")
        logits = session.run(None, {k: batch[k].astype(np.int64) for k in
                                    ("input_ids", "attention_mask", "token_type_ids")})[0]
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        return {"probabilities": exp / exp.sum(-1, keepdims=True)}

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--model", help="a classifier run directory (default: build one)")
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contenders", default="savedmodel,litert,litert_int8,onnx")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.makedirs(args.output_dir, exist_ok=True)
    run_dir = args.model or os.path.join(args.output_dir, "model")
    if not args.model and not os.path.exists(os.path.join(run_dir, "kerasbert_task.json")):
        build_run(run_dir, args.max_seq_length)
    from kerasbert.serving.latency import litert_runner, measure_latency, savedmodel_runner

    texts = sentences(args.rows)
    contenders = args.contenders.split(",")
    runners, sizes = {}, {}
    if "savedmodel" in contenders:
        from kerasbert.serving.serving_model import export_saved_model

        saved = os.path.join(args.output_dir, "savedmodel")
        if not os.path.exists(saved):
            export_saved_model(run_dir, saved)
        runners["savedmodel"] = savedmodel_runner(saved)
    for name, quantize in (("litert", "none"), ("litert_int8", "int8")):
        if name in contenders:
            from kerasbert.serving.litert import export_litert

            path = os.path.join(args.output_dir, f"{name}.tflite")
            if not os.path.exists(path):
                export_litert(run_dir, path, quantize)
            sizes[name] = os.path.getsize(path)
            runners[name] = litert_runner(path, num_threads=2)
    if "onnx" in contenders:
        from kerasbert.serving.hf_classifier import export_hf_classifier

        hf_dir = os.path.join(args.output_dir, "hf")
        if not os.path.exists(os.path.join(hf_dir, "config.json")):
            export_hf_classifier(run_dir, hf_dir)
        onnx_path = os.path.join(args.output_dir, "model.onnx")
        runners["onnx"] = onnx_runner(hf_dir, onnx_path, args.max_seq_length)
        sizes["onnx"] = os.path.getsize(onnx_path)
    timings = measure_latency(runners, {"text": texts}, args.repeats, batch_size=64)
    results = {name: {"batch1_ms": t.batch1_ms, "batch64_rows_per_s": t.rows_per_second,
                      "bytes": sizes.get(name)} for name, t in timings.items()}
    if "savedmodel" in runners:  # each contender's probabilities against the SavedModel's
        import numpy as np

        def probabilities(run):
            return np.concatenate([np.asarray(run({"text": texts[i:i + 50]})["probabilities"])
                                   for i in range(0, len(texts), 50)])

        reference = probabilities(runners["savedmodel"])
        for name, run in runners.items():
            got = probabilities(run)
            results[name]["max_probability_difference"] = float(np.abs(got - reference).max())
            results[name]["label_agreement"] = float(np.mean(got.argmax(1) ==
                                                             reference.argmax(1)))
    base = results.get("onnx")
    print(f"{'contender':<12} {'batch-1 ms':>10} {'vs ORT':>7} {'batch-64 rows/s':>16} "
          f"{'vs ORT':>7} {'MB':>6} {'max |dp|':>9} {'agree':>6}")
    for name, r in results.items():
        ratio1 = f"{r['batch1_ms'] / base['batch1_ms']:.2f}x" if base else "-"
        ratio64 = f"{r['batch64_rows_per_s'] / base['batch64_rows_per_s']:.2f}x" if base else "-"
        size = f"{r['bytes'] / 1e6:.1f}" if r["bytes"] else "-"
        print(f"{name:<12} {r['batch1_ms']:>10.2f} {ratio1:>7} {r['batch64_rows_per_s']:>16.1f} "
              f"{ratio64:>7} {size:>6} {r.get('max_probability_difference', 0):>9.2g} "
              f"{r.get('label_agreement', 0):>6.3f}")
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump({"command": " ".join(sys.argv), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
