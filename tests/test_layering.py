"""The package's layers, read from its source with `ast` (no import, no TensorFlow):
each package imports only packages of the layers below its own (`LAYERS`), so
no import runs back up and there is no circle: lower layers never import the
command-line programs (`kerasbert.cli`), tasks never import training, training
never imports serving, and the base modules import nothing of kerasbert.

Every `import` counts, also those inside functions (imported lazily, they are
still dependencies). The finder itself is checked on a small package written
for the test, so that a rule that matches nothing cannot pass unnoticed.
"""

import ast
import os
import textwrap

import kerasbert

PACKAGE_DIR = os.path.dirname(kerasbert.__file__)

# Program entry points inside lower packages, which may use the CLI plumbing.
ENTRY_POINTS = ("kerasbert.distribute.__main__", "kerasbert.explain.__main__")
# The packages (and top-level modules) of kerasbert, lowest first: a module
# imports its own package and the layers below, never one beside or above.
LAYERS = (
    ("errors", "quiet", "paths", "lazy_names", "keras_registry", "presets", "install",
     "configs", "optimization", "layers"),
    ("outputs",),
    ("data", "metrics", "checkpoints", "distribute"),
    ("encoder", "tokenizers", "loop"),
    ("tasks",),
    ("explain", "adapters"),
    ("training",),
    ("pretraining", "serving", "tuning"),
    ("customization",),
    ("cli",),
    ("kerasbert", "train", "evaluate", "predict", "export", "tune", "pretrain", "customize",
     "convert", "doctor", "distill"),
)


def module_imports(package_dir, package="kerasbert"):
    """{module name: [(line, imported module name), ...]} for every .py file under
    `package_dir` (the package named `package`); relative imports are resolved,
    and `from a import b` counts as importing `a.b` (b may be a module)."""
    out = {}
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            parts = os.path.relpath(path, package_dir)[:-3].split(os.sep)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            module = ".".join([package, *parts])
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), filename=path)
            out[module] = list(_imports(tree, module, is_package))
    return out


def _imports(tree, module, is_package):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if base else alias.name


def _under(name, prefix):
    return name == prefix or name.startswith(prefix + ".")


def _unit(name):
    """The package or top-level module a kerasbert module belongs to
    ("kerasbert" for the package's own __init__)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of(unit):
    for level, units in enumerate(LAYERS):
        if unit in units:
            return level
    return None


def layering_violations(imports):
    """Lines `module:line imports name (why)` for each import of a kerasbert
    package that is not in a layer below the importing module's own."""
    found = []
    for module, names in sorted(imports.items()):
        unit = _unit(module)
        if layer_of(unit) is None:
            found.append(f"{module} belongs to no layer (add {unit} to LAYERS)")
            continue
        for line, name in names:
            if not _under(name, "kerasbert") or module in ENTRY_POINTS or _unit(name) == unit:
                continue
            level = layer_of(_unit(name))
            if level is not None and level >= layer_of(unit):
                found.append(f"{module}:{line} imports {name} (a layer beside or above)")
    return found


def test_no_layer_imports_a_layer_above_it():
    imports = module_imports(PACKAGE_DIR)
    # The walk sees the layers the rules name, with their imports.
    assert {"kerasbert.training.fine_tune", "kerasbert.tuning.hypermodel",
            "kerasbert.customization.customize", "kerasbert.distribute.tpu",
            "kerasbert.errors"} <= set(imports)
    assert any(_under(name, "kerasbert.cli") for _, name in imports["kerasbert.cli.tune"])
    violations = layering_violations(imports)
    assert not violations, "imports against the layering:\n  " + "\n  ".join(violations)


def test_the_finder_sees_every_form_of_import(tmp_path):
    files = {
        "__init__.py": "",
        "errors.py": "import os\nfrom kerasbert.paths import is_remote\n",
        "cli/__init__.py": "",
        "cli/flags.py": "from kerasbert.errors import UsageError\n",
        "training/__init__.py": "",
        "training/a.py": "from kerasbert.cli import flags\n",
        "training/b.py": "def f():\n    import kerasbert.cli.train\n",
        "training/c.py": "from ..cli.flags import UsageError\nfrom . import a\n",
        "training/d.py": "from kerasbert import serving\n",
        "tasks/__init__.py": "",
        "tasks/e.py": "from kerasbert.training import a\nfrom kerasbert.tasks import f\n",
        "tasks/f.py": "import kerasbert.encoder\n",
        "encoder/__init__.py": "",
        "widgets/__init__.py": "",
        "tuning/__init__.py": "from .. import cli\n",
        "distribute/__init__.py": "",
        "distribute/__main__.py": "from kerasbert.cli.flags import run_main\n",
        "serving/__init__.py": "from kerasbert.cli import flags\n",
    }
    for name, text in files.items():
        path = tmp_path / "kerasbert" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    imports = module_imports(str(tmp_path / "kerasbert"))
    assert ("kerasbert.training.a" in imports["kerasbert.training.c"][1])
    assert layering_violations(imports) == [
        "kerasbert.errors:2 imports kerasbert.paths.is_remote (a layer beside or above)",
        "kerasbert.serving:1 imports kerasbert.cli.flags (a layer beside or above)",
        "kerasbert.tasks.e:1 imports kerasbert.training.a (a layer beside or above)",
        "kerasbert.training.a:1 imports kerasbert.cli.flags (a layer beside or above)",
        "kerasbert.training.b:2 imports kerasbert.cli.train (a layer beside or above)",
        "kerasbert.training.c:1 imports kerasbert.cli.flags.UsageError (a layer beside or above)",
        "kerasbert.training.d:1 imports kerasbert.serving (a layer beside or above)",
        "kerasbert.tuning:1 imports kerasbert.cli (a layer beside or above)",
        "kerasbert.widgets belongs to no layer (add widgets to LAYERS)",
    ]
