"""The plain install (`pip install -e .`, the README's set-up) brings everything the
documented programs need: the test extras must not be what makes them work."""

import configparser
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent

# Runs with every installed top-level module that the plain install does not
# bring made unimportable, as on a machine without the test extras.
PLAIN_INSTALL = r"""
import importlib.abc, json, sys

BLOCKED = set(json.loads(sys.argv[1]))


class PlainInstall(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"No module named {name!r} (not in the plain install)")


sys.meta_path.insert(0, PlainInstall())
import importlib

from kerasbert.tuning.objective import resolve_objective
from kerasbert.tuning.oracles import TUNERS, make_oracle

for program in ("train", "evaluate", "predict", "export", "tune", "pretrain", "customize",
                "convert", "distill"):
    importlib.import_module(f"kerasbert.cli.{program}")
objective = resolve_objective("classification", None)
for tuner in TUNERS:
    make_oracle(tuner, objective, 2, seed=1, time_budget=0, max_epochs=1, hyperband_factor=3,
                max_consecutive_failed_trials=3)
print("ok")
"""


def _plain_install_distributions():
    """The distributions `install_requires` brings, with their own requirements."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    pending = [Requirement(line) for line in config["options"]["install_requires"].splitlines()
               if line.strip()]
    brought = {"kerasbert"}
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        if name in brought:
            continue
        brought.add(name)
        try:
            pending += [Requirement(r) for r in metadata.distribution(name).requires or []]
        except metadata.PackageNotFoundError:
            continue
    return brought


def test_the_plain_install_brings_what_every_program_and_tuner_needs():
    brought = _plain_install_distributions()
    blocked = sorted(module for module, dists in metadata.packages_distributions().items()
                     if not any(canonicalize_name(d) in brought for d in dists))
    assert "pytest" in blocked and "torch" in blocked, "the test extras must be left out"
    out = subprocess.run([sys.executable, "-c", PLAIN_INSTALL, json.dumps(blocked)],
                         capture_output=True, text=True, timeout=300,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
