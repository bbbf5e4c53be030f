"""One install path per environment, chosen by code: `python -m kerasbert.install`.

    pip install --no-deps kerasbert && python -m kerasbert.install   # any runtime
    python -m kerasbert.install --dry-run                              # print the plan

The plain `pip install kerasbert` is right on a CPU machine. Elsewhere pip
alone goes wrong: `tensorflow-text` (and kerasbert) depend on `tensorflow`, so
on a TPU runtime pip puts the CPU/GPU build of TensorFlow over the TPU build
(`tensorflow-tpu` + libtpu) and the TPU disappears; on a GPU the CUDA
libraries come only with `tensorflow[and-cuda]`. This module detects the
environment from the markers each runtime really sets (`detect_environment`,
a pure function of the environment variables and files it is given) and turns
it into pip commands at the versions kerasbert pins (`install_commands`, also
pure). It needs only the standard library: it runs before TensorFlow is there.

Environments: "cpu", "gpu" (NVIDIA), "tpu" (a Cloud TPU VM, Kaggle or Colab
TPU runtime), each also under Colab ("colab-cpu", "colab-gpu", "colab-tpu").
On a TPU the TPU build comes from Google's libtpu release index; tensorflow-text
and kerasbert are then installed with `--no-deps` and their other requirements
listed explicitly, so pip never sees a reason to fetch the plain `tensorflow`.
TensorFlow and JAX cannot share a TPU in one process: `runtime_environment`
gives `JAX_PLATFORMS=cpu` for TPU runtimes (Colab's ship JAX).
"""

import argparse
import os
import re
import subprocess
import sys

LIBTPU_INDEX = "https://storage.googleapis.com/libtpu-tf-releases/index.html"
GCS_FILESYSTEM = "tensorflow-io-gcs-filesystem"  # optional since TensorFlow 2.20
_TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-tpu", "tf-nightly",
                     "tf-nightly-tpu")

# The markers, and where each comes from.
#  - Colab sets COLAB_RELEASE_TAG in every runtime (and the google.colab module).
#  - Colab's legacy TPU runtimes set COLAB_TPU_ADDR (the TPU node's address).
#  - Cloud TPU VMs, Colab's and Kaggle's TPU VM runtimes expose the chips as
#    PCI devices of Google's vendor id 0x1ae0 (/sys/bus/pci/devices/*/vendor),
#    as /dev/accel* (v2-v4) or through /dev/vfio (v5e and later); GKE TPU pods
#    and the TPU VM images set TPU_ACCELERATOR_TYPE; Kaggle sets TPU_NAME.
#  - NVIDIA's kernel driver writes /proc/driver/nvidia/version; Colab GPU
#    runtimes also set COLAB_GPU=1; NVIDIA's PCI vendor id is 0x10de.
GOOGLE_PCI_VENDOR = "0x1ae0"
NVIDIA_PCI_VENDOR = "0x10de"
_TPU_ENV = ("COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE", "TPU_NAME")
_COLAB_ENV = ("COLAB_RELEASE_TAG", "COLAB_GPU", "COLAB_TPU_ADDR")


def read_markers():
    """The markers `detect_environment` reads, from this machine."""
    vendors = set()
    pci = "/sys/bus/pci/devices"
    if os.path.isdir(pci):
        for device in os.listdir(pci):
            try:
                with open(os.path.join(pci, device, "vendor")) as f:
                    vendors.add(f.read().strip().lower())
            except OSError:
                continue
    files = {path for path in ("/dev/accel0", "/proc/driver/nvidia/version")
             if os.path.exists(path)}
    return dict(os.environ), files, vendors


def detect_environment(environ, files=(), pci_vendors=()):
    """"cpu", "gpu" or "tpu", prefixed "colab-" under Colab, from the markers.

    Args:
        environ: environment variables ({name: value}).
        files: the marker paths that exist ("/dev/accel0", "/proc/driver/nvidia/version").
        pci_vendors: PCI vendor ids present ("0x1ae0" Google TPU, "0x10de" NVIDIA).
    """
    colab = any(environ.get(name) for name in _COLAB_ENV)
    if (any(environ.get(name) for name in _TPU_ENV) or "/dev/accel0" in files
            or GOOGLE_PCI_VENDOR in pci_vendors):
        kind = "tpu"
    elif (environ.get("COLAB_GPU") == "1" or "/proc/driver/nvidia/version" in files
          or NVIDIA_PCI_VENDOR in pci_vendors):
        kind = "gpu"
    else:
        kind = "cpu"
    return f"colab-{kind}" if colab else kind


