"""Small and fast on SST-2 (issue 29): a MiniLM teacher, its 2- and 3-layer
students, LiteRT float32 / int8 of the 2-layer student, and beside them the
same student through Hugging Face and ONNX Runtime fp32 / dynamic int8.

Steps, each the command or API a user runs:

1. `python -m kerasbert.train --model=all_minilm_l6_v2 --max_seq_length=64
   --epochs=1 --pooling=cls` on the first 3,000 SST-2 training sentences
   ([CLS] pooling, so that the students convert to Hugging Face);
2. `python -m kerasbert.distill --num_layers=2` and `=3` from it (one
   epoch, learning rate 1e-4, temperature 2, alpha 0.5; `--unlabeled` next
   training sentences without labels);
3. SavedModels of the teacher and students (`export_saved_model`), LiteRT
   float32 and int8 (dynamic range) of the 2-layer student
   (`export_litert`), its Hugging Face export (`export_hf_classifier`) run by
   ONNX Runtime fp32 (`torch.onnx.export`, as bench_serving_latency.py) and
   dynamic int8 (`onnxruntime.quantization.quantize_dynamic`).

Then, in one process: dev accuracy of every contender on all 872 SST-2 dev
sentences (its own outputs, batches of 32); file size; batch-1 latency (the
median over the first `--rows` dev sentences, one at a time) and batch-32
throughput (`--repeats` passes of those rows), the contenders taking turns
on every sentence and every pass (`kerasbert.serving.latency`); and the
issue's goals as ratios. Results go to WORK_DIR/results.json.

    KERASBERT_SHARED_DATA=/work/shared/data python bench/bench_small_fast.py \\
        --work_dir=/tmp/bench_small_fast

Steps whose outputs are already in `--work_dir` are reused.
`--contenders="2-layer LiteRT int8"` (comma-separated names) measures only
those: run one per process to time each alone (ONNX Runtime's threads spin
after each run and slow whatever runs next on a small machine).
"""

import argparse
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_distill import TRAIN_ROWS, run, write_rows  # noqa: E402
from bench_serving_latency import onnx_runner  # noqa: E402

from kerasbert.paths import shared_data_dir  # noqa: E402

LENGTH = 64


def read_dev(path):
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"] for r in rows], [r["label"] for r in rows]


