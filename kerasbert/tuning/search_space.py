"""What a search tunes: entries over train flags, a default space per task, the user's YAML.

A search space maps flags of `python -m kerasbert.train` to how each is sampled:

    learning_rate: {type: float, min: 1.0e-5, max: 1.0e-4, sampling: log}
    batch_size: {type: choice, values: [16, 32]}
    epochs: {type: int, min: 2, max: 4}
    warmup_ratio: [0.0, 0.06, 0.1]          # a plain list is a choice
    layer_decay:                            # conditional: only tuned when batch_size is 32
      type: float
      min: 0.8
      max: 1.0
      when: {batch_size: [32]}

Entry keys: `type` (choice, int, float); `values` (choice); `min`, `max`, `step`,
`sampling` (linear, log, reverse_log) for int and float; `default`; `when`
(parent choice entry, declared above, -> the values that activate this one).
Every value is checked with the train flag's own parser, so a space never
samples what `kerasbert.train` would refuse. Errors name the file, the line
and the entry.

Flags not in the space keep the value given on the command line. The default
spaces leave out `max_seq_length` (it trades accuracy for speed: the user's
choice) and `seed` (use `--executions_per_trial` for seed variance instead).
"""

import contextlib
import dataclasses
import difflib
import os
from typing import Any

TYPES = ("choice", "int", "float")
SAMPLINGS = ("linear", "log", "reverse_log")
_KEYS = {"choice": {"type", "values", "default", "when"},
         "int": {"type", "min", "max", "step", "sampling", "default", "when"},
         "float": {"type", "min", "max", "step", "sampling", "default", "when"}}
BUILTIN = ("default", "bert_paper")

_BERT_PAPER = {
    "learning_rate": {"type": "choice", "values": [5e-5, 3e-5, 2e-5]},
    "batch_size": {"type": "choice", "values": [16, 32]},
    "epochs": {"type": "choice", "values": [2, 3, 4]},
}


