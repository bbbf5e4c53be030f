"""Streaming, sharded preparation of pretraining data with bounded memory.

The text (one file, a glob, or a directory of files; local or gs://) is cut
into input shards of about `shard_size_mb` each: byte ranges over the files
taken in sorted order (a shard may join several small files, or take a slice
of a big one). A shard owns the documents whose first byte lies in its
ranges, and reads them line by line (a document that starts in a shard is
read to its end, past the range). Each shard is prepared on its own, holding
only its documents in memory:

    documents of the shard --(held-out share, without eval_data)--> train / eval
    tokenize_documents -> create_instances (google-research/bert's algorithm,
    `pretraining_data.create_instances`) -> one TFRecord file per shard and split

Next-sentence prediction draws its random segments from another document of
the same shard: the window is the shard (thousands of documents at the
default size); the coin that decides "random" or "actual next" is the same as
in one global pass, so the labels stay 50/50. Shard `k` draws from
`Random(seed + k * SEED_STRIDE)`: shard 0 from `seed` itself, so a corpus of
one shard gives exactly the instances of `create_instances(documents,
seed=seed)` (held-out ones from `seed + 1`), as the in-memory path always did.

Shards are written to a temporary name and renamed when complete, then a
small marker (`{split}-0000k-of-0000n.json`, instance counts) says the shard
is done; `pretraining_data.json` records the settings (vocabulary hash,
casing, max_seq_length, next-sentence and short-sequence settings, dupe
factor, seed, shard size, the input files with their sizes and modification
times), and the vocabulary is written beside it (`vocab.txt`,
`tokenizer_config.json`): a finished preparation is read without its corpus
(`read_prepared`). A run with the same settings skips finished shards (an interrupted
preparation resumes), a run with other settings refuses with one line unless
`overwrite`. Masking is not part of the data: records hold unmasked tokens
and masks are drawn when they are read, so masking settings may change
freely. `num_workers` prepares shards in parallel processes (spawned); the
output does not depend on it.
"""

import concurrent.futures
import dataclasses
import fnmatch
import hashlib
import json
import math
import multiprocessing
import os
import posixpath
from typing import List, Tuple

from kerasbert.data.errors import DataError
from kerasbert.paths import is_remote

SETTINGS_FILE = "pretraining_data.json"
VOCAB_FILE, TOKENIZER_FILE = "vocab.txt", "tokenizer_config.json"  # the data's tokenizer
FORMAT_VERSION = 2
SEED_STRIDE = 1_000_003
DEFAULT_SHARD_SIZE_MB = 8.0
_GLOB_CHARS = "*?["


# -- the input: files, shards, documents ------------------------------------------------------


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def list_input_files(pattern):
    """Sorted text files of `pattern`: a file, a glob (`corpus/*.txt`) or a
    directory (its files, not recursive, hidden ones skipped); local or gs://.

    Raises:
        FileNotFoundError: nothing matches (the message names `pattern`).
    """
    pattern = str(pattern)
    if is_remote(pattern):
        gfile = _gfile()
        if any(c in pattern for c in _GLOB_CHARS):
            files = gfile.glob(pattern)
        elif gfile.isdir(pattern):
            files = [posixpath.join(pattern, n) for n in gfile.listdir(pattern)
                     if not n.endswith("/")]
        else:
            files = [pattern] if gfile.exists(pattern) else []
    elif any(c in pattern for c in _GLOB_CHARS):
        import glob

        files = [f for f in glob.glob(pattern) if os.path.isfile(f)]
    elif os.path.isdir(pattern):
        files = [os.path.join(pattern, n) for n in os.listdir(pattern)
                 if not n.startswith(".") and os.path.isfile(os.path.join(pattern, n))]
    else:
        files = [pattern] if os.path.isfile(pattern) else []
    files = sorted(f for f in files if not fnmatch.fnmatch(os.path.basename(f), ".*"))
    if not files:
        raise FileNotFoundError(f"{pattern}: no such file, folder or files matching it")
    return files


def _size_and_mtime(path):
    if is_remote(path):
        stat = _gfile().stat(path)
        return int(stat.length), int(stat.mtime_nsec)
    stat = os.stat(path)
    return int(stat.st_size), int(stat.st_mtime_ns)


