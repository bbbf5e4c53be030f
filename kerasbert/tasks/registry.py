"""The task registry: every task by name, from its `TaskSpec`
(`kerasbert.tasks.specs`: the built-in tasks, and those other packages declare
under the entry-point group `kerasbert.tasks`), and its classes, registered
once as their module is imported:

    @register_task("classification")
    class ClassificationTask(Task):
        ...

Everything else (the command-line programs' `--task`, the model directory,
evaluate / predict / export, the tuner) looks tasks up here. Listing tasks and
asking what a task declares (`task_attribute`) read the specs only, so they
cost no TensorFlow import; a task's module is imported when the task is first
used. A task defined in Python and registered with a name no spec declares
(a notebook's task) has the spec its class's attributes give.
"""

import functools
import importlib
import importlib.metadata

from kerasbert.tasks.specs import BUILT_IN, TaskSpec

ENTRY_POINT_GROUP = "kerasbert.tasks"
_REGISTERED = {}  # task name -> Task class, filled as task modules are imported
_DEFINED = {}  # task name -> TaskSpec of a task registered with no declared spec


def register_task(name, order=None):
    """Class decorator: the decorated `Task` subclass is the task `name`. A
    declared task's class gets its spec's fields as class attributes; an
    undeclared one's spec is read from its class (`order`, for the listing:
    after the declared tasks, by default)."""
    def register(cls):
        known = _REGISTERED.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"task {name!r} is registered twice ({known.__module__}, "
                             f"{cls.__module__})")
        cls.name = name
        spec = _declared().get(name)
        if spec is None:
            spec = TaskSpec(name, f"{cls.__module__}:{cls.__qualname__}",
                            _keras_model_name(cls),
                            **{f: getattr(cls, f) for f in TaskSpec.class_fields()
                               if hasattr(cls, f)})
            _DEFINED[name] = (len(_declared()) + len(_DEFINED) if order is None else order,
                              spec)
        for field in TaskSpec.class_fields():
            setattr(cls, field, getattr(spec, field))
        _REGISTERED[name] = cls
        return cls
    return register


def _keras_model_name(cls):
    """"module:Class" of an undeclared task's Keras model: its class's
    `keras_model` ("Class" in the task's module, or "module:Class")."""
    model = getattr(cls, "keras_model", None)
    if not model:
        return None
    return model if ":" in model else f"{cls.__module__}:{model}"


@functools.lru_cache(maxsize=None)
def _declared():
    """{task name: TaskSpec} of the built-in tasks and the entry points', in order."""
    specs = {spec.name: spec for spec in BUILT_IN}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        if not isinstance(spec, TaskSpec) or spec.name != entry.name:
            raise ValueError(f"entry point {entry.name} = {entry.value} ({ENTRY_POINT_GROUP}) "
                             f"is not the TaskSpec of a task named {entry.name!r}")
        if entry.name in specs:
            raise ValueError(f"task {entry.name!r} is declared twice ({entry.value})")
        specs[entry.name] = spec
    return specs


def task_spec(name):
    """The `TaskSpec` of task `name` (a ValueError naming the tasks if unknown)."""
    spec = _declared().get(name)
    if spec is None and name in _DEFINED:
        spec = _DEFINED[name][1]
    if spec is None:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(task_names())}")
    return spec


def task_names():
    """Every task's name: the declared ones in their order, then those defined
    in Python."""
    defined = sorted(_DEFINED, key=lambda name: (_DEFINED[name][0], name))
    return tuple(_declared()) + tuple(n for n in defined if n not in _declared())


def task_class(name):
    """The `Task` subclass registered as `name`."""
    spec = task_spec(name)
    if name not in _REGISTERED:
        load_declared(spec.task_class)
    return _REGISTERED[name]


def get_task(name, labels=None, **settings):
    """The task `name` with its label names (and task settings, e.g. the QA
    task's `version_2_with_negative`)."""
    return task_class(name)(labels, **settings)


def model_class(name):
    """The Keras task model class (`BertTask` subclass) of task `name`."""
    task_class(name)
    return load_declared(task_spec(name).keras_model)


def load_declared(spec):
    """The object a "module:name" string declares (e.g. a Task's `data_reader`),
    its module imported now."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def task_attribute(name, attribute):
    """The field `attribute` of task `name`'s spec (no import of the task)."""
    return getattr(task_spec(name), attribute)


def row_inputs(name, text_pair=False):
    """The raw inputs of one row of task `name`'s model, in signature order:
    the task's `input_names`, by default "text" (and "text_pair" for a model
    of text pairs). Read from the spec, without TensorFlow."""
    names = task_attribute(name, "input_names")
    if names is not None:
        return tuple(names)
    return ("text", "text_pair") if text_pair else ("text",)


def task_has(name, attribute, value=True):
    """Whether the `attribute` of task `name` is `value` (or holds it, for tuples)."""
    held = task_attribute(name, attribute)
    return value in held if isinstance(held, (tuple, list)) else held == value


def tasks_with(attribute, value=True):
    """Names of the tasks whose `attribute` is `value` (or holds it, for tuples)."""
    return tuple(name for name in task_names() if task_has(name, attribute, value))


def listing(names, conjunction="and"):
    """"a, b and c" of `names`."""
    names = list(names)
    return names[0] if len(names) == 1 else \
        f"{', '.join(names[:-1])} {conjunction} {names[-1]}"
