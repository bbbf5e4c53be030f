"""Shared command-line plumbing: quiet start-up and one-line errors with exit code 2."""

import contextlib
import os
import sys

# Re-exported: the errors live in the base module every layer may import, the
# quiet start-up beside them (kerasbert.quiet).
from kerasbert.errors import JobFailed, UsageError  # noqa: F401
from kerasbert.quiet import quiet_tensorflow, silenced_stderr  # noqa: F401
from kerasbert.configs.fields import column, config_ranges, in_range
from kerasbert.configs.customize import CustomizeConfig
from kerasbert.configs.fine_tune import FineTuneConfig
from kerasbert.configs.pretrain import PretrainConfig
from kerasbert.configs.search import SearchConfig


def run_main(main, argv=None):
    """Run `main(argv)`; turn UsageError (and bad-input errors) into a one-line
    message on stderr and exit code 2."""
    try:
        code = main(argv)
    except (UsageError, FileNotFoundError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"{_program_name(main)}: error: {message}", file=sys.stderr)
        sys.exit(2)
    except JobFailed as err:
        print(f"{_program_name(main)}: error: {err}", file=sys.stderr)
        sys.exit(1)
    except Exception as err:  # a full disk met outside kerasbert's own writers (TensorFlow's)
        from kerasbert.outputs import DiskFull, is_disk_full

        if not is_disk_full(err):
            raise
        print(f"{_program_name(main)}: error: {DiskFull.from_error(err)}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code or 0)


def is_chief():
    """Whether this process is the chief of its job (TF_CONFIG), or alone."""
    import json

    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task, cluster = config.get("task") or {}, config.get("cluster") or {}
    return task.get("type") in (None, "chief") or (
        task.get("type") == "worker" and "chief" not in cluster and int(task.get("index", 0)) == 0)


def output_dir_held(directory, program, chief=True):
    """The output directory's lock (`kerasbert.outputs.OutputLock`) for this
    run; nothing for a worker that is not its job's chief (the chief holds it
    for the job)."""
    from kerasbert.outputs import OutputLock

    return OutputLock(directory, program) if chief and directory else contextlib.nullcontext()


def _program_name(main):
    """`kerasbert.train` for kerasbert.cli.train.main."""
    return "kerasbert." + main.__module__.rsplit(".", 1)[-1]


@contextlib.contextmanager
def worker_failures_reported():
    """Turn a lost peer under several workers (TensorFlow's UnavailableError,
    raised once heartbeats stop) into a one-line JobFailed that says how to resume."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError) as err:
        detail = " ".join(str(err.message).split())
        unhealthy = detail.find("The following tasks are unhealthy")
        detail = detail[unhealthy:].split(". ")[0] if unhealthy >= 0 else detail[:200]
        raise JobFailed(f"a worker of this job stopped ({detail}); start the same command "
                        "on every worker again to resume from the last checkpoint") from None


def define_flag(fv, name, kind, default, meta, choices=None):
    """One absl flag in `fv` from a setting's declaration (`kerasbert.configs.fields.setting`):
    its `kind` (int, float, bool, tuple or str) picks the flag type, its
    choices make an enum, its check a validator."""
    from absl import flags

    choices = choices or meta.get("choices")
    define = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool,
              tuple: flags.DEFINE_list}.get(kind, flags.DEFINE_string)
    default = list(default) if kind is tuple and default is not None else default
    if choices:
        flags.DEFINE_enum(name, default, list(choices), meta["help"], flag_values=fv)
    else:
        define(name, default, meta["help"], flag_values=fv)
    if meta.get("check"):
        flags.register_validator(name, meta["check"][0], meta["check"][1], flag_values=fv)


def define_flags_from(config_class, fv, choices=None, skip=()):
    """A flag in `fv` for each setting of `config_class` (a dataclass of
    `kerasbert.configs`) but `skip`: its name, default and help, its choices
    (`choices`: {name: choices} known only here, e.g. the task registry's)."""
    from kerasbert.configs.fields import flag_fields, value_type

    for field in flag_fields(config_class):
        if field.name in skip:
            continue
        default = field.metadata.get("flag_default")
        if default is None:
            kind, default = value_type(config_class, field), field.default
        else:
            kind = type(default)
        define_flag(fv, field.name, kind, default, field.metadata,
                    (choices or {}).get(field.name))


def config_from_flags(config_class, fv, skip=(), **values):
    """The `config_class` of the parsed flags `fv` (each setting's flag text
    parsed by its `parse`, lists as tuples; `skip`: flags left out), with
    `values` set beside them."""
    from kerasbert.configs.fields import flag_fields

    for field in flag_fields(config_class):
        if field.name in fv and field.name not in values and field.name not in skip:
            value = fv[field.name].value
            if isinstance(value, list):
                value = tuple(value)
            parse = field.metadata.get("parse")
            values[field.name] = parse(value) if parse and value is not None else value
    return config_class(**values)


def apply_config_file(fv, path):
    """Set flags from a YAML/JSON file (`--config`), except those given on the command line."""
    import json

    check_input_file(path, "--config")
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    if path.endswith(".json"):
        values = json.loads(text)
    else:
        import yaml

        values = yaml.safe_load(text)
    if not isinstance(values, dict):
        raise UsageError(f"--config file {path} must hold a mapping of flag names to values")
    for name, value in values.items():
        if name not in fv:
            raise UsageError(f"--config file {path}: unknown flag {name!r}")
        if not fv[name].present:
            try:
                fv[name].value = fv[name].parser.parse(value) if isinstance(value, str) else value
            except ValueError as err:
                raise UsageError(f"--config file {path}: {name}: {err}") from None


def parse_column(value):
    """A column flag: a 0-based index when it is all digits, else a header name."""
    return column(value)


def define_reader_flags(fv, header=True, labels=False):
    """The flags of every program that reads the user's files: --encoding,
    (`header`: for programs that read CSV / TSV files) --header, and
    (`labels`: for programs that train a classifier) --labels."""
    from kerasbert.configs import fields

    define_flag(fv, "encoding", str, "utf-8", fields.encoding_setting().metadata)
    if header:
        define_flag(fv, "header", str, "auto", fields.header_setting().metadata)
    if labels:
        define_flag(fv, "labels", tuple, None, fields.labels_setting().metadata)


def parse_argv(fv, argv, doc, positional=True):
    """Parse `argv` (program name first) into the FlagValues `fv`; returns the
    positional arguments. `--help` prints `doc` and the flags and exits 0;
    an unknown or malformed flag, or a positional argument where
    `positional` is False, is a UsageError."""
    from absl import flags

    if any(arg in ("-h", "--help", "--helpfull") for arg in argv[1:]):
        print(doc.rstrip() + "\n\nflags:\n" + fv.get_help())
        sys.exit(0)
    try:
        rest = fv(argv)[1:]
    except flags.Error as err:
        raise UsageError(str(err)) from None
    if rest and not positional:
        raise UsageError(f"unexpected argument {rest[0]!r}")
    return rest


def check_input_files(fv, names, allow_tfds=False):
    """Each flag of `names` that is set must name an existing input file, local or
    gs:// (or, with `allow_tfds`, a `tfds:NAME` source)."""
    for name in names:
        value = fv[name].value
        if value and not (allow_tfds and value.startswith("tfds:")):
            check_input_file(value, f"--{name}")


def check_input_file(path, flag):
    """`path` (of `flag`) must be an existing file, local or gs://, not a folder."""
    from kerasbert.paths import input_file_exists

    if os.path.isdir(path):
        raise UsageError(f"{flag}: {path} is a folder, not a file")
    if not input_file_exists(path):
        raise UsageError(f"{flag}: file {path} does not exist")


def check_input_dir(path, flag):
    """`path` (of `flag`), when set and local, must be an existing folder."""
    if path and "://" not in path and not os.path.isdir(path):
        raise UsageError(f"{flag}: {path} is a file, not a folder" if os.path.exists(path)
                         else f"{flag}: folder {path} does not exist")


def check_output_dir(path, flag="--output_dir"):
    """`path` (of `flag`) must be a folder that can be made: not an existing file,
    nor below one, and writable (gs:// paths are left to the run)."""
    if not path or "://" in path:
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag}: {path} is a file, not a folder")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"{flag}: {parent} is a file, so {path} cannot be a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: no permission to write in {parent}")


# The range of every numeric flag of every program, checked by `check_ranges`
# before any work starts (values from --config files too): the settings of
# the configs (`kerasbert.configs`, declared there) and the flags of the
# programs without one. An interval ("[8, 512]", "(0, 1]"; a bound may name
# another flag: "--max_seq_length"), one bound ("> 0", ">= 1") or "any".
# tests/test_cli_flags.py holds every program's numeric flags to this table.
FLAG_RANGES = {
    **config_ranges(FineTuneConfig, PretrainConfig, SearchConfig, CustomizeConfig),
    # devices (kerasbert.distribute.flags)
    "num_gpus": ">= 0",
    "cpu_replicas": ">= 1",
    "tpu_timeout": ">= 0.1",
    # evaluate, predict (--stride is also held to the model's max_seq_length)
    "stride": ">= 1",
    "batch_size": ">= 1",
    "verbose": "[0, 2]",
    # explain (integrated-gradients steps; the trapezoid rule needs both ends)
    "steps": ">= 2",
    # tune (distributed)
    "oracle_port": "[1, 65535]",
    # distill (--num_layers and --hidden_size: as pretrain's)
    "temperature": "> 0",
    "alpha": "[0, 1]",
    "hidden_loss_weight": ">= 0",
}


def numeric_flags(fv):
    """The names of the integer and float flags of `fv`."""
    from absl import flags

    return [name for name in fv if fv[name].name == name
            and isinstance(fv[name].parser, (flags.IntegerParser, flags.FloatParser))]


def check_ranges(fv):
    """Every numeric flag of `fv` that is set, against FLAG_RANGES: a UsageError
    such as `--batch_size must be >= 1, got 0` for the first one out of range."""
    from absl import flags

    for name in numeric_flags(fv):
        value, spec = fv[name].value, FLAG_RANGES.get(name, "any")
        if value is None:
            continue
        integer = isinstance(fv[name].parser, flags.IntegerParser)
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            raise UsageError(f"--{name} must be {'an integer' if integer else 'a number'}, "
                             f"got {value!r}")
        if not _in_range(value, spec, fv):
            shown = f"in {spec}" if spec[0] in "[(" else spec
            raise UsageError(f"--{name} must be {shown}, got {value}")


def _in_range(value, spec, fv):
    return in_range(value, spec, lambda name: fv[name].value)


def define_stride_flag(fv):
    """--stride of evaluate and predict: long texts classified by windows."""
    from absl import flags

    flags.DEFINE_integer("stride", None, "classify texts longer than the model's "
                         "max_seq_length by windows this many wordpieces apart, averaging "
                         "their class probabilities (classification; default: truncate)",
                         flag_values=fv)


def check_stride_flag(stride, info):
    """--stride against the model's task config (`kerasbert_task.json`)."""
    if stride is None:
        return
    from kerasbert.tasks.registry import listing, task_has, tasks_with

    if not task_has(info["task"], "stride_windows"):
        raise UsageError(f"--stride applies to {listing(tasks_with('stride_windows'), 'or')} "
                         f"models, not {info['task']}")
    if info.get("text_pair"):
        raise UsageError("--stride needs a single-text model (this one reads text pairs)")
    width = info["max_seq_length"] - 2
    if not 0 < stride <= width:
        raise UsageError(f"--stride must be in [1, {width}] (max_seq_length - 2), got {stride}")
