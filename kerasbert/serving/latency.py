"""Serving latency measured the fair way: contenders take turns on each row.

    from kerasbert.serving.latency import litert_runner, measure_latency, savedmodel_runner
    runners = {"savedmodel": savedmodel_runner("export/1"),
               "litert_int8": litert_runner("model_int8.tflite")}
    timings = measure_latency(runners, {"text": dev_texts[:100]}, repeats=3, batch_size=64)
    timings["litert_int8"].batch1_ms, timings["litert_int8"].rows_per_second

A runner is a callable of `{input name: [str]}` (a batch of raw rows) that
returns the deployment's outputs (`{output name: numpy array}`), as the
SavedModel's `serving_default` and a LiteRT file's signature give them.

Batch 1 is the median latency of each row sent alone; the batched figure is
rows per second over `repeats` passes of all rows in batches of
`batch_size`. On each row and each pass every contender runs in turn, so
that the load of a shared machine falls on all of them alike. Used by
`kerasbert.customize --latency_budget_ms` and the serving benchmarks.
"""

import dataclasses
import os
import statistics
import time


@dataclasses.dataclass
class Latency:
    """One contender's timings: median batch-1 milliseconds and batched rows/s
    (None when no batched pass was run)."""

    batch1_ms: float
    rows_per_second: float = None


def savedmodel_runner(path):
    """The `serving_default` signature of a SavedModel (`kerasbert.export`) as a runner."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def run(inputs):
        return {name: value.numpy() for name, value in
                serve(**{k: tf.constant(v) for k, v in inputs.items()}).items()}

    return run


def litert_runner(path, num_threads=2):
    """A `.tflite` file (`kerasbert.export --format=litert`) as a runner, run by the
    LiteRT interpreter with `num_threads` CPU threads."""
    from kerasbert.serving.litert import LiteRTRunner

    return LiteRTRunner(path, num_threads)


def rows(inputs, start, stop):
    """Rows `start:stop` of `{input name: [str]}`."""
    return {name: values[start:stop] for name, values in inputs.items()}


def measure_latency(runners, inputs, repeats=3, batch_size=64, warmup=5):
    """`{name: Latency}` of each runner on the rows of `inputs` (`{input name: [str]}`).

    Args:
        runners: `{name: runner}`, each taking `{input name: [str]}`.
        inputs: the rows to send, e.g. a sample of the user's dev texts.
        repeats: passes over all rows in batches of `batch_size` for the
            rows/s figure (0: batch 1 only).
        warmup: rows each runner sees alone first (tracing, caches), untimed.
    """
    count = len(next(iter(inputs.values())))
    for run in runners.values():
        for i in range(min(warmup, count)):
            run(rows(inputs, i, i + 1))
        if repeats:
            run(rows(inputs, 0, batch_size))
    latencies = {name: [] for name in runners}
    for i in range(count):
        for name, run in runners.items():
            start = time.perf_counter()
            run(rows(inputs, i, i + 1))
            latencies[name].append((time.perf_counter() - start) * 1000)
    seconds = dict.fromkeys(runners, 0.0)
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            for i in range(0, count, batch_size):
                run(rows(inputs, i, i + batch_size))
            seconds[name] += time.perf_counter() - start
    return {name: Latency(statistics.median(latencies[name]),
                          repeats * count / seconds[name] if repeats else None)
            for name in runners}


def file_size(path):
    """Bytes of a file, or of all files under a directory (a SavedModel)."""
    path = str(path)
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(path) for name in names)
