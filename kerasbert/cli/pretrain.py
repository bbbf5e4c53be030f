"""Pretrain a BERT encoder with masked-LM (and next-sentence prediction) on plain text.

From scratch (a WordPiece vocabulary trained on the corpus, an encoder of a
chosen size):

    python -m kerasbert.pretrain --train_data=corpus.txt --output_dir=runs/my_bert \\
        --preset=bert_mini_en_uncased --vocab_size=16000 --epochs=3

Continued, domain-adaptive, from any checkpoint kerasbert loads:

    python -m kerasbert.pretrain --train_data=corpus.txt --output_dir=runs/adapted \\
        --model=all_minilm_l6_v2 --whole_word_masking

The corpus holds one sentence per line, with a blank line between documents;
--train_data (and --eval_data) is a file, a glob or a directory of such files,
local or gs://. The TFRecords are prepared a shard of text at a time, in
--num_workers processes (or an Apache Beam pipeline: --beam_runner), and an
interrupted preparation resumes; --prepare_only stops there, and a later run
with the same settings reads them without preparing again. A run given
--data_dir and no --train_data trains on data prepared there earlier (here, on
another machine, or by Beam on gs://) without the corpus; the vocabulary is
stored with the data:

    python -m kerasbert.pretrain --train_data='corpus/*.txt' --output_dir=runs/my_bert \\
        --data_dir=gs://bucket/bert_data --prepare_only --num_workers=8
    python -m kerasbert.pretrain --data_dir=gs://bucket/bert_data --output_dir=runs/my_bert

--whole_word_masking masks every piece of a chosen word; in Chinese text,
where every character is a token, the words are found by jieba when the data
is prepared (`pip install kerasbert[zh]`), as hfl's Chinese-BERT-wwm did.

The output directory is an encoder that `python -m kerasbert.train
--model=runs/my_bert` fine-tunes. `--config=FILE` (YAML or JSON) sets any flag.
"""

import sys

from absl import flags

from kerasbert.cli.flags import (UsageError, apply_config_file, check_output_dir, check_ranges,
                                 config_from_flags, define_flags_from, is_chief,
                                 output_dir_held, parse_argv, quiet_tensorflow, run_main,
                                 worker_failures_reported)
from kerasbert.configs.pretrain import PretrainConfig
from kerasbert.cli.models import fetch_model
from kerasbert.distribute import flags as distribute_flags

_SCRATCH_ONLY = ("num_layers", "hidden_size", "num_heads", "intermediate_size")


def define_flags(fv):
    """The corpus, model, masking and recipe flags: one per `PretrainConfig`
    setting, --config and the device flags."""
    flags.DEFINE_string("config", None, "YAML or JSON file of flag values", flag_values=fv)
    define_flags_from(PretrainConfig, fv)
    distribute_flags.define_flags(fv)


def new_flags():
    """This program's flags, fresh (each `main` parses into its own)."""
    fv = flags.FlagValues()
    define_flags(fv)
    return fv


def parse(argv, fv=None):
    """Parse argv (program name first) into `fv` (default: fresh flags), apply
    --config, and check every value."""
    fv = new_flags() if fv is None else fv
    parse_argv(fv, argv, __doc__)
    if fv.config:
        apply_config_file(fv, fv.config)
    check_flags(fv)
    return fv


def check_flags(fv):
    """Every flag checked before any work starts: one line per problem."""
    if not fv.output_dir:
        raise UsageError("--output_dir is required")
    if not fv.train_data and not fv.data_dir:
        raise UsageError("--train_data is required (or --data_dir holding data prepared "
                         "earlier)")
    check_ranges(fv)
    for name in ("train_data", "eval_data"):
        if fv[name].value:
            _check_corpus(fv[name].value, f"--{name}")
    check_output_dir(fv.output_dir)
    if fv.data_dir:
        check_output_dir(fv.data_dir, "--data_dir")
    if not fv.train_data:
        _check_prepared(fv)
    if fv.beam_options and not fv.beam_runner:
        raise UsageError("--beam_options needs --beam_runner")
    if fv.beam_runner:
        from kerasbert.pretraining.beam_pipeline import import_beam

        try:
            import_beam()
        except ImportError as err:
            raise UsageError(f"--beam_runner: {err}") from None
    if fv.model and any(fv[name].present for name in _SCRATCH_ONLY + ("vocab_size", "preset",
                                                                      "chinese_characters")):
        raise UsageError("--model continues a checkpoint with its own size and vocabulary: "
                         "drop --preset, --vocab_size, --chinese_characters and the size flags, "
                         "or drop --model")


def _check_prepared(fv):
    """Without --train_data, --data_dir must hold a finished preparation
    (gs:// is checked when the run reads it) and no flag may ask to prepare."""
    for name in ("prepare_only", "beam_runner", "eval_data"):
        if fv[name].value:
            raise UsageError(f"--{name} needs --train_data: the corpus to prepare")
    if "://" in fv.data_dir:
        return
    from kerasbert.pretraining.sharded_data import read_prepared

    try:
        read_prepared(fv.data_dir)
    except ValueError as err:
        raise UsageError(f"--data_dir: {err} (--train_data)") from None


def _check_corpus(value, flag):
    """A corpus flag must name a file, a directory with files or a glob that
    matches some (gs:// is checked when the run lists it)."""
    if "://" in value:
        return
    from kerasbert.pretraining.sharded_data import list_input_files

    try:
        list_input_files(value)
    except FileNotFoundError as err:
        raise UsageError(f"{flag}: {err}") from None


def run(fv, setup=None):
    """Pretrain with parsed flags under `setup` (a DistributionSetup); returns the metrics."""
    from kerasbert.pretraining.pretrain import pretrain

    return pretrain(config_from_flags(PretrainConfig, fv),
                    strategy=setup.strategy if setup else None,
                    jit_compile=setup.jit_compile if setup else False)


def main(argv=None):
    fv = parse(argv or sys.argv)
    with output_dir_held(fv.output_dir, "kerasbert.pretrain", is_chief()):
        return _pretrain(fv)


def _pretrain(fv):
    model_line = (fetch_model(fv.model) if fv.model else
                  f"encoder: random initialisation of {fv.preset}'s shape (from scratch)")
    setup = distribute_flags.setup_from_flags(fv)  # before TF initialises its devices
    quiet_tensorflow()
    print(f"{setup.describe(fv.batch_size)}; {model_line}", flush=True)
    with worker_failures_reported():
        metrics = run(fv, setup)
    if fv.prepare_only:
        print(f"prepared {metrics['train_instances']} training and {metrics['eval_instances']} "
              f"held-out instances in {len(metrics['train_files'])} + "
              f"{len(metrics['eval_files'])} TFRecord file(s); run again without "
              "--prepare_only to pretrain on them")
        return 0
    print("held-out masked-LM:")
    for stage in ("before", "after"):
        values = metrics[stage]
        line = (f"  {stage:<6}  accuracy {values['mlm_accuracy']:.4f}  "
                f"loss {values['mlm_loss']:.4f}  perplexity {values['perplexity']:.2f}")
        if "nsp_accuracy" in values:
            line += f"  next-sentence accuracy {values['nsp_accuracy']:.4f}"
        print(line)
    print(f"encoder written to {fv.output_dir} "
          f"(fine-tune it with: python -m kerasbert.train --model={fv.output_dir} ...)")
    return 0


if __name__ == "__main__":
    run_main(main)
