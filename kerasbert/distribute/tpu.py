"""Connect to a TPU (Cloud TPU by name, TPU VM, Colab, or a grpc:// worker), failing fast.

Without a TPU, TensorFlow either fails late and obscurely (`TPUStrategy` raises
an IndexError on "local") or waits forever (a grpc:// address where nothing
answers). `connect_tpu` turns every such case into one `TPUNotFoundError`
that names what was tried, within seconds when nothing listens.
"""

import os
import socket
import threading
import urllib.parse

import tensorflow as tf

from kerasbert.errors import UsageError

_PROBE_TIMEOUT_S = 5.0


class TPUNotFoundError(UsageError):
    """No TPU answered where `--tpu` points (a usage error: exit code 2, one line
    that ends by pointing to `python -m kerasbert.doctor`)."""

    def __init__(self, message):
        super().__init__(f"{message}; run `python -m kerasbert.doctor` to see what this "
                         "machine has and what to change")


def tpu_address(tpu):
    """What `--tpu` names, in the form `TPUClusterResolver(tpu=...)` takes.

    Args:
        tpu: a Cloud TPU name, "local" (a TPU VM), "grpc://HOST:PORT", or
            "" / "colab" for Colab's TPU: `grpc://$COLAB_TPU_ADDR` on the
            older runtimes that set it, "local" on TPU-VM runtimes.

    Returns:
        (address, origin): the resolver argument and a few words on where it
        came from, for error messages.
    """
    if tpu in ("", "colab"):
        colab = os.environ.get("COLAB_TPU_ADDR")
        if colab:
            return f"grpc://{colab}", "COLAB_TPU_ADDR"
        return "local", "Colab without COLAB_TPU_ADDR"
    return tpu, "--tpu"


def connect_tpu(tpu, timeout_s=300.0):
    """Connect to and initialise the TPU `tpu` names; returns a `tf.distribute.TPUStrategy`.

    A grpc:// address is first probed with a plain TCP connect (5 s), and the
    resolver and cluster connection run under a `timeout_s` deadline, since
    TensorFlow blocks without one when the peer never answers.

    Raises:
        TPUNotFoundError: with one line naming the address tried and why it failed.
    """
    address, origin = tpu_address(tpu)
    tried = f"--tpu={tpu}" + (f" ({address}, from {origin})" if origin != "--tpu" else "")
    if address.startswith("grpc://"):
        _probe(address, tried, min(_PROBE_TIMEOUT_S, timeout_s))
    resolver = _with_deadline(lambda: _connect(address), timeout_s, tried)
    try:
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except Exception as err:  # TF reports a missing TPU as NotFoundError, IndexError, ...
        raise TPUNotFoundError(f"{tried}: no TPU found ({_one_line(err)})") from None


def _connect(address):
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    return resolver


def _probe(address, tried, timeout_s):
    """TCP-connect to HOST:PORT of a grpc:// address, so that an empty port fails at once."""
    parts = urllib.parse.urlsplit(address)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as err:
        raise TPUNotFoundError(f"{tried}: bad address ({err})") from None
    if not host or port is None:
        raise TPUNotFoundError(f"{tried}: expected grpc://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        raise TPUNotFoundError(
            f"{tried}: nothing accepts connections at {host}:{port} ({_one_line(err)})") from None


def _with_deadline(fn, timeout_s, tried):
    """Run `fn()` in a daemon thread; its result, or TPUNotFoundError after `timeout_s`."""
    outcome = {}

    def target():
        try:
            outcome["value"] = fn()
        except Exception as err:  # reported below, in the caller's thread
            outcome["error"] = err

    thread = threading.Thread(target=target, name="kerasbert-tpu-connect", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TPUNotFoundError(f"{tried}: no TPU answered within {timeout_s:g} s")
    if "error" in outcome:
        raise TPUNotFoundError(f"{tried}: no TPU found ({_one_line(outcome['error'])})")
    return outcome["value"]


def _one_line(err, limit=160):
    """`TypeName: first sentence of the message`, cut to `limit` characters."""
    text = str(err).strip().split("\n")[0].split(". ")[0]
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."
