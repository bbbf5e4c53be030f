"""Where kerasbert finds data that lives outside the package."""

import os
from pathlib import Path

SHARED_DATA_ENV = "KERASBERT_SHARED_DATA"


def shared_data_dir() -> Path:
    """The shared data sets folder: $KERASBERT_SHARED_DATA, else ../shared/data
    beside the repository checkout."""
    if os.environ.get(SHARED_DATA_ENV):
        return Path(os.environ[SHARED_DATA_ENV])
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"
