"""Export a fine-tuned model as a SavedModel that takes raw strings.

    python -m kerasbert.export --model=runs/sentiment --export_dir=exported/sentiment
    python -m kerasbert.export --adapter_bank=alice=runs/alice,bob=runs/bob \\
        --export_dir=exported/bank

The SavedModel's `serving_default` takes 1-D string tensors (`text`, plus
`text_pair` for pair models; QA: `question` and `context`) and tokenizes them
in the graph with tensorflow-text ops; it returns the task's outputs
(classification: `labels`, `scores`, `probabilities`). Loading it needs only
`import tensorflow, tensorflow_text`. See kerasbert.serving.serving_model.

`--adapter_bank=USER=MODEL_DIR,...` exports one SavedModel for many users'
LoRA models (`kerasbert.train --adapter=lora`) over one shared base encoder:
its `serving_default` also takes `user` (1-D strings, one per row) and runs
each row with its user's adapters and head, mixed users in one batch. See
kerasbert.serving.bank_serving.

`--format=litert` writes `model.tflite` into --export_dir instead: one LiteRT
file with the tokenizer inside (raw strings in, the task's outputs out, the
task config in its metadata), for classification, multi-label and
regression models. `--quantize=float16` stores float16 weights;
`--quantize=int8` dynamic-range int8 weights (no calibration data). Run it
with `kerasbert.predict --model=DIR/model.tflite`, or with only ai-edge-litert
and tensorflow-text installed (see kerasbert.serving.litert).

    python -m kerasbert.export --model=runs/sentiment --format=litert --quantize=int8 \\
        --export_dir=exported/sentiment_litert
"""

import os
import sys

from absl import flags

from kerasbert.cli.flags import (UsageError, check_output_dir, check_ranges, parse_argv,
                                 quiet_tensorflow, run_main)
from kerasbert.serving.model_info import check_model_flag, input_names


def define_flags(fv):
    flags.DEFINE_string("model", None, "model directory written by kerasbert.train",
                        flag_values=fv)
    flags.DEFINE_string("adapter_bank", None, "USER=MODEL_DIR,... : one SavedModel serving "
                        "every user's LoRA model (trained with --adapter=lora on one base)",
                        flag_values=fv)
    flags.DEFINE_string("export_dir", None, "directory for the SavedModel", flag_values=fv)
    flags.DEFINE_boolean("overwrite", False, "replace what --export_dir holds", flag_values=fv)
    flags.DEFINE_enum("format", "savedmodel", ["savedmodel", "litert"], "savedmodel: a "
                      "TensorFlow SavedModel; litert: model.tflite (LiteRT, tokenizer inside)",
                      flag_values=fv)
    flags.DEFINE_enum("quantize", "none", ["none", "float16", "int8"], "with --format=litert: "
                      "float16 weights, or int8 weights (dynamic-range quantization)",
                      flag_values=fv)


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
    if fv.adapter_bank:
        if fv.model:
            raise UsageError("give --model or --adapter_bank, not both")
        from kerasbert.adapters.bank_model import parse_bank_spec

        users = parse_bank_spec(fv.adapter_bank)
        infos = [check_model_flag(path, f"--adapter_bank user {user!r}")
                 for user, path in users.items()]
        info = infos[0]
        model_dirs = list(users.values())
    else:
        info = check_model_flag(fv.model)
        model_dirs = [fv.model]
    check_ranges(fv)
    if fv.format == "litert":
        if fv.adapter_bank:
            raise UsageError("--format=litert exports one --model, not an --adapter_bank")
        from kerasbert.serving.model_info import LITERT_TASKS

        if info["task"] not in LITERT_TASKS:
            raise UsageError(f"--format=litert: exports {', '.join(LITERT_TASKS)} models, not "
                             f"{info['task']} (export a SavedModel: --format=savedmodel)")
    elif fv.quantize != "none":
        raise UsageError("--quantize goes with --format=litert (the SavedModel keeps float32 "
                         "weights)")
    if not fv.export_dir:
        raise UsageError("--export_dir is required")
    target = fv.export_dir
    check_output_dir(target, "--export_dir")
    if "://" not in target:
        if os.path.isdir(target) and os.listdir(target) and not fv.overwrite:
            raise UsageError(f"--export_dir: {target} is not empty; pass --overwrite to "
                             "replace it")
        if any(os.path.abspath(target) == os.path.abspath(d) for d in model_dirs):
            raise UsageError("--export_dir must differ from the model directories")
    return info


def main(argv=None):
    fv = new_flags()
    info = parse(argv or sys.argv, fv)
    quiet_tensorflow()
    from kerasbert.serving.serving_model import (export_saved_model, remove_export_dir,
                                                 signature_outputs)

    if fv.overwrite:
        remove_export_dir(fv.export_dir)
    if fv.format == "litert":
        from kerasbert.serving.litert import LITERT_FILE, export_litert

        os.makedirs(fv.export_dir, exist_ok=True)
        path = os.path.join(fv.export_dir, LITERT_FILE)
        size = export_litert(fv.model, path, fv.quantize)
        weights = {"none": "float32", "float16": "float16", "int8": "int8 (dynamic range)"}
        print(f"LiteRT file of the {info['task']} model written to {path}: "
              f"{size / 1e6:.1f} MB, {weights[fv.quantize]} weights")
        print(f"  serving_default: inputs {', '.join(input_names(info))} (1-D strings); "
              f"run it with python -m kerasbert.predict --model={path}")
        return 0
    if fv.adapter_bank:
        from kerasbert.adapters.bank_model import bank_summary, parse_bank_spec
        from kerasbert.serving.bank_serving import export_adapter_bank

        module = export_adapter_bank(parse_bank_spec(fv.adapter_bank), fv.export_dir)
        print(f"SavedModel of the {info['task']} adapter bank written to {fv.export_dir}: "
              f"{bank_summary(module.bank)}")
    else:
        module = export_saved_model(fv.model, fv.export_dir)
        print(f"SavedModel of the {info['task']} model written to {fv.export_dir}")
    inputs = ", ".join(module.input_names)
    outputs = ", ".join(sorted(signature_outputs(fv.export_dir)))
    print(f"  serving_default: inputs {inputs} (1-D strings) -> outputs {outputs}")
    return 0


if __name__ == "__main__":
    run_main(main)
