"""Installs that work where users train (#18): the environment detection and the
install commands as pure functions for every runtime (simulated by the markers
each runtime really sets), `kerasbert.doctor` on this machine and on simulated
misconfigurations, and the notebooks' install cell run for real into a fresh
environment beside this one."""

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

from kerasbert.cli import doctor
from kerasbert.install import (LIBTPU_INDEX, detect_environment, install_commands,
                               kerasbert_requirements, read_markers, runtime_environment)

REPO_ROOT = Path(__file__).resolve().parent.parent
COLAB = {"COLAB_RELEASE_TAG": "release-colab_20261101-060000_RC00"}


@pytest.mark.parametrize("environ,files,vendors,kind", [
    ({}, (), (), "cpu"),
    ({"HOME": "/root"}, (), ("0x8086",), "cpu"),
    (COLAB, (), (), "colab-cpu"),
    ({**COLAB, "COLAB_GPU": "1"}, (), ("0x10de",), "colab-gpu"),
    ({**COLAB, "COLAB_TPU_ADDR": "10.0.0.2:8470"}, (), (), "colab-tpu"),  # TPU node runtime
    (COLAB, ("/dev/accel0",), ("0x1ae0",), "colab-tpu"),  # TPU VM runtime (v2-8)
    ({}, ("/dev/accel0",), ("0x1ae0",), "tpu"),  # Cloud TPU VM v2-v4
    ({}, (), ("0x1ae0",), "tpu"),  # v5e / v6e: chips behind /dev/vfio
    ({"TPU_ACCELERATOR_TYPE": "v5litepod-8"}, (), (), "tpu"),  # GKE TPU node
    ({"KAGGLE_KERNEL_RUN_TYPE": "Interactive", "TPU_NAME": "local"}, (), (), "tpu"),
    ({}, ("/proc/driver/nvidia/version",), ("0x10de",), "gpu"),
])
def test_environment_is_detected_from_the_markers_each_runtime_sets(environ, files, vendors,
                                                                      kind):
    assert detect_environment(environ, files, vendors) == kind


def _this_machine():
    """What this machine is, read apart from kerasbert.install's markers: a TPU
    where TensorFlow or /dev lists one, a GPU where TensorFlow lists one or the
    NVIDIA driver's device node is there, else a CPU; "colab-" under Colab."""
    import glob

    import tensorflow as tf

    if tf.config.list_physical_devices("TPU") or glob.glob("/dev/accel*"):
        kind = "tpu"
    elif tf.config.list_physical_devices("GPU") or os.path.exists("/dev/nvidiactl"):
        kind = "gpu"
    else:
        kind = "cpu"
    return f"colab-{kind}" if os.environ.get("COLAB_RELEASE_TAG") else kind


def test_this_machine_is_detected_as_what_it_is():
    assert detect_environment(*read_markers()) == _this_machine()


def _names(command):
    return [a.split("==")[0].split("[")[0] for a in command if not a.startswith("-")]


def test_install_commands_for_each_environment():
    requirements = kerasbert_requirements()
    tf_pin = next(r for r in requirements if r.startswith("tensorflow=="))
    text_pin = next(r for r in requirements if r.startswith("tensorflow-text=="))
    version = tf_pin.split("==")[1]
    python = "python3"

    cpu = install_commands("cpu", requirements, "kerasbert", python, installed={})
    assert cpu[0] == [python, "-m", "pip", "install", f"tensorflow[gcs-filesystem]=={version}"]
    assert cpu[1][4:6] == ["kerasbert", text_pin]
    gpu = install_commands("colab-gpu", requirements, "kerasbert", python, installed={})
    assert gpu[0][-1] == f"tensorflow[and-cuda,gcs-filesystem]=={version}"

    # A TPU runtime that came with the plain build (or where pip put it).
    tpu = install_commands("colab-tpu", requirements, "kerasbert", python,
                           installed={"tensorflow": "2.18.0", "jax": "0.6.0"})
    assert tpu[0] == [python, "-m", "pip", "uninstall", "-y", "tensorflow"]
    assert tpu[1] == [python, "-m", "pip", "install", f"tensorflow-tpu=={version}", "-f",
                      LIBTPU_INDEX, "--force-reinstall"]
    assert tpu[2][-2:] == ["--no-deps", "tensorflow-io-gcs-filesystem"]
    assert tpu[3][4:] == ["--no-deps", text_pin, "kerasbert"]
    rest = _names(tpu[4][4:])
    assert rest and not {"tensorflow", "tensorflow-text", "tensorflow-tpu"} & set(rest)
    # Nothing after the TPU build may bring the plain one: every command that installs a
    # package depending on `tensorflow` does so with --no-deps, and none names it.
    for command in tpu[2:]:
        assert "tensorflow" not in _names(command[4:])
    assert runtime_environment("colab-tpu") == {"JAX_PLATFORMS": "cpu"}
    assert runtime_environment("gpu") == {}

    # Already right: TensorFlow is left alone.
    ready_tpu = install_commands("tpu", requirements, None, python,
                                 installed={"tensorflow-tpu": version,
                                            "tensorflow-io-gcs-filesystem": "0.37.1"})
    assert [c[3] for c in ready_tpu] == ["install", "install"]
    assert all("tensorflow-tpu" not in " ".join(c) for c in ready_tpu)
    ready_cpu = install_commands("cpu", requirements, None, python,
                                 installed={"tensorflow": version})
    assert len(ready_cpu) == 1 and "tensorflow" not in _names(ready_cpu[0][4:])


