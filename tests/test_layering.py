"""The package's layers, read from its source with `ast` (no import, no TensorFlow):
lower layers never import the command-line programs (`kerasbert.cli`), training
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

# Packages that sit below the programs: none of their modules may import kerasbert.cli.
BELOW_CLI = ("training", "tuning", "customization", "distribute", "data", "encoder", "layers",
             "tasks", "adapters", "checkpoints", "explain")
# Program entry points inside those packages, which may use the CLI plumbing.
ENTRY_POINTS = ("kerasbert.distribute.__main__", "kerasbert.explain.__main__")
# Modules every layer imports: they import nothing of kerasbert themselves.
BASE_MODULES = ("kerasbert.errors", "kerasbert.quiet")


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


def layering_violations(imports):
    """Lines `module:line imports name (rule)` for each import that breaks a rule."""
    found = []
    for module, names in sorted(imports.items()):
        below_cli = any(_under(module, f"kerasbert.{p}") for p in BELOW_CLI) \
            and module not in ENTRY_POINTS
        for line, name in names:
            if below_cli and _under(name, "kerasbert.cli"):
                found.append(f"{module}:{line} imports {name} (below the CLI)")
            if _under(module, "kerasbert.training") and _under(name, "kerasbert.serving"):
                found.append(f"{module}:{line} imports {name} (training never imports "
                             "serving)")
            if (below_cli and _under(module, "kerasbert.explain")
                    and _under(name, "kerasbert.serving")):
                found.append(f"{module}:{line} imports {name} (explanations sit below "
                             "serving)")
            if module in BASE_MODULES and _under(name, "kerasbert"):
                found.append(f"{module}:{line} imports {name} (a base module)")
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
        "kerasbert.errors:2 imports kerasbert.paths.is_remote (a base module)",
        "kerasbert.training.a:1 imports kerasbert.cli.flags (below the CLI)",
        "kerasbert.training.b:2 imports kerasbert.cli.train (below the CLI)",
        "kerasbert.training.c:1 imports kerasbert.cli.flags.UsageError (below the CLI)",
        "kerasbert.training.d:1 imports kerasbert.serving (training never imports serving)",
        "kerasbert.tuning:1 imports kerasbert.cli (below the CLI)",
    ]
