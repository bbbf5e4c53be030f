"""The task registry: a task is one module of `kerasbert.tasks` that
registers its definition once,

    @register_task("classification", order=0)
    class ClassificationTask(Task):
        keras_model = "BertClassifier"        # the Keras model in the same module
        ...

and everything else (the command-line programs' `--task`, the model
directory, evaluate / predict / export, the tuner) looks tasks up here. The
names are found by reading the package's modules (`ast`, no import), so
listing them costs no TensorFlow import; a task's module is imported when the
task is first used. Adding a task is adding a module.
"""

import ast
import functools
import importlib
import os
import pkgutil

_REGISTERED = {}  # task name -> Task class, filled as task modules are imported


def register_task(name, order=100):
    """Class decorator: the decorated `Task` subclass is the task `name`
    (`order` places it in listings, lowest first)."""
    def register(cls):
        known = _REGISTERED.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"task {name!r} is registered twice ({known.__module__}, "
                             f"{cls.__module__})")
        cls.name = name
        _REGISTERED[name] = cls
        return cls
    return register


@functools.lru_cache(maxsize=None)
def _declared():
    """{task name: (order, module name)} from this package's source files."""
    import kerasbert.tasks as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        path = os.path.join(info.module_finder.path, info.name + ".py")
        if info.ispkg or not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in tree.body:
            for decorator in getattr(node, "decorator_list", []):
                registered = _registration(decorator)
                if registered:
                    name, order = registered
                    found[name] = (order, f"{package.__name__}.{info.name}")
    return found


def _registration(decorator):
    """(name, order) of a `@register_task("name", order=N)` decorator, else None."""
    if not (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) ==
            "register_task" and decorator.args and isinstance(decorator.args[0], ast.Constant)):
        return None
    order = 100
    for keyword in decorator.keywords:
        if keyword.arg == "order" and isinstance(keyword.value, ast.Constant):
            order = keyword.value.value
    if len(decorator.args) > 1 and isinstance(decorator.args[1], ast.Constant):
        order = decorator.args[1].value
    return decorator.args[0].value, order


def task_names():
    """Every registered task's name, in their declared order."""
    declared = _declared()
    return tuple(sorted(declared, key=lambda name: (declared[name][0], name)))


def task_class(name):
    """The `Task` subclass registered as `name`."""
    declared = _declared()
    if name not in declared:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(task_names())}")
    if name not in _REGISTERED:
        importlib.import_module(declared[name][1])
    return _REGISTERED[name]


def get_task(name, labels=None, **settings):
    """The task `name` with its label names (and task settings, e.g. the QA
    task's `version_2_with_negative`)."""
    return task_class(name)(labels, **settings)


def model_class(name):
    """The Keras task model class (`BertTask` subclass) of task `name`."""
    cls = task_class(name)
    module = importlib.import_module(getattr(cls, "keras_model_module", cls.__module__))
    return getattr(module, cls.keras_model)