@pytest.fixture(scope="module")
def machine_facts():
    return doctor.gather_facts()


def test_doctor_reports_this_machine_as_ready(machine_facts, capsys, monkeypatch):
    import tensorflow as tf

    lines, problems = doctor.findings(machine_facts)
    assert problems == []
    text = "\n".join(lines)
    assert f"environment   {_this_machine()}" in lines
    # The devices TensorFlow lists here: its CPUs, then one entry per GPU.
    devices = next(line for line in lines if line.startswith("devices       "))
    cpus = len(tf.config.list_physical_devices("CPU"))
    assert devices.split(", ")[0] == f"devices       CPU x{cpus}"
    assert devices.count(", GPU ") == len(tf.config.list_physical_devices("GPU"))
    assert f"tensorflow    {tf.__version__}" in text and "XLA           available" in text
    assert f"model hub     {os.environ['HF_ENDPOINT']}: reachable" in text  # the stand-in
    monkeypatch.setattr(doctor, "gather_facts", lambda: machine_facts)
    assert doctor.main(["kerasbert.doctor"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("ready: no problems found")


@pytest.mark.parametrize("change,problem,fix", [
    ({"environment": "colab-tpu"}, "tensorflow (CUDA build) is installed on a TPU runtime",
     "python -m kerasbert.install"),
    ({"environment": "gpu", "built_with_cuda": False}, "without CUDA is installed on a GPU",
     "tensorflow[and-cuda]==2.21.0"),
    ({"distributions": {"tensorflow-text": "2.20.0"}}, "tensorflow-text 2.20.0 is installed",
     "pip install --no-deps tensorflow-text==2.21.1"),
    ({"distributions": {"tensorflow": "2.19.0"}}, "tensorflow 2.19.0 is installed",
     "python -m kerasbert.install"),
    ({"environment": "tpu", "distributions": {"tensorflow": None, "tensorflow-tpu": "2.21.0",
                                              "jax": "0.6.0"}, "tpu_cores": 8,
      "jax_platforms": ""}, "JAX is installed on this TPU runtime", "JAX_PLATFORMS=cpu"),
    ({"environment": "tpu", "distributions": {"tensorflow": None, "tensorflow-tpu": "2.21.0"},
      "tpu_cores": 8, "gcs": "no-filesystem"}, "no gs:// filesystem",
     "pip install tensorflow-io-gcs-filesystem"),
    ({"environment": "tpu", "distributions": {"tensorflow": None, "tensorflow-tpu": "2.21.0"},
      "tpu_cores": 0}, "no TPU core answered", "restart the runtime"),
])
def test_doctor_names_each_misconfiguration_with_its_fix(machine_facts, change, problem, fix):
    facts = json.loads(json.dumps(machine_facts))
    for key, value in change.items():
        if key == "distributions":
            for name, version in value.items():
                if version is None:
                    facts["distributions"].pop(name, None)
                else:
                    facts["distributions"][name] = version
        else:
            facts[key] = value
    _, problems = doctor.findings(facts)
    assert len(problems) == 1, problems
    assert problem in problems[0][0] and fix in problems[0][1]


def test_notebook_install_cell_installs_the_checkout_without_touching_tensorflow(tmp_path):
    """The first code cell of a notebook, with INSTALL on and KERASBERT_SOURCE this
    checkout, run by the Python of a fresh environment that sees this one's packages
    (as a Colab runtime sees its preinstalled TensorFlow)."""
    import tensorflow as tf

    notebook = json.loads((REPO_ROOT / "colab" / "finetune_tpu.ipynb").read_text())
    cell = next("".join(c["source"]) for c in notebook["cells"]
                if c["cell_type"] == "code" and "if INSTALL:" in "".join(c["source"]))
    tf_init = Path(tf.__file__)
    before = tf_init.stat().st_mtime_ns
    env_dir = tmp_path / "runtime"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    python = env_dir / "bin" / "python"
    script = tmp_path / "cell.py"
    script.write_text(f"INSTALL = True\nKERASBERT_SOURCE = {str(REPO_ROOT)!r}\n" + cell
                      + "\nimport kerasbert, tensorflow\n"
                      "print('kerasbert from', kerasbert.__file__)\n"
                      "print('tensorflow from', tensorflow.__file__)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(python), str(script)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "kerasbert.install: environment cpu" in out.stdout
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    assert f"kerasbert from {site}" in out.stdout
    assert f"tensorflow from {tf_init}" in out.stdout
    assert not (site / "tensorflow").exists()
    assert tf_init.stat().st_mtime_ns == before