@dataclasses.dataclass(frozen=True)
class InputShard:
    """Byte ranges `(path, start, end)` of the input files; the shard owns the
    documents whose first byte lies in a range."""

    index: int
    ranges: Tuple[Tuple[str, int, int], ...]


def input_fingerprint(files):
    """[(path, size, mtime_ns)] of the input files: what the settings record
    (hashing gigabytes of text on every run would cost as much as preparing)."""
    return [[f, *_size_and_mtime(f)] for f in files]


def plan_shards(fingerprint, shard_size_mb=DEFAULT_SHARD_SIZE_MB):
    """Input shards of about `shard_size_mb` of text over the files of
    `fingerprint` (from `input_fingerprint`), in order: the files' bytes taken
    as one stream cut into equal parts."""
    total = sum(size for _, size, _ in fingerprint)
    if not total:
        files = [path for path, _, _ in fingerprint]
        raise DataError(files[0] if len(files) == 1 else f"{files[0]} and {len(files) - 1} more",
                        "empty file" if len(files) == 1 else "empty files: no text to train on")
    count = max(1, math.ceil(total / (shard_size_mb * 1e6)))
    bounds = [round(total * k / count) for k in range(count + 1)]
    shards, offset = [], 0
    file_spans = []
    for path, size, _ in fingerprint:
        file_spans.append((path, offset, offset + size))
        offset += size
    for k in range(count):
        low, high = bounds[k], bounds[k + 1]
        ranges = tuple((path, max(low, a) - a, min(high, b) - a) for path, a, b in file_spans
                       if max(low, a) < min(high, b))
        shards.append(InputShard(k, ranges))
    return shards


def _open(path):
    return _gfile().GFile(path, "rb") if is_remote(path) else open(path, "rb")


