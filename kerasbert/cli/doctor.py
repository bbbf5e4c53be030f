"""What this machine has for kerasbert, and what to change: `python -m kerasbert.doctor`.

Prints Python, the TensorFlow / Keras / tensorflow-text versions and which
TensorFlow build is installed, the devices TensorFlow sees (TPU cores, GPUs
with memory and compute capability, the CPU), mixed precision and XLA, gs://
support, the model hub (reachable or not, its cache, the presets cached),
then each problem on one line with its fix. Exit code 0 when ready, 1 with
problems. `findings(facts)` is a pure function of what `gather_facts()` reads,
so each misconfiguration is testable without the hardware that shows it.
"""

import os
import sys
import threading

PROBE_TIMEOUT_S = 8.0


def _with_timeout(fn, timeout_s=PROBE_TIMEOUT_S):
    """fn()'s result, the exception it raised, or TimeoutError (daemon thread)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = fn()
        except Exception as err:  # reported as a finding
            outcome["value"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return outcome.get("value", TimeoutError(f"no answer within {timeout_s:g} s"))


def gather_facts():
    """Everything the findings are made from, read from this machine."""
    from kerasbert.install import (detect_environment, installed_distributions,
                                   kerasbert_requirements, read_markers)

    facts = {"python": sys.version.split()[0], "environment": detect_environment(*read_markers()),
             "distributions": installed_distributions(), "requirements": kerasbert_requirements(),
             "jax_platforms": os.environ.get("JAX_PLATFORMS", "")}
    facts.update(_tensorflow_facts(facts["environment"]))
    facts["gcs"] = _gcs_fact()
    facts.update(_hub_facts())
    return facts


def _tensorflow_facts(environment):
    from kerasbert.cli.flags import quiet_tensorflow

    try:
        quiet_tensorflow()
    except ImportError as err:
        return {"tensorflow_error": str(err)}
    import tensorflow as tf

    facts = {"built_with_cuda": tf.test.is_built_with_cuda(), "cpus": len(
        tf.config.list_physical_devices("CPU")), "gpus": [], "tpu_cores": None}
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        facts["gpus"].append({"name": details.get("device_name", gpu.name),
                              "compute_capability": details.get("compute_capability"),
                              "memory_mib": _gpu_memory_mib(len(facts["gpus"]))})
    if environment.endswith("tpu"):
        from kerasbert.distribute.tpu import connect_tpu

        strategy = _with_timeout(lambda: connect_tpu("", timeout_s=30), 40)
        facts["tpu_cores"] = (strategy.num_replicas_in_sync
                              if hasattr(strategy, "num_replicas_in_sync") else 0)
    xla = _with_timeout(lambda: float(tf.function(lambda x: x * 2.0, jit_compile=True)(
        tf.constant(1.0))))
    facts["xla"] = xla == 2.0
    return facts


def _gpu_memory_mib(index):
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return None
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,"
                          "nounits", f"--id={index}"], capture_output=True, text=True)
    return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip().isdigit() \
        else None


def _gcs_fact():
    """"ok", "no-filesystem" (TensorFlow has no gs:// scheme) or "unreachable: …"."""
    import tensorflow as tf

    result = _with_timeout(lambda: tf.io.gfile.exists("gs://cloud-tpu-checkpoints/README"))
    if isinstance(result, tf.errors.UnimplementedError) or "not implemented" in str(result):
        return "no-filesystem"
    if isinstance(result, Exception):
        return f"unreachable: {' '.join(str(result).split())[:120]}"
    return "ok"


def _hub_facts():
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url, scan_cache_dir

    from kerasbert import presets

    cached = []
    try:
        repos = {r.repo_id for r in scan_cache_dir(constants.HF_HUB_CACHE).repos}
    except Exception:  # an empty or missing cache folder
        repos = set()
    from kerasbert.checkpoints.sources import _wheel_dir

    for name, entry in presets.PRESETS.items():
        if entry["source"][len("hf://"):] in repos or _wheel_dir(entry) is not None:
            cached.append(name)
    if constants.HF_HUB_OFFLINE:
        reachable = "offline (HF_HUB_OFFLINE)"
    else:
        repo = presets.PRESETS["bert_tiny_en_uncased"]["source"][len("hf://"):]
        answer = _with_timeout(lambda: get_hf_file_metadata(
            hf_hub_url(repo, "config.json"), timeout=5), 10)
        reachable = ("reachable" if not isinstance(answer, Exception) else
                     f"not reachable ({type(answer).__name__})")
    return {"hub_endpoint": constants.ENDPOINT, "hub_cache": constants.HF_HUB_CACHE,
            "hub": reachable, "presets_cached": sorted(cached)}


def _pinned(requirements, name):
    """The version `name==X` pins among `requirements`, or None."""
    for requirement in requirements:
        if requirement.lower().replace(" ", "").startswith(name + "=="):
            return requirement.split("==", 1)[1].split(";")[0].strip()
    return None


def findings(facts):
    """(lines describing the machine, [(problem, fix)]) from `gather_facts()`'s dict."""
    env, dists = facts["environment"], facts["distributions"]
    requirements = facts.get("requirements", [])
    tf_pin, text_pin = _pinned(requirements, "tensorflow"), _pinned(requirements,
                                                                    "tensorflow-text")
    problems, lines = [], [f"python        {facts['python']}", f"environment   {env}"]
    if tuple(int(x) for x in facts["python"].split(".")[:2]) < (3, 10):
        problems.append((f"Python {facts['python']} is older than kerasbert needs (3.10)",
                         "use Python 3.10 or newer (3.11 is what kerasbert is tested on)"))
    tpu_build = "tensorflow-tpu" in dists
    plain = next((d for d in ("tensorflow", "tensorflow-cpu", "tf-nightly") if d in dists), None)
    version = dists.get("tensorflow-tpu") or (dists.get(plain) if plain else None)
    build = ("TPU build" if tpu_build else
             "CUDA build" if facts.get("built_with_cuda") else "CPU build")
    lines.append(f"tensorflow    {version or 'not installed'}"
                 + (f" ({build})" if version else ""))
    lines.append(f"keras         {dists.get('keras', 'not installed')}; tensorflow-text "
                 f"{dists.get('tensorflow-text', 'not installed')}")
    install = "pip install --no-deps kerasbert && python -m kerasbert.install"
    if version is None or facts.get("tensorflow_error"):
        problems.append(("TensorFlow cannot be imported"
                         + (f" ({facts['tensorflow_error']})" if facts.get("tensorflow_error")
                            else ""), f"run: {install}"))
    elif env.endswith("tpu") and not tpu_build:
        problems.append((f"{plain} ({build}) is installed on a TPU runtime, so TensorFlow "
                         "cannot see the TPU", "run: python -m kerasbert.install (it puts "
                         "the TPU build of TensorFlow with libtpu in its place)"))
    elif env.endswith("tpu") and plain:
        problems.append((f"both tensorflow-tpu and {plain} are installed: the plain build's "
                         "files may shadow the TPU build", "run: python -m kerasbert.install"))
    elif env.endswith("gpu") and not facts.get("built_with_cuda"):
        problems.append((f"{plain} without CUDA is installed on a GPU machine",
                         f"run: pip install 'tensorflow[and-cuda]=={tf_pin or version}'"))
    if version and tf_pin and version != tf_pin:
        problems.append((f"tensorflow {version} is installed; kerasbert is tested with {tf_pin}",
                         "run: python -m kerasbert.install"))
    if text_pin and dists.get("tensorflow-text") != text_pin:
        problems.append((f"tensorflow-text {dists.get('tensorflow-text', 'is missing')}"
                         f"{' is installed' if 'tensorflow-text' in dists else ''}; kerasbert "
                         f"needs {text_pin}", f"run: pip install --no-deps "
                         f"tensorflow-text=={text_pin}"))
    if env.endswith("tpu") and "jax" in dists and facts.get("jax_platforms") != "cpu":
        problems.append(("JAX is installed on this TPU runtime: if anything imports it, it "
                         "takes the TPU away from TensorFlow",
                         "set JAX_PLATFORMS=cpu before starting Python (the notebooks do)"))
    gpus = facts.get("gpus") or []
    devices = [f"CPU x{facts.get('cpus', 1)}"]
    devices += [f"GPU {g['name']} (compute capability {_cc(g)}"
                + (f", {g['memory_mib']:,} MiB" if g.get("memory_mib") else "") + ")"
                for g in gpus]
    if facts.get("tpu_cores"):
        devices.append(f"TPU x{facts['tpu_cores']} cores")
    lines.append(f"devices       {', '.join(devices)}")
    if env.endswith("tpu") and tpu_build and not facts.get("tpu_cores"):
        problems.append(("the TPU build is installed but no TPU core answered",
                         "check that no other process holds the TPU (JAX, another notebook), "
                         "then restart the runtime"))
    if env.endswith("gpu") and facts.get("built_with_cuda") and not gpus:
        problems.append(("a GPU runtime, but TensorFlow sees no GPU",
                         "check nvidia-smi and that the CUDA libraries of tensorflow[and-cuda] "
                         "are installed"))
    lines.append(f"precision     {_precision(env, gpus, facts)}")
    lines.append(f"XLA           {'available' if facts.get('xla') else 'not available'}")
    gcs = facts.get("gcs", "")
    lines.append(f"gs://         {gcs}")
    if gcs == "no-filesystem":
        problem = ("TensorFlow has no gs:// filesystem (optional since TensorFlow 2.20)",
                   "run: pip install tensorflow-io-gcs-filesystem")
        if env.endswith("tpu"):
            problems.append(problem)
        else:
            lines.append(f"              note: {problem[0]}; {problem[1]}")
    lines.append(f"model hub     {facts.get('hub_endpoint')}: {facts.get('hub')}; cache "
                 f"{facts.get('hub_cache')}")
    cached = facts.get("presets_cached") or []
    lines.append(f"presets here  {', '.join(cached) if cached else 'none cached yet'}")
    if not str(facts.get("hub", "")).startswith("reachable") and not cached:
        lines.append("              note: no preset can be downloaded or loaded from the "
                     "cache: pass a local checkpoint directory to --model")
    return lines, problems


def _cc(gpu):
    cc = gpu.get("compute_capability")
    return ".".join(str(x) for x in cc) if isinstance(cc, (tuple, list)) else str(cc)


def _precision(env, gpus, facts):
    if env.endswith("tpu") and facts.get("tpu_cores"):
        return "mixed_bfloat16 (TPU)"
    if gpus:
        cc = gpus[0].get("compute_capability") or (0, 0)
        if tuple(cc) >= (7, 0):
            return "mixed_float16 with loss scaling (tensor cores)"
        return "float32 (this GPU has no tensor cores: mixed precision would not be faster)"
    return "float32 (mixed precision gives no speed-up on a CPU)"


def main(argv=None):
    argv = sys.argv if argv is None else argv
    if any(a in ("-h", "--help") for a in argv[1:]):
        print(__doc__)
        return 0
    lines, problems = findings(gather_facts())
    print("kerasbert doctor")
    for line in lines:
        print("  " + line)
    if not problems:
        print("ready: no problems found")
        return 0
    print(f"{len(problems)} problem(s):")
    for problem, fix in problems:
        print(f"  - {problem}: {fix}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
