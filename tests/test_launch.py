"""The launch/ scripts as users run them: real processes, --dry-run where clouds are needed.

(The loopback multi-worker launch really trains: tests/test_distributed_training.py.)
"""

import json
import shlex
import subprocess
from pathlib import Path

import pytest

LAUNCH = Path(__file__).resolve().parent.parent / "launch"


def _run(script, *args):
    return subprocess.run([str(LAUNCH / script), *args], capture_output=True, text=True,
                          timeout=60)


def _tf_configs(stdout):
    configs = []
    for line in stdout.strip().splitlines():
        assignment, command = line.split(" ", 1)
        configs.append((json.loads(shlex.split(assignment)[0].split("=", 1)[1]), command))
    return configs


def test_multi_worker_builds_tf_config_for_each_host():
    hosts = "10.0.0.1:2222,10.0.0.2:2222,10.0.0.3:2222"
    out = _run("multi_worker.sh", f"--workers={hosts}", "--index=2", "--dry-run", "--",
               "--train_data=gs://b/train.tsv", "--output_dir=gs://b/run")
    assert out.returncode == 0, out.stderr
    [(config, command)] = _tf_configs(out.stdout)
    assert config == {"cluster": {"worker": hosts.split(",")},
                      "task": {"type": "worker", "index": 2}}
    assert command.endswith("-m kerasbert.train --train_data=gs://b/train.tsv "
                            "--output_dir=gs://b/run")


def test_multi_worker_local_uses_distinct_free_loopback_ports():
    out = _run("multi_worker.sh", "--local=3", "--dry-run", "--", "--output_dir=x")
    configs = _tf_configs(out.stdout)
    assert [c["task"]["index"] for c, _ in configs] == [0, 1, 2]
    workers = configs[0][0]["cluster"]["worker"]
    assert len(set(workers)) == 3 and all(w.startswith("127.0.0.1:") for w in workers)
    assert all(c["cluster"]["worker"] == workers for c, _ in configs)


@pytest.mark.parametrize("accelerator,tpu_flag,workers", [
    ("v3-8", "--tpu=local", "--worker=0"), ("v4-32", "--tpu=bert", "--worker=all")])
def test_tpu_vm_commands_for_a_host_and_a_pod_slice(accelerator, tpu_flag, workers):
    out = _run("tpu_vm.sh", "--name=bert", "--zone=us-central2-b",
               f"--accelerator={accelerator}", "--dry-run", "--",
               "--train_data=gs://b/train.tsv", "--output_dir=gs://b/run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("python3 -m pip wheel --no-deps")
    assert f"tpu-vm create bert --zone=us-central2-b --accelerator-type={accelerator}" in lines[1]
    assert "tpu-vm scp" in lines[2] and workers in lines[2]
    train = shlex.split(lines[4])
    assert workers in train
    command = shlex.split(train[-1].split("=", 1)[1])
    assert command[:4] == ["JAX_PLATFORMS=cpu", "python3", "-m", "kerasbert.train"]
    assert tpu_flag in command
    assert "--train_data=gs://b/train.tsv" in command
    assert lines[-1].startswith("gcloud compute tpus tpu-vm delete bert")


@pytest.mark.parametrize("script,args,message", [
    ("multi_worker.sh", ["--", "--output_dir=x"], "--workers"),
    ("multi_worker.sh", ["--bogus"], "unknown option --bogus"),
    ("tpu_vm.sh", ["--zone=z"], "--name and --zone are required"),
    ("tpu_vm.sh", ["--name=n", "--zone=z", "--", "--tpu=local"], "do not pass --tpu"),
])
def test_bad_launch_options_are_one_line_errors(script, args, message):
    out = _run(script, *args)
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.splitlines()) == 1


@pytest.mark.parametrize("accelerator,version", [
    ("v3-8", "tpu-ubuntu2204-base"), ("v4-32", "tpu-ubuntu2204-base"),
    ("v5litepod-16", "v2-alpha-tpuv5-lite"), ("v5p-8", "v2-alpha-tpuv5"),
    ("v6e-8", "v2-alpha-tpuv6e")])
def test_tpu_vm_creates_a_published_image_and_installs_the_tpu_build_on_every_host(
        accelerator, version):
    out = _run("tpu_vm.sh", "--name=bert", "--zone=z", f"--accelerator={accelerator}",
               "--dry-run", "--", "--output_dir=gs://b/run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert f"--version={version} " in lines[1] + " "
    install = shlex.split(shlex.split(lines[3])[-1].split("=", 1)[1])
    assert install[:4] == ["pip", "install", "--no-deps", "~/kerasbert-0.1.0-py3-none-any.whl"]
    assert "kerasbert.install" in install
    hosts = "--worker=all" if int(accelerator.rsplit("-", 1)[1]) > 8 else "--worker=0"
    assert hosts in lines[2] and hosts in lines[3] and hosts in lines[4]
    overridden = _run("tpu_vm.sh", "--name=bert", "--zone=z", f"--accelerator={accelerator}",
                      "--version=tpu-vm-tf-2.18.0-pjrt", "--dry-run", "--", "--output_dir=x")
    assert "--version=tpu-vm-tf-2.18.0-pjrt " in overridden.stdout.splitlines()[1] + " "


def test_tpu_vm_refuses_an_accelerator_without_a_known_image():
    out = _run("tpu_vm.sh", "--name=bert", "--zone=z", "--accelerator=v9x-8", "--dry-run")
    assert out.returncode == 2 and "--version" in out.stderr and len(out.stderr.splitlines()) == 1
