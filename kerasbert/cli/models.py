"""`--model` of every program: fetched (or found in the hub cache) before any
work starts, so that weights that cannot be had are a one-line error (exit 2)
rather than a traceback after the data is read — and never a random encoder
unless `--random_init` asks for one."""


def fetch_model(name, random_init=False):
    """Resolve `name` (preset, hf:// handle, gs:// URL or directory), downloading
    what it needs; returns the words for the start-up line."""
    from huggingface_hub.utils import logging as hub_logging

    from kerasbert.checkpoints.sources import describe, resolve

    hub_logging.set_verbosity_error()  # its retry notes; the one-line error says it all
    resolve(name, weights=not random_init)
    if random_init:
        return f"encoder: random initialisation of {describe(name)}'s shape (--random_init)"
    return f"encoder: {describe(name)}"
