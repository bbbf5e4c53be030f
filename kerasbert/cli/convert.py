"""Convert an encoder between checkpoint formats.

    python -m kerasbert.convert --model=all_minilm_l6_v2 --to=tf1 --output_dir=out/tf1
    python -m kerasbert.convert --model=out/tf1 --to=hf --output_dir=out/hf

`--model` is a preset name or a directory in any supported layout; `--to` is
`kerasbert`, `hf` (safetensors) or `tf1` (bert_model.ckpt with the original
names). The vocabulary files beside the source are copied along.

    python -m kerasbert.convert --model=runs/sentiment --to=hf --output_dir=out/hf_classifier

A fine-tuned classification, multi-label or regression run directory (what
`kerasbert.train` writes, [CLS] pooling) converts `--to=hf` as a Hugging Face
`BertForSequenceClassification` directory: encoder, pooler, classifier, labels
(`kerasbert.serving.hf_classifier`).
"""

import os
import sys

from absl import flags

from kerasbert.cli.flags import (UsageError, check_output_dir, parse_argv, quiet_tensorflow,
                                 run_main)

_VOCAB_FILES = ("vocab.txt", "tokenizer_config.json", "tokenizer.json", "special_tokens_map.json")


def define_flags(fv):
    flags.DEFINE_string("model", None, "preset name or checkpoint directory", flag_values=fv)
    flags.DEFINE_enum("to", None, ["kerasbert", "hf", "tf1"], "the format to write",
                      flag_values=fv)
    flags.DEFINE_string("output_dir", None, "where the converted checkpoint goes",
                        flag_values=fv)
    flags.DEFINE_boolean("allow_pickle", False, "allow reading a pickled pytorch_model.bin "
                         "(trusted files only)", flag_values=fv)


def parse(argv):
    """Parsed flags of `argv` (program name first); every flag checked."""
    fv = flags.FlagValues()
    define_flags(fv)
    parse_argv(fv, argv, __doc__, positional=False)
    for name in ("model", "to", "output_dir"):
        if not fv[name].value:
            raise UsageError(f"--{name} is required")
    check_output_dir(fv.output_dir)
    if os.path.exists(os.path.join(fv.output_dir, "encoder.safetensors")) or os.path.exists(
            os.path.join(fv.output_dir, "model.safetensors")):
        raise UsageError(f"{fv.output_dir} already holds a checkpoint; choose a new directory")
    return fv


def main(argv=None):
    args = parse(argv or sys.argv)
    quiet_tensorflow()
    import tensorflow as tf

    from kerasbert.checkpoints import loading, sources
    from kerasbert.encoder.bert_encoder import BertEncoder
    from kerasbert.tasks.model_directory import ENCODER_DIR, is_model_directory

    if is_model_directory(args.model):
        return _convert_run_directory(args, ENCODER_DIR)
    encoder = BertEncoder.from_preset(args.model, allow_pickle=args.allow_pickle)
    writer = {"kerasbert": loading.save_encoder, "hf": loading.export_hf_checkpoint,
              "tf1": loading.export_tf1_checkpoint}[args.to]
    writer(encoder, args.output_dir)
    source = sources.resolve(args.model, args.allow_pickle)
    for name in _VOCAB_FILES:
        if tf.io.gfile.exists(os.path.join(source, name)):
            tf.io.gfile.copy(os.path.join(source, name), os.path.join(args.output_dir, name),
                             overwrite=True)
    print(f"wrote {args.to} checkpoint of {encoder.count_params():,} parameters to {args.output_dir}")
    return 0


def _convert_run_directory(args, encoder_dir):
    """A fine-tuned run directory -> Hugging Face BertForSequenceClassification."""
    from kerasbert.serving.hf_classifier import export_hf_classifier

    if args.to != "hf":
        raise UsageError(f"{args.model} is a fine-tuned run directory: it converts --to=hf "
                         "(BertForSequenceClassification); for its encoder alone use "
                         f"--model={os.path.join(args.model, encoder_dir)}")
    count = export_hf_classifier(args.model, args.output_dir)
    print(f"wrote hf BertForSequenceClassification of {count:,} parameters to "
          f"{args.output_dir}")
    return 0


if __name__ == "__main__":
    run_main(main)