def _name(requirement):
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pin(requirements, name):
    for requirement in requirements:
        if _name(requirement) == name:
            return requirement
    raise KeyError(f"kerasbert's requirements pin no {name}")


def install_commands(kind, requirements, source="kerasbert", python=sys.executable,
                     installed=None):
    """The pip commands (argv lists) that install kerasbert on `kind`.

    Args:
        kind: what `detect_environment` returned.
        requirements: kerasbert's own requirement strings (`importlib.metadata`).
        source: what pip installs for kerasbert itself (a name, wheel, directory
            or git URL); None when it is installed already.
        installed: {distribution name: version} of what is there already: a
            TensorFlow at the pinned version and build is left alone.
    """
    installed = {k.lower(): v for k, v in (installed or {}).items()}
    pip = [python, "-m", "pip", "install"]
    tf_pin = _pin(requirements, "tensorflow")
    version = tf_pin.split("==", 1)[1] if "==" in tf_pin else None
    others = [r for r in requirements if _name(r) not in ("tensorflow", "tensorflow-text")]
    commands = []
    if kind.endswith("tpu"):
        plain = [d for d in _TF_DISTRIBUTIONS if d in installed and d != "tensorflow-tpu"]
        if plain:  # its files would shadow the TPU build's
            commands.append([python, "-m", "pip", "uninstall", "-y", *plain])
        if plain or installed.get("tensorflow-tpu") != version:
            tpu_pin = "tensorflow-tpu" + (f"=={version}" if version else "")
            commands.append(pip + [tpu_pin, "-f", LIBTPU_INDEX, "--force-reinstall"])
        if GCS_FILESYSTEM not in installed:
            commands.append(pip + ["--no-deps", GCS_FILESYSTEM])
        commands.append(pip + ["--no-deps", _pin(requirements, "tensorflow-text")]
                        + ([source] if source else []))
        commands.append(pip + others)
        return commands
    if installed.get("tensorflow") != version:
        extras = "and-cuda,gcs-filesystem" if kind.endswith("gpu") else "gcs-filesystem"
        commands.append(pip + [tf_pin.replace("tensorflow", f"tensorflow[{extras}]", 1)])
    commands.append(pip + ([source] if source else []) + [_pin(requirements, "tensorflow-text")]
                    + others)
    return commands


def runtime_environment(kind):
    """Environment variables the process should set before importing TensorFlow."""
    return {"JAX_PLATFORMS": "cpu"} if kind.endswith("tpu") else {}


def kerasbert_requirements():
    """kerasbert's install_requires, from its installed metadata."""
    from importlib import metadata

    return [r for r in metadata.requires("kerasbert") or [] if "extra ==" not in r]


def installed_distributions():
    from importlib import metadata

    return {d.metadata["Name"].lower(): d.version for d in metadata.distributions()
            if d.metadata["Name"]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="kerasbert.install", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--kind", choices=["cpu", "gpu", "tpu", "colab-cpu", "colab-gpu",
                                           "colab-tpu"], help="override the detection")
    parser.add_argument("--source", default=None,
                        help="also install kerasbert from this wheel, directory or URL")
    args = parser.parse_args(argv)
    kind = args.kind or detect_environment(*read_markers())
    commands = install_commands(kind, kerasbert_requirements(), args.source,
                                installed=installed_distributions())
    print(f"kerasbert.install: environment {kind}; {len(commands)} step(s)", flush=True)
    for command in commands:
        print("  " + " ".join(command), flush=True)
        if not args.dry_run:
            subprocess.run(command, check=True)
    for name, value in runtime_environment(kind).items():
        print(f"set {name}={value} before importing TensorFlow (kerasbert.doctor checks it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
