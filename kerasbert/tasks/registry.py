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

What the rest of the package needs to know of a task is a class attribute of
its `Task` (see `kerasbert.tasks.task.Task`): its label type, which data
reader trains it, which signature serves it, its default search space, its
inputs. Classes are named as "module:Class" strings and imported where they
are used (`load_declared`): the data reader lives in a higher layer
(training), which this package never imports; the serving signature lives in
the task's own module. `task_attribute` reads an attribute from the
source when the task's module is not imported yet: the command-line programs
check their flags against a task without importing TensorFlow.
"""

import ast
import functools
import importlib
import importlib.util
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
    """{task name: (order, module name, class name)} from this package's source files."""
    import kerasbert.tasks as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        path = os.path.join(info.module_finder.path, info.name + ".py")
        if info.ispkg or not os.path.exists(path):
            continue
        for node in _parsed(path, os.path.getmtime(path)).body:
            for decorator in getattr(node, "decorator_list", []):
                registered = _registration(decorator)
                if registered:
                    name, order = registered
                    found[name] = (order, f"{package.__name__}.{info.name}", node.name)
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


def _check_known(name):
    declared = _declared()
    if name not in declared:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(task_names())}")
    return declared


def task_class(name):
    """The `Task` subclass registered as `name`."""
    declared = _check_known(name)
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


def load_declared(spec):
    """The object a "module:name" string declares (e.g. a Task's `data_reader`),
    its module imported now."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def task_attribute(name, attribute):
    """The class attribute `attribute` of task `name`.

    While the task's module is not imported, the value is read from its source
    (a literal assigned in the class body or in a base class of this package;
    `{**Base.attribute, ...}` dicts too), so that asking costs no TensorFlow
    import; otherwise, or where the source does not say, from the class.
    """
    declared = _check_known(name)
    if name not in _REGISTERED:
        _, module, class_name = declared[name]
        value = _source_attribute(module, class_name, attribute)
        if value is not _UNREAD:
            return value
    return getattr(task_class(name), attribute)


def row_inputs(name, text_pair=False):
    """The raw inputs of one row of task `name`'s model, in signature order:
    the task's `input_names`, by default "text" (and "text_pair" for a model
    of text pairs). Read without TensorFlow (`task_attribute`)."""
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


# -- class attributes read from source -----------------------------------------------------

_UNREAD = object()  # the source does not say (not a literal, or a base outside the package)


@functools.lru_cache(maxsize=64)
def _parsed(path, mtime):
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def _module_tree(module):
    """The ast of `module`, a module of this package, found without importing it."""
    if not module.startswith(__package__ + "."):
        return None
    spec = importlib.util.find_spec(module)  # imports the parents only: this package
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return _parsed(spec.origin, os.path.getmtime(spec.origin))


def _class_location(module, name):
    """(module, class name) that `name` means at the top of `module`: a class it
    defines, or one it imports (`from M import name [as alias]`); else None."""
    tree = _module_tree(module)
    if tree is None:
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return module, name
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return node.module, alias.name
    return None


def _class_node(module, name):
    tree = _module_tree(module)
    for node in tree.body if tree is not None else ():
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    return None


def _source_attribute(module, class_name, attribute):
    """`attribute` of class `class_name` of `module` as its source (and its
    bases' in this package) assigns it; _UNREAD where the source cannot say."""
    node = _class_node(module, class_name)
    if node is None:
        return _UNREAD
    value = _UNREAD
    found = False
    for statement in node.body:
        if isinstance(statement, ast.Assign):
            targets, assigned = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, assigned = [statement.target], statement.value
        elif getattr(statement, "name", None) == attribute:  # a method or property
            return _UNREAD
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == attribute for t in targets):
            found, value = True, _literal(assigned, module)
    if found:
        return value
    for base in node.bases:
        where = _class_location(module, base.id) if isinstance(base, ast.Name) else None
        if where is None:
            return _UNREAD
        value = _source_attribute(*where, attribute)
        if value is not _UNREAD:
            return value
    return _UNREAD


def _literal(node, module):
    """The value of a literal (dicts may unpack `**Class.attribute`), or _UNREAD."""
    if isinstance(node, ast.Dict):
        out = {}
        for key, value in zip(node.keys, node.values):
            if key is None:  # {**Class.attribute, ...}
                if not (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name)):
                    return _UNREAD
                where = _class_location(module, value.value.id)
                unpacked = _source_attribute(*where, value.attr) if where else _UNREAD
                if not isinstance(unpacked, dict):
                    return _UNREAD
                out.update(unpacked)
            else:
                key, value = _literal(key, module), _literal(value, module)
                if key is _UNREAD or value is _UNREAD:
                    return _UNREAD
                out[key] = value
        return out
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError):
        return _UNREAD