def prepare(args):
    """Teacher and students trained (or found) in the work directory."""
    sst2 = os.path.join(args.data_dir, "glue", "SST-2")
    with open(os.path.join(sst2, "train.tsv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    train = os.path.join(args.work_dir, "train.tsv")
    write_rows(train, rows[:TRAIN_ROWS], ["sentence", "label"])
    dev = os.path.join(sst2, "dev.tsv")
    common = [f"--train_data={train}", f"--eval_data={dev}", "--text_column=sentence",
              "--verbose=0"]
    seconds = {}
    teacher = os.path.join(args.work_dir, "teacher")
    if not os.path.exists(os.path.join(teacher, "metrics.json")):
        seconds["teacher"] = run("kerasbert.train", "--model=all_minilm_l6_v2",
                                 f"--max_seq_length={LENGTH}", "--epochs=1", "--pooling=cls",
                                 f"--output_dir={teacher}", "--overwrite", *common)
    extra = []
    if args.unlabeled:
        unlabeled = os.path.join(args.work_dir, "unlabeled.tsv")
        write_rows(unlabeled, rows[TRAIN_ROWS:TRAIN_ROWS + args.unlabeled], ["sentence"])
        extra = [f"--unlabeled_data={unlabeled}"]
    students = {}
    for layers in (3, 2):
        student = students[layers] = os.path.join(args.work_dir, f"student_{layers}l")
        if not os.path.exists(os.path.join(student, "distill.json")):
            seconds[f"student_{layers}l"] = run(
                "kerasbert.distill", f"--teacher={teacher}", f"--num_layers={layers}",
                f"--output_dir={student}", "--epochs=1", "--learning_rate=1e-4",
                "--temperature=2", "--alpha=0.5", "--overwrite", *extra, *common)
    return dev, teacher, students, {k: round(v, 1) for k, v in seconds.items()}


def deployments(args, teacher, students):
    """{name: (runner, bytes)} of every contender, exported if not there."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from kerasbert.serving.hf_classifier import export_hf_classifier
    from kerasbert.serving.latency import file_size, litert_runner, savedmodel_runner
    from kerasbert.serving.litert import export_litert
    from kerasbert.serving.serving_model import export_saved_model

    out = os.path.join(args.work_dir, "deploy")
    os.makedirs(out, exist_ok=True)
    contenders = {}
    for name, model_dir in (("teacher SavedModel", teacher),
                            ("3-layer SavedModel", students[3]),
                            ("2-layer SavedModel", students[2])):
        path = os.path.join(out, name.split()[0] + "_savedmodel")
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            export_saved_model(model_dir, path)
        contenders[name] = (savedmodel_runner(path), file_size(path))
    for name, quantize in (("2-layer LiteRT float32", "none"), ("2-layer LiteRT int8", "int8")):
        path = os.path.join(out, f"student_2l_{quantize}.tflite")
        if not os.path.exists(path):
            export_litert(students[2], path, quantize)
        contenders[name] = (litert_runner(path, num_threads=2), file_size(path))
    hf_dir = os.path.join(out, "student_2l_hf")
    if not os.path.exists(os.path.join(hf_dir, "config.json")):
        export_hf_classifier(students[2], hf_dir)
    fp32, int8 = os.path.join(out, "student_2l.onnx"), os.path.join(out, "student_2l_int8.onnx")
    contenders["2-layer ORT fp32"] = (onnx_runner(hf_dir, fp32, LENGTH), file_size(fp32))
    if not os.path.exists(int8):
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    contenders["2-layer ORT int8"] = (onnx_runner(hf_dir, int8, LENGTH), file_size(int8))
    return contenders


def accuracy_and_labels(run, texts, gold, labels, batch=32):
    import numpy as np

    probabilities = np.concatenate([np.asarray(run({"text": texts[i:i + batch]})
                                               ["probabilities"])
                                    for i in range(0, len(texts), batch)])
    predicted = [labels[i] for i in probabilities.argmax(1)]
    return float(np.mean([p == g for p, g in zip(predicted, gold)])), predicted


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=str(shared_data_dir()))
    parser.add_argument("--work_dir", default="/tmp/bench_small_fast")
    parser.add_argument("--unlabeled", type=int, default=0,
                        help="training sentences after the first 3,000 given to distill "
                             "without labels")
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contenders", default="",
                        help="comma-separated contender names to measure (default: all), "
                             "e.g. '2-layer LiteRT int8' alone in its own process: a "
                             "contender run beside ONNX Runtime loses the cores to its "
                             "spinning threads")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.makedirs(args.work_dir, exist_ok=True)
    dev, teacher, students, seconds = prepare(args)
    from kerasbert.serving.latency import measure_latency
    from kerasbert.tasks.model_directory import read_task_config

    labels = read_task_config(teacher)["labels"]
    contenders = deployments(args, teacher, students)
    if args.contenders:
        wanted = [name.strip() for name in args.contenders.split(",")]
        unknown = sorted(set(wanted) - set(contenders))
        if unknown:
            parser.error(f"--contenders: unknown {unknown}; known: {sorted(contenders)}")
        contenders = {name: contenders[name] for name in wanted}
    texts, gold = read_dev(dev)
    results, predictions = {}, {}
    for name, (runner, size) in contenders.items():
        accuracy, predictions[name] = accuracy_and_labels(runner, texts, gold, labels)
        results[name] = {"dev_accuracy": accuracy, "bytes": size}
    timings = measure_latency({name: runner for name, (runner, _) in contenders.items()},
                              {"text": texts[:args.rows]}, args.repeats, batch_size=32)
    for name, t in timings.items():
        results[name].update(batch1_ms=t.batch1_ms, batch32_rows_per_s=t.rows_per_second,
                             batch32_ms=32000 / t.rows_per_second)
    reference = predictions.get("2-layer SavedModel")
    for name in results:
        results[name]["agreement_with_2l_savedmodel"] = float("nan") if reference is None else sum(
            a == b for a, b in zip(predictions[name], reference)) / len(reference)

    def ratio(a, b, key):
        """results[a][key] / results[b][key], None unless both were measured."""
        if a in results and b in results:
            return results[a][key] / results[b][key]
        return None

    ratios = {
        "2-layer accuracy / teacher": ratio("2-layer SavedModel", "teacher SavedModel",
                                            "dev_accuracy"),
        "3-layer accuracy / teacher": ratio("3-layer SavedModel", "teacher SavedModel",
                                            "dev_accuracy"),
        "teacher SavedModel batch-1 ms / LiteRT int8's": ratio(
            "teacher SavedModel", "2-layer LiteRT int8", "batch1_ms"),
        "LiteRT int8 batch-1 rows/s / ORT int8's": ratio(
            "2-layer ORT int8", "2-layer LiteRT int8", "batch1_ms"),
        "LiteRT int8 size / LiteRT float32's": ratio("2-layer LiteRT int8",
                                                     "2-layer LiteRT float32", "bytes"),
        "ORT int8 size / ORT fp32's": ratio("2-layer ORT int8", "2-layer ORT fp32", "bytes"),
    }
    if "2-layer LiteRT int8" in results and "2-layer SavedModel" in results:
        ratios["LiteRT int8 accuracy - 2-layer SavedModel (points)"] = 100 * (
            results["2-layer LiteRT int8"]["dev_accuracy"]
            - results["2-layer SavedModel"]["dev_accuracy"])
    ratios = {name: value for name, value in ratios.items() if value is not None}
    print("| contender | dev accuracy | MB | batch-1 ms | batch-32 ms | batch-32 rows/s "
          "| agrees with 2-layer SavedModel |\n|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['dev_accuracy']:.4f} | {r['bytes'] / 1e6:.1f} | "
              f"{r['batch1_ms']:.2f} | {r['batch32_ms']:.1f} | {r['batch32_rows_per_s']:.0f} | "
              f"{r['agreement_with_2l_savedmodel']:.3f} |")
    for name, value in ratios.items():
        print(f"- {name}: {value:.3f}")
    with open(os.path.join(args.work_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"command": " ".join(sys.argv), "seconds": seconds, "results": results,
                   "ratios": ratios}, f, indent=2)


if __name__ == "__main__":
    main()
