"""Test-wide settings: quiet TensorFlow, the shared data folder, determinism."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from kerasbert.paths import shared_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared_data():
    """The real data sets of ../shared/data. Missing data is a failure, not a
    skip: CI always has it, so a test that needs it must run there."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"shared data not found at {path}; set KERASBERT_SHARED_DATA")
    return path