def _line_before_is_blank(f, position, encoding):
    """Whether the line that ends just before `position` (a line start) is
    blank (whitespace only, as `str.strip` sees it); reads backwards from
    there to that line's start."""
    end = position - 1  # the '\n' of the line before
    step, start = 256, end
    while True:
        start = max(0, start - step)
        f.seek(start)
        chunk = f.read(end - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0 or start == 0:
            line = chunk[cut + 1:]
            return not line.decode(encoding, errors="surrogateescape").strip()
        step *= 2


def iter_range_documents(path, start, end, encoding="utf-8"):
    """Yields the documents (lists of stripped sentences) whose first byte lies
    in `[start, end)` of `path`, each read to its end.

    Raises:
        DataError: a line with bytes that are not valid `encoding` (named by
            its line, or by its byte offset when the range starts mid-file).
    """
    with _open(path) as f:
        if start == 0:
            position, previous_blank = 0, True
        else:
            f.seek(start - 1)
            head = f.readline()  # the rest of the line holding byte start - 1
            position = start - 1 + len(head)
            previous_blank = _line_before_is_blank(f, position, encoding)
            f.seek(position)
        document, line_number = [], 1 if start == 0 else None
        skipping = not previous_blank  # inside a document that started before the range
        for raw in f:
            line_start, position = position, position + len(raw)
            if line_start == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            text = raw.decode(encoding, errors="surrogateescape").strip()
            if not text:
                skipping = False
                if document:
                    yield document
                    document = []
            elif not skipping:
                if not document and line_start >= end:
                    return  # the next document is the next shard's
                document.append(_checked(text, encoding, path, line_number, line_start))
            if line_number is not None:
                line_number += 1
        if document:
            yield document


def _checked(text, encoding, path, line_number, offset):
    """`text`, or a DataError naming the line (or byte offset) when it holds
    bytes that did not decode."""
    from kerasbert.data.files import check_decoded

    if line_number is not None:
        return check_decoded(text, path, encoding, line=line_number, field="sentence")
    return check_decoded(text, path, encoding, record=f"at byte {offset}", field="sentence")


def iter_shard_documents(shard, encoding="utf-8"):
    """The documents of an `InputShard`, in file order."""
    for path, start, end in shard.ranges:
        yield from iter_range_documents(path, start, end, encoding)


def hold_out(documents, eval_fraction, where):
    """(train, held-out) documents of a shard: its last `eval_fraction` (at
    least 2), as the in-memory path held out the last of the corpus."""
    held = max(2, round(len(documents) * eval_fraction))
    if len(documents) - held < 2:
        raise ValueError(f"{where} has {len(documents)} documents: too few to hold out {held} "
                         "for evaluation; give eval_data or more documents")
    return documents[:-held], documents[-held:]


def iter_training_sentences(train_data, eval_data=None, eval_fraction=0.05, encoding="utf-8",
                            shard_size_mb=DEFAULT_SHARD_SIZE_MB):
    """Sentences of the documents that preparation trains on (a shard at a
    time in memory): for training a vocabulary on a large corpus."""
    shards = plan_shards(input_fingerprint(list_input_files(train_data)), shard_size_mb)
    for shard in shards:
        documents = list(iter_shard_documents(shard, encoding))
        if not eval_data:
            documents = hold_out(documents, eval_fraction, _describe(shard))[0]
        for document in documents:
            yield from document


def _describe(shard):
    path, start, end = shard.ranges[0]
    more = f" and {len(shard.ranges) - 1} more file(s)" if len(shard.ranges) > 1 else ""
    return f"input shard {shard.index} ({path}, bytes {start}-{end}{more})"


# -- preparing a shard -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PreparationOptions:
    """What a shard's instances depend on (besides its text and the vocabulary)."""

    max_seq_length: int
    next_sentence: bool = True
    short_seq_prob: float = 0.1
    dupe_factor: int = 1
    seed: int = 12345
    eval_fraction: float = 0.05
    encoding: str = "utf-8"
    chinese_words: bool = False  # mark jieba words of Chinese sentences (whole-word masking)


@dataclasses.dataclass(frozen=True)
class ShardTask:
    """One unit of work: an input shard of `split` ("train", or "eval" for an
    eval_data corpus), written into `directory`; `hold_out` puts the shard's
    last documents into an eval file of the same index."""

    directory: str
    split: str
    shard: InputShard
    num_shards: int
    hold_out: bool


def shard_file(directory, split, index, num_shards, suffix=".tfrecord"):
    return posixpath.join(str(directory), f"{split}-{index:05d}-of-{num_shards:05d}{suffix}") \
        if is_remote(directory) else os.path.join(
            str(directory), f"{split}-{index:05d}-of-{num_shards:05d}{suffix}")


def shard_seed(seed, index):
    return seed + index * SEED_STRIDE


def prepare_shard(task, tokenizer_config, options):
    """Write the task's TFRecord file(s) and its done marker; returns the
    marker's contents ({"train": n, "eval": m, "documents": d})."""
    from kerasbert.pretraining.pretraining_data import create_instances, tokenize_documents

    tokenizer = _tokenizer(tokenizer_config)
    documents = list(iter_shard_documents(task.shard, options.encoding))
    splits = {}
    if task.split == "eval":
        splits["eval"] = (documents, 1, shard_seed(options.seed, task.shard.index) + 1)
    else:
        train, held = (hold_out(documents, options.eval_fraction, _describe(task.shard))
                       if task.hold_out and documents else (documents, []))
        splits["train"] = (train, options.dupe_factor, shard_seed(options.seed, task.shard.index))
        if task.hold_out:
            splits["eval"] = (held, 1, shard_seed(options.seed, task.shard.index) + 1)
    counts = {"documents": len(documents)}
    for split, (docs, dupes, seed) in splits.items():
        tokenized = tokenize_documents(docs, tokenizer, chinese_words=options.chinese_words)
        if options.next_sentence and len(tokenized) == 1:
            raise ValueError(f"{_describe(task.shard)} has 1 document ({split}): next-sentence "
                             "prediction needs 2 per shard; raise shard_size_mb or separate "
                             "documents by blank lines")
        instances = create_instances(tokenized, options.max_seq_length, options.next_sentence,
                                     options.short_seq_prob, dupes, seed) if tokenized else []
        path = shard_file(task.directory, split, task.shard.index, task.num_shards)
        write_instance_file(instances, path, options.max_seq_length, tokenizer,
                            options.chinese_words)
        counts[split] = len(instances)
    marker = shard_file(task.directory, task.split, task.shard.index, task.num_shards, ".json")
    _write_text(marker, json.dumps(counts))
    return counts


_TOKENIZERS = {}


def _tokenizer(config):
    """A BertTokenizer from `tokenizer_config` (kept per process: workers
    prepare many shards with one)."""
    key = config["hash"]
    if key not in _TOKENIZERS:
        from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

        _TOKENIZERS.clear()
        _TOKENIZERS[key] = BertTokenizer(
            config["vocabulary"], lowercase=config["lowercase"],
            strip_accents=config["strip_accents"],
            tokenize_chinese_chars=config["tokenize_chinese_chars"])
    return _TOKENIZERS[key]


def tokenizer_config(tokenizer):
    """What a worker needs to rebuild `tokenizer` (plain data, picklable)."""
    vocabulary = tokenizer.get_vocabulary()
    return {"vocabulary": vocabulary, "lowercase": tokenizer.lowercase,
            "strip_accents": tokenizer.strip_accents,
            "tokenize_chinese_chars": tokenizer.tokenize_chinese_chars,
            "hash": vocabulary_hash(vocabulary)}


def vocabulary_hash(vocabulary):
    return hashlib.sha256("\n".join(vocabulary).encode("utf-8")).hexdigest()


def write_instance_file(instances, path, max_seq_length, tokenizer, chinese_words=False):
    """Write `instances` as tf.train.Examples into `path`, through a temporary
    name renamed when complete (a file under the final name is whole);
    `chinese_words` writes their `word_continues` feature."""
    import tensorflow as tf

    from kerasbert.pretraining.pretraining_data import serialize_instance

    partial = f"{path}.partial-{os.getpid()}"
    with tf.io.TFRecordWriter(partial) as writer:
        for instance in instances:
            writer.write(serialize_instance(instance, max_seq_length, tokenizer, chinese_words))
    tf.io.gfile.rename(partial, path, overwrite=True)


def _write_text(path, text):
    import tensorflow as tf

    partial = f"{path}.partial-{os.getpid()}"
    with tf.io.gfile.GFile(partial, "w") as f:
        f.write(text)
    tf.io.gfile.rename(partial, path, overwrite=True)


def _read_json(path):
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


# -- the whole preparation -------------------------------------------------------------------


@dataclasses.dataclass
class PreparedData:
    """The TFRecord shards of a preparation and how many instances each split holds."""

    train_files: List[str]
    eval_files: List[str]
    num_train: int
    num_eval: int


@dataclasses.dataclass
class Plan:
    """Settings and the tasks of a preparation into `directory`."""

    directory: str
    settings: dict
    tasks: List[ShardTask]
    tokenizer_config: dict
    options: PreparationOptions


def make_plan(directory, train_data, tokenizer, max_seq_length, eval_data=None,
              eval_fraction=0.05, next_sentence=True, short_seq_prob=0.1, dupe_factor=1,
              seed=12345, shard_size_mb=DEFAULT_SHARD_SIZE_MB, encoding="utf-8",
              chinese_words=False):
    """The settings and shard tasks of a preparation (lists the input files; reads no text).

    `chinese_words`: mark the jieba words of Chinese sentences for whole-word
    masking (`kerasbert.pretraining.chinese_words`); recorded in the settings
    only when set, so that data prepared without it keeps its settings."""
    if not eval_data and not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in (0, 1) without eval_data, got {eval_fraction}")
    if shard_size_mb <= 0:
        raise ValueError(f"shard_size_mb must be > 0, got {shard_size_mb}")
    directory = str(directory)
    train = input_fingerprint(list_input_files(train_data))
    held = input_fingerprint(list_input_files(eval_data)) if eval_data else None
    config = tokenizer_config(tokenizer)
    options = PreparationOptions(max_seq_length, next_sentence, short_seq_prob, dupe_factor, seed,
                                 eval_fraction, encoding, chinese_words)
    settings = {
        "format_version": FORMAT_VERSION, "train_data": train, "eval_data": held,
        "eval_fraction": None if eval_data else eval_fraction,
        "vocabulary": config["hash"], "lowercase": tokenizer.lowercase,
        "strip_accents": tokenizer.strip_accents, "max_seq_length": max_seq_length,
        "next_sentence": next_sentence, "short_seq_prob": short_seq_prob,
        "dupe_factor": dupe_factor, "seed": seed, "shard_size_mb": shard_size_mb,
        "encoding": encoding}
    if chinese_words:
        settings["chinese_words"] = "jieba"
    train_shards = plan_shards(train, shard_size_mb)
    tasks = [ShardTask(directory, "train", s, len(train_shards), not eval_data)
             for s in train_shards]
    if eval_data:
        eval_shards = plan_shards(held, shard_size_mb)
        tasks += [ShardTask(directory, "eval", s, len(eval_shards), False) for s in eval_shards]
    return Plan(directory, settings, tasks, config, options)


def start(plan, overwrite=False, log=print):
    """Check `plan.directory` against the plan's settings and record them there.

    Returns the finished preparation (PreparedData) when it is all there, else
    the tasks still to do. Raises ValueError (one line) when the directory holds
    data prepared with other settings, or TFRecords without settings, unless
    `overwrite` (which removes them first)."""
    import tensorflow as tf

    directory = plan.directory
    path = os.path.join(directory, SETTINGS_FILE)
    previous = _read_json(path)
    if previous is not None and previous.get("settings") != plan.settings:
        if not overwrite:
            raise ValueError(f"{directory} holds pretraining data prepared with other settings "
                             f"({_differences(previous.get('settings') or {}, plan.settings)}): "
                             "prepare with its settings to reuse or resume it, pass --overwrite "
                             "to prepare afresh there, or choose another directory")
        _remove_data(directory)
        previous = None
    elif previous is None and tf.io.gfile.isdir(directory) and _data_files(directory):
        if not overwrite:
            raise ValueError(f"{directory} holds TFRecord files but no {SETTINGS_FILE}: pass "
                             "--overwrite to prepare afresh there, or choose another directory")
        _remove_data(directory)
    if previous and previous.get("complete") and all(
            tf.io.gfile.exists(f) for f in previous["train_files"] + previous["eval_files"]):
        log(f"reusing the pretraining data in {directory} ({previous['num_train']} train, "
            f"{previous['num_eval']} held-out instances)")
        return PreparedData(previous["train_files"], previous["eval_files"],
                            previous["num_train"], previous["num_eval"])
    tf.io.gfile.makedirs(directory)
    for stale in tf.io.gfile.glob(os.path.join(directory, "*.partial-*")):
        tf.io.gfile.remove(stale)  # left by an interrupted writer
    if previous is None:
        _write_text(path, json.dumps({"settings": plan.settings, "complete": False}, indent=2))
    pending = [t for t in plan.tasks if not _done(t)]
    if len(pending) < len(plan.tasks):
        log(f"resuming: {len(plan.tasks) - len(pending)} of {len(plan.tasks)} shard(s) "
            "already prepared")
    return pending


def _done(task):
    """Whether the task's marker and every file it names are there."""
    import tensorflow as tf

    marker = _read_json(shard_file(task.directory, task.split, task.shard.index, task.num_shards,
                                   ".json"))
    return marker is not None and all(
        tf.io.gfile.exists(shard_file(task.directory, split, task.shard.index, task.num_shards))
        for split in ("train", "eval") if split in marker)


def finish(plan, log=print):
    """Gather the shards' counts and mark the preparation complete."""
    train_files, eval_files, num_train, num_eval = [], [], 0, 0
    for task in plan.tasks:
        counts = _read_json(shard_file(task.directory, task.split, task.shard.index,
                                       task.num_shards, ".json"))
        for split, files in (("train", train_files), ("eval", eval_files)):
            if split in counts:
                files.append(shard_file(task.directory, split, task.shard.index, task.num_shards))
        num_train += counts.get("train", 0)
        num_eval += counts.get("eval", 0)
    record = {"settings": plan.settings, "complete": True, "train_files": train_files,
              "eval_files": eval_files, "num_train": num_train, "num_eval": num_eval}
    _write_tokenizer(plan.directory, plan.tokenizer_config)
    _write_text(os.path.join(plan.directory, SETTINGS_FILE), json.dumps(record, indent=2))
    log(f"prepared {num_train} train and {num_eval} held-out instances in "
        f"{len(train_files)} + {len(eval_files)} shard file(s) in {plan.directory}")
    return PreparedData(train_files, eval_files, num_train, num_eval)


def _write_tokenizer(directory, config):
    """The vocabulary and casing the data was tokenized with, beside it (as
    `BertTokenizer.save_to_dir` writes them), so that a later run can read the
    data without its corpus."""
    _write_text(os.path.join(directory, VOCAB_FILE), "\n".join(config["vocabulary"]) + "\n")
    _write_text(os.path.join(directory, TOKENIZER_FILE), json.dumps({
        "do_lower_case": config["lowercase"], "strip_accents": config["strip_accents"],
        "tokenize_chinese_chars": config["tokenize_chinese_chars"],
        "tokenizer_class": "BertTokenizer"}, indent=2))


def read_prepared(directory):
    """The finished preparation recorded in `directory`, read without its
    corpus: (PreparedData, its settings). A one-line ValueError when there is
    none, it is unfinished, or one of its files is missing."""
    import tensorflow as tf

    record = _read_json(os.path.join(str(directory), SETTINGS_FILE))
    if record is None:
        raise ValueError(f"{directory} holds no prepared pretraining data ({SETTINGS_FILE}): "
                         "give the corpus to prepare it")
    if not record.get("complete"):
        raise ValueError(f"{directory} holds an unfinished preparation: run again with its "
                         "corpus to finish it")
    missing = [f for f in record["train_files"] + record["eval_files"]
               if not tf.io.gfile.exists(f)]
    if missing:
        raise ValueError(f"{directory}: {missing[0]} is missing ({len(missing)} of the prepared "
                         "files): prepare again with the corpus and --overwrite")
    data = PreparedData(record["train_files"], record["eval_files"], record["num_train"],
                        record["num_eval"])
    return data, record["settings"]


def prepare_sharded(directory, train_data, tokenizer, max_seq_length, eval_data=None,
                    eval_fraction=0.05, next_sentence=True, short_seq_prob=0.1, dupe_factor=1,
                    seed=12345, shard_size_mb=DEFAULT_SHARD_SIZE_MB, num_workers=1,
                    encoding="utf-8", overwrite=False, log=print, chinese_words=False):
    """Prepare (or reuse, or resume) the TFRecord shards in `directory`; returns PreparedData.

    `train_data`/`eval_data`: a file, glob or directory of corpus files (one
    sentence per line, blank lines between documents). `num_workers` > 1
    prepares shards in that many spawned processes.
    """
    plan = make_plan(directory, train_data, tokenizer, max_seq_length, eval_data, eval_fraction,
                     next_sentence, short_seq_prob, dupe_factor, seed, shard_size_mb, encoding,
                     chinese_words)
    pending = start(plan, overwrite, log)
    if isinstance(pending, PreparedData):
        return pending
    run_tasks(pending, plan, num_workers, log)
    return finish(plan, log)


def run_tasks(tasks, plan, num_workers=1, log=print):
    """Prepare `tasks`: here when `num_workers` is 1, else in spawned processes."""
    if num_workers <= 1 or len(tasks) <= 1:
        for n, task in enumerate(tasks, 1):
            prepare_shard(task, plan.tokenizer_config, plan.options)
            log(f"prepared shard {n} of {len(tasks)}")
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(min(num_workers, len(tasks)),
                                                mp_context=context) as pool:
        futures = [pool.submit(prepare_shard, task, plan.tokenizer_config, plan.options)
                   for task in tasks]
        for n, future in enumerate(concurrent.futures.as_completed(futures), 1):
            future.result()
            log(f"prepared shard {n} of {len(tasks)}")


def _data_files(directory):
    import tensorflow as tf

    return tf.io.gfile.glob(os.path.join(directory, "*.tfrecord"))


def _remove_data(directory):
    """Remove what a preparation writes into `directory` (and nothing else)."""
    import tensorflow as tf

    for pattern in ("*.tfrecord", "*-of-*.json", "*.partial-*", SETTINGS_FILE, VOCAB_FILE,
                    TOKENIZER_FILE):
        for path in tf.io.gfile.glob(os.path.join(directory, pattern)):
            tf.io.gfile.remove(path)


def _differences(before, now):
    names = sorted(set(before) | set(now))
    parts = []
    for name in names:
        if before.get(name) != now.get(name):
            if name in ("train_data", "eval_data"):
                parts.append(f"{name}: other files, sizes or modification times")
            elif name == "vocabulary":
                parts.append("another vocabulary")
            else:
                parts.append(f"{name}={json.dumps(before.get(name))} there, "
                             f"{json.dumps(now.get(name))} now")
    return "; ".join(parts)
