"""Counting the examples an evaluation scored: `counting_examples()` yields a
counter that every `count_examples(n)` inside the block (the prediction
functions call it) adds to, in this thread only."""

import contextlib
import threading

_COUNTERS = threading.local()


class ExampleCount:
    """How many examples the predictions inside `counting_examples` scored."""

    def __init__(self):
        self.count = 0


@contextlib.contextmanager
def counting_examples():
    """Yield an `ExampleCount` that every `predict_logits` / `predict_tagging`
    call inside the block adds its examples to (this thread only)."""
    counter = ExampleCount()
    stack = _COUNTERS.__dict__.setdefault("stack", [])
    stack.append(counter)
    try:
        yield counter
    finally:
        stack.remove(counter)


def count_examples(examples):
    """Add `examples` to every counter open in this thread."""
    for counter in getattr(_COUNTERS, "stack", ()):
        counter.count += int(examples)
