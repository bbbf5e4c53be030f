"""Package attributes imported on first use, so that the command-line programs
check their flags (and `--help` answers) before paying for a TensorFlow import."""

import importlib


def lazy_names(package_globals, names):
    """`(__getattr__, __dir__)` for a package: `names` maps each public name to
    the module that defines it; `package_globals` is the package's `globals()`."""
    package = package_globals["__name__"]

    def __getattr__(name):
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(package_globals) | set(names))

    return __getattr__, __dir__