class SearchSpaceError(ValueError):
    """A search space that cannot be sampled; the message names file, line and entry."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One tuned flag.

    Attributes:
        name: the train flag it sets.
        type: "choice", "int" or "float".
        values: the choices (choice only).
        min, max, step, sampling: the range (int and float only).
        default: the value tried first (KerasTuner's default), or None.
        when: ((parent name, (parent values...)), ...): active only when every
            parent choice takes one of its values.
    """

    name: str
    type: str
    values: tuple = ()
    min: Any = None
    max: Any = None
    step: Any = None
    sampling: str = "linear"
    default: Any = None
    when: tuple = ()

    def register(self, hp):
        """Declare this entry on a `keras_tuner.HyperParameters`; returns its value
        (None when a `when` condition is off)."""
        if self.type == "choice":
            return hp.Choice(self.name, list(self.values), default=self.default)
        make = hp.Int if self.type == "int" else hp.Float
        return make(self.name, self.min, self.max, step=self.step, sampling=self.sampling,
                    default=self.default)

    def to_dict(self):
        """The entry as the YAML mapping that reads back to it."""
        out = {"type": self.type}
        if self.type == "choice":
            out["values"] = list(self.values)
        else:
            out.update(min=self.min, max=self.max)
            if self.step is not None:
                out["step"] = self.step
            if self.sampling != "linear":
                out["sampling"] = self.sampling
        if self.default is not None:
            out["default"] = self.default
        if self.when:
            out["when"] = {parent: list(values) for parent, values in self.when}
        return out


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Entries in declaration order (parents before the entries they condition)."""

    entries: tuple
    source: str = "default"

    @property
    def names(self):
        return [entry.name for entry in self.entries]

    def register(self, hp):
        """Declare every entry on `hp` (conditions as KerasTuner conditional scopes)
        and return the recipe: {flag: value} of the active entries."""
        recipe = {}
        for entry in self.entries:
            with contextlib.ExitStack() as scopes:
                for parent, values in entry.when:
                    scopes.enter_context(hp.conditional_scope(parent, list(values)))
                value = entry.register(hp)
            if value is not None:
                recipe[entry.name] = value
        return recipe

    def to_dict(self):
        return {entry.name: entry.to_dict() for entry in self.entries}


def default_search_space(task):
    """The default space of task `task` (a name): its `Task.search_space`, the
    BERT paper's fine-tuning ranges unless the task says otherwise; read
    without TensorFlow (`registry.task_attribute`)."""
    from kerasbert.tasks.registry import task_attribute

    return dict(task_attribute(task, "search_space"))


def load_search_space(spec, task, tunable, tuner=None):
    """The space named by `--search_space`: None or "default" (the task's default),
    "bert_paper" (the paper's grid), or a YAML file.

    Args:
        spec: the flag value.
        task: the train task name, for the default space.
        tunable: {flag name: absl Flag} of the train flags a space may set.
        tuner: the tuner; under "hyperband" the built-in spaces leave epochs to it
            and a file that tunes epochs is an error.

    Raises:
        SearchSpaceError: naming the file, line and entry at fault.
    """
    if spec in (None, "", "default", "bert_paper"):
        builtin = _BERT_PAPER if spec == "bert_paper" else default_search_space(task)
        if tuner == "hyperband":
            builtin = {k: v for k, v in builtin.items() if k != "epochs"}
        source = "bert_paper" if spec == "bert_paper" else f"default ({task})"
        space = parse_search_space(builtin, tunable, source=source)
    else:
        space = read_search_space_file(spec, tunable)
    check_for_tuner(space, tuner)
    return space


def read_search_space_file(path, tunable):
    """Parse and check a YAML search space file (see the module docstring)."""
    import yaml

    if not os.path.isfile(path):
        raise SearchSpaceError(f"search space file {path} does not exist (or give one of "
                               f"{', '.join(BUILTIN)})")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        values = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SearchSpaceError(f"search space {path}{where}: invalid YAML: {problem}") from None
    lines = {}
    if isinstance(root, yaml.MappingNode):
        lines = {key.value: key.start_mark.line + 1 for key, _ in root.value}
    return parse_search_space(values, tunable, source=path, lines=lines)


def parse_search_space(mapping, tunable, source="search space", lines=None):
    """A SearchSpace from a {flag: entry} mapping; every problem is a SearchSpaceError."""
    lines = lines or {}
    if not isinstance(mapping, dict) or not mapping:
        raise SearchSpaceError(f"search space {source}: expected a mapping of train flags to "
                               "entries, e.g. `learning_rate: {type: float, min: 1.0e-5, "
                               "max: 1.0e-4, sampling: log}`")
    entries = {}
    for name, spec in mapping.items():
        where = f"search space {source}" + (f", line {lines[name]}" if name in lines else "")
        try:
            entries[name] = _parse_entry(str(name), spec, tunable, entries)
        except SearchSpaceError as err:
            raise SearchSpaceError(f"{where}: entry {name!r}: {err}") from None
    return SearchSpace(tuple(entries.values()), source)


def check_for_tuner(space, tuner):
    """Hyperband allots epochs itself (its resource): a space may not tune them too."""
    if tuner == "hyperband" and "epochs" in space.names:
        raise SearchSpaceError(
            f"search space {space.source}: entry 'epochs': hyperband uses epochs as its "
            "resource; remove the entry and set --epochs to the most epochs a trial may train")


# -- entries ---------------------------------------------------------------------------------

def _parse_entry(name, spec, tunable, earlier):
    if name not in tunable:
        close = difflib.get_close_matches(name, list(tunable), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SearchSpaceError(f"not a tunable flag of kerasbert.train{hint}; tunable: "
                               + ", ".join(sorted(tunable)))
    flag = tunable[name]
    if isinstance(spec, list):
        spec = {"type": "choice", "values": spec}
    if not isinstance(spec, dict):
        raise SearchSpaceError(f"expected a list of values or a mapping with a type, got {spec!r}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise SearchSpaceError(f"unknown type {kind!r}; use one of {', '.join(TYPES)}")
    unknown = sorted(set(spec) - _KEYS[kind])
    if unknown:
        raise SearchSpaceError(f"unknown key(s) {', '.join(unknown)} for type {kind}; "
                               f"allowed: {', '.join(sorted(_KEYS[kind]))}")
    numeric = _numeric_kind(flag)
    when = _parse_when(name, spec.get("when"), earlier, tunable)
    if kind == "choice":
        return _parse_choice(name, spec, flag, when)
    if numeric is None:
        raise SearchSpaceError(f"--{name} is not a number: use type choice")
    if kind == "int" and numeric != "int":
        raise SearchSpaceError(f"--{name} is a float flag: use type float")
    if kind == "float" and numeric != "float":
        raise SearchSpaceError(f"--{name} is an integer flag: use type int or choice")
    return _parse_range(name, kind, spec, flag, when)


def _parse_choice(name, spec, flag, when):
    values = spec.get("values")
    if not isinstance(values, list) or not values:
        raise SearchSpaceError("a choice needs a non-empty list of values")
    parsed = [_flag_value(flag, v) for v in values]
    if len(set(map(repr, parsed))) != len(parsed):
        raise SearchSpaceError(f"values repeat: {values}")
    if len({type(v) for v in parsed}) > 1:
        raise SearchSpaceError(f"values mix types: {values}")
    default = None
    if spec.get("default") is not None:
        default = _flag_value(flag, spec["default"])
        if default not in parsed:
            raise SearchSpaceError(f"default {default!r} is not one of the values {parsed}")
    return Entry(name, "choice", values=tuple(parsed), default=default, when=when)


def _parse_range(name, kind, spec, flag, when):
    for key in ("min", "max"):
        if spec.get(key) is None:
            raise SearchSpaceError(f"type {kind} needs min and max")
    cast = int if kind == "int" else float
    low, high = (_number(spec[key], key, cast) for key in ("min", "max"))
    if low > high:
        raise SearchSpaceError(f"min {low} > max {high}")
    for bound in (low, high):
        _flag_value(flag, bound)
    sampling = spec.get("sampling", "linear")
    if sampling not in SAMPLINGS:
        raise SearchSpaceError(f"unknown sampling {sampling!r}; use one of {', '.join(SAMPLINGS)}")
    if sampling != "linear" and low <= 0:
        raise SearchSpaceError(f"{sampling} sampling needs min > 0, got {low}")
    step = None if spec.get("step") is None else _number(spec["step"], "step", cast)
    if step is not None and step <= 0:
        raise SearchSpaceError(f"step must be > 0, got {step}")
    default = None if spec.get("default") is None else _number(spec["default"], "default", cast)
    if default is not None and not low <= default <= high:
        raise SearchSpaceError(f"default {default} is outside [{low}, {high}]")
    return Entry(name, kind, min=low, max=high, step=step, sampling=sampling, default=default,
                 when=when)


def _parse_when(name, when, earlier, tunable):
    """`when: {parent: value or [values]}` -> ((parent, (values...)), ...)."""
    if when is None:
        return ()
    if not isinstance(when, dict) or not when:
        raise SearchSpaceError("when must map a parent choice entry to the values that "
                               "activate this entry, e.g. when: {batch_size: [32]}")
    out = []
    for parent, values in when.items():
        if parent == name or parent not in earlier:
            raise SearchSpaceError(f"when: parent {parent!r} must be an entry declared above")
        entry = earlier[parent]
        if entry.type != "choice":
            raise SearchSpaceError(f"when: parent {parent!r} must be a choice entry")
        values = [_flag_value(tunable[parent], v)
                  for v in (values if isinstance(values, list) else [values])]
        missing = [v for v in values if v not in entry.values]
        if not values or missing:
            raise SearchSpaceError(f"when: {parent} values {missing or values} are not among "
                                   f"its choices {list(entry.values)}")
        out.append((parent, tuple(values)))
    return tuple(out)


def _numeric_kind(flag):
    kind = flag.parser.flag_type()
    return kind if kind in ("int", "float") else None


def _flag_value(flag, value):
    """`value` as the train flag parses it (bounds and enum values checked)."""
    try:
        parsed = flag.parser.parse(value)
    except (ValueError, TypeError) as err:
        raise SearchSpaceError(f"value {value!r} is not valid for --{flag.name}: {err}") from None
    if _numeric_kind(flag) == "float":
        parsed = float(parsed)
    return parsed


def _number(value, key, cast):
    """YAML reads `1e-5` as a string (YAML 1.1 wants `1.0e-5`): accept both."""
    if isinstance(value, bool):
        raise SearchSpaceError(f"{key} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SearchSpaceError(f"{key} must be a number, got {value!r}") from None
    if cast is int:
        if number != int(number):
            raise SearchSpaceError(f"{key} must be an integer, got {value!r}")
        return int(number)
    return number
