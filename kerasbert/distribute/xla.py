"""When to compile the training step with XLA (`jit_compile`).

TPUs always run XLA. On GPUs it fuses BERT's element-wise ops and is on by
default. On CPUs it gains nothing measurable, and with several CPU replicas
it fails: the compiled step cannot read a variable mirrored on another CPU
device ("Trying to access resource ... located in device CPU:1").
"""

_SPELLINGS = {"auto": None, "true": True, "false": False}


def parse_jit_compile(jit_compile):
    """Read `jit_compile` as None (auto), True or False; accepts bools and auto/true/false."""
    if isinstance(jit_compile, bool):
        return jit_compile
    key = str(jit_compile).lower()
    if key not in _SPELLINGS:
        raise ValueError(f"jit_compile must be auto, true or false; got {jit_compile!r}")
    return _SPELLINGS[key]


def resolve_jit_compile(jit_compile, device, num_replicas):
    """Whether the training step is XLA-compiled.

    Args:
        jit_compile: "auto", "true", "false" or a bool.
        device: "tpu", "gpu" or "cpu".
        num_replicas: replicas in sync.

    Raises:
        ValueError: for XLA off on TPU, or XLA on with several CPU replicas.
    """
    wanted = parse_jit_compile(jit_compile)
    if device == "tpu":
        if wanted is False:
            raise ValueError("jit_compile=false is impossible on TPU: TPUStrategy always "
                             "compiles with XLA; use --jit_compile=auto")
        return True
    if device == "gpu":
        return wanted is not False
    if wanted and num_replicas > 1:
        raise ValueError(
            f"jit_compile=true with {num_replicas} CPU replicas is not supported: an XLA step "
            "cannot reach variables mirrored on other CPU devices; use --jit_compile=false "
            "(XLA gains nothing on CPU) or a single CPU replica")
    return bool(wanted)
