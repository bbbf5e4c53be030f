"""Export a fine-tuned model as a SavedModel that takes raw strings.

    python -m kerasbert.export --model=runs/sentiment --export_dir=exported/sentiment

The SavedModel's `serving_default` takes 1-D string tensors (`text`, plus
`text_pair` for pair models; QA: `question` and `context`) and tokenizes them
in the graph with tensorflow-text ops; it returns the task's outputs
(classification: `labels`, `scores`, `probabilities`). Loading it needs only
`import tensorflow, tensorflow_text`. See kerasbert.serving.serving_model.
"""

import os
import sys

from absl import flags

from kerasbert.cli.flags import (UsageError, check_output_dir, check_ranges, parse_argv,
                                 quiet_tensorflow, run_main)
from kerasbert.serving.model_info import check_model_flag


def define_flags(fv):
    flags.DEFINE_string("model", None, "model directory written by kerasbert.train",
                        flag_values=fv)
    flags.DEFINE_string("export_dir", None, "directory for the SavedModel", flag_values=fv)
    flags.DEFINE_boolean("overwrite", False, "replace what --export_dir holds", flag_values=fv)


def new_flags():
    """A fresh FlagValues with this program's flags (one per run)."""
    fv = flags.FlagValues()
    define_flags(fv)
    return fv


def parse(argv, fv):
    """Parse argv (program name first) and check every flag; returns the
    model's task config."""
    parse_argv(fv, argv, __doc__, positional=False)
    return check_flags(fv)


def check_flags(fv):
    """Every flag checked before any work starts: one line per problem."""
    info = check_model_flag(fv.model)
    check_ranges(fv)
    if not fv.export_dir:
        raise UsageError("--export_dir is required")
    target = fv.export_dir
    check_output_dir(target, "--export_dir")
    if "://" not in target:
        if os.path.isdir(target) and os.listdir(target) and not fv.overwrite:
            raise UsageError(f"--export_dir: {target} is not empty; pass --overwrite to "
                             "replace it")
        if os.path.abspath(target) == os.path.abspath(fv.model):
            raise UsageError("--export_dir must differ from --model")
    return info


def main(argv=None):
    fv = new_flags()
    info = parse(argv or sys.argv, fv)
    quiet_tensorflow()
    from kerasbert.serving.serving_model import export_saved_model, remove_export_dir

    if fv.overwrite:
        remove_export_dir(fv.export_dir)
    module = export_saved_model(fv.model, fv.export_dir)
    signature = module.signatures()["serving_default"]
    inputs = ", ".join(module.input_names)
    outputs = ", ".join(sorted(signature.structured_outputs))
    print(f"SavedModel of the {info['task']} model written to {fv.export_dir}")
    print(f"  serving_default: inputs {inputs} (1-D strings) -> outputs {outputs}")
    return 0


if __name__ == "__main__":
    run_main(main)
