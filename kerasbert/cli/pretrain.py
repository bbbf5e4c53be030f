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

from kerasbert.cli.flags import (UsageError, check_output_dir, check_ranges,
                                 define_reader_flags, is_chief, output_dir_held, parse_argv,
                                 quiet_tensorflow, run_main, worker_failures_reported)
from kerasbert.cli.train import apply_config_file
from kerasbert.cli.models import fetch_model
from kerasbert.distribute import flags as distribute_flags

FLAGS = flags.FlagValues()


def define_flags(fv):
    """The corpus, model, masking and recipe flags."""
    flags.DEFINE_string("config", None, "YAML or JSON file of flag values", flag_values=fv)
    flags.DEFINE_string("train_data", None, "text corpus: one sentence per line, blank lines "
                        "between documents; a file, a glob or a directory of files",
                        flag_values=fv)
    flags.DEFINE_string("eval_data", None, "held-out corpus (default: the last --eval_fraction "
                        "of the documents of each input shard of --train_data)", flag_values=fv)
    flags.DEFINE_float("eval_fraction", 0.05, "share of documents held out without --eval_data",
                       flag_values=fv)
    flags.DEFINE_integer("max_eval_examples", 0, "evaluate on the first N held-out sequences "
                         "(0: all)", flag_values=fv)
    define_reader_flags(fv, header=False)
    flags.DEFINE_string("output_dir", None, "where the encoder, data and checkpoints go",
                        flag_values=fv)
    flags.DEFINE_string("model", None, "continue from this preset, hf:// handle or checkpoint "
                        "directory (unset: pretrain from scratch)", flag_values=fv)
    flags.DEFINE_string("preset", "bert_tiny_en_uncased", "encoder shape from scratch",
                        flag_values=fv)
    flags.DEFINE_integer("num_layers", None, "from scratch: transformer layers", flag_values=fv)
    flags.DEFINE_integer("hidden_size", None, "from scratch: hidden size", flag_values=fv)
    flags.DEFINE_integer("num_heads", None, "from scratch: attention heads", flag_values=fv)
    flags.DEFINE_integer("intermediate_size", None, "from scratch: feed-forward size",
                         flag_values=fv)
    flags.DEFINE_integer("vocab_size", 30522, "from scratch: WordPiece vocabulary size",
                         flag_values=fv)
    flags.DEFINE_bool("lowercase", True, "from scratch: an uncased vocabulary", flag_values=fv)
    flags.DEFINE_bool("chinese_characters", False, "from scratch: the vocabulary also keeps "
                      "GB 2312's 6,763 common Chinese characters (added to --vocab_size), so "
                      "that a character the corpus lacks is not [UNK]", flag_values=fv)
    flags.DEFINE_integer("max_seq_length", 128, "tokens per sequence", flag_values=fv)
    flags.DEFINE_float("masked_lm_prob", 0.15, "share of tokens predicted", flag_values=fv)
    flags.DEFINE_integer("max_predictions_per_seq", 20, "most predictions per sequence",
                         flag_values=fv)
    flags.DEFINE_bool("whole_word_masking", False, "mask every piece of a chosen word; in "
                      "Chinese text, every character of a word found by jieba (pip install "
                      "kerasbert[zh])", flag_values=fv)
    flags.DEFINE_bool("next_sentence", True, "next-sentence prediction (pairs of segments)",
                      flag_values=fv)
    flags.DEFINE_integer("dupe_factor", 1, "passes over the corpus when writing instances",
                         flag_values=fv)
    flags.DEFINE_float("short_seq_prob", 0.1, "share of shorter sequences", flag_values=fv)
    flags.DEFINE_float("shard_size_mb", 8.0, "MB of text per input shard: each is prepared "
                       "on its own, into its own TFRecord file (next-sentence pairs draw random "
                       "segments within a shard)", flag_values=fv)
    flags.DEFINE_integer("num_workers", 1, "processes preparing shards in parallel",
                         flag_values=fv)
    flags.DEFINE_string("data_dir", None, "where the prepared TFRecords go, or are read from "
                        "when prepared there with the same settings (default: "
                        "OUTPUT_DIR/pretraining_data)", flag_values=fv)
    flags.DEFINE_bool("prepare_only", False, "stop once the TFRecords are prepared",
                      flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "prepare afresh where data of other settings is",
                      flag_values=fv)
    flags.DEFINE_string("beam_runner", None, "prepare with an Apache Beam pipeline on this "
                        "runner (DirectRunner, DataflowRunner, FlinkRunner, SparkRunner; needs "
                        "pip install kerasbert[beam])", flag_values=fv)
    flags.DEFINE_string("beam_options", "", "Beam's own pipeline flags, e.g. \"--project=P "
                        "--region=R --temp_location=gs://B/tmp\"", flag_values=fv)
    flags.DEFINE_bool("train_encoder", True, "false: train the heads only", flag_values=fv)
    flags.DEFINE_float("dropout", None, "override the encoder's dropout rates", flag_values=fv)
    flags.DEFINE_integer("batch_size", 32, "global batch size", flag_values=fv)
    flags.DEFINE_integer("epochs", 1, "epochs", flag_values=fv)
    flags.DEFINE_integer("max_steps", 0, "stop after this many updates (0: all epochs)",
                         flag_values=fv)
    flags.DEFINE_float("learning_rate", 1e-4, "peak learning rate", flag_values=fv)
    flags.DEFINE_float("warmup_ratio", 0.05, "share of updates spent warming up", flag_values=fv)
    flags.DEFINE_float("weight_decay", 0.01, "AdamW weight decay", flag_values=fv)
    flags.DEFINE_float("clip_norm", 1.0, "global-norm gradient clipping (0: off)", flag_values=fv)
    flags.DEFINE_integer("gradient_accumulation_steps", 1, "micro-batches per update",
                         flag_values=fv)
    flags.DEFINE_integer("seed", 42, "seed for everything", flag_values=fv)
    flags.DEFINE_integer("eval_every_steps", 0, "also evaluate every N updates (0: at each "
                         "epoch's end only)", flag_values=fv)
    flags.DEFINE_integer("checkpoint_every_steps", 1000, "checkpoint every N updates",
                         flag_values=fv)
    flags.DEFINE_integer("log_every_steps", 10, "TensorBoard loss every N updates", flag_values=fv)
    flags.DEFINE_integer("verbose", 1, "0: quiet, 1: progress bar", flag_values=fv)
    distribute_flags.define_flags(fv)


define_flags(FLAGS)
_RECIPE = ("batch_size", "epochs", "max_steps", "learning_rate", "warmup_ratio", "weight_decay",
           "clip_norm", "gradient_accumulation_steps", "seed", "eval_every_steps",
           "checkpoint_every_steps", "log_every_steps")
_SCRATCH_ONLY = ("num_layers", "hidden_size", "num_heads", "intermediate_size")


def parse(argv, fv=FLAGS):
    """Parse argv (program name first), apply --config, and check every value."""
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

    encoder_config = {"num_hidden_layers": fv.num_layers, "hidden_size": fv.hidden_size,
                      "num_attention_heads": fv.num_heads,
                      "intermediate_size": fv.intermediate_size}
    return pretrain(
        fv.train_data, fv.output_dir, model=fv.model, preset=fv.preset,
        encoder_config=encoder_config, vocab_size=fv.vocab_size, lowercase=fv.lowercase,
        eval_data=fv.eval_data, eval_fraction=fv.eval_fraction,
        max_eval_examples=fv.max_eval_examples, max_seq_length=fv.max_seq_length,
        masked_lm_prob=fv.masked_lm_prob, max_predictions_per_seq=fv.max_predictions_per_seq,
        whole_word_masking=fv.whole_word_masking, next_sentence=fv.next_sentence,
        dupe_factor=fv.dupe_factor, short_seq_prob=fv.short_seq_prob,
        shard_size_mb=fv.shard_size_mb, num_workers=fv.num_workers, data_dir=fv.data_dir,
        overwrite=fv.overwrite, prepare_only=fv.prepare_only, beam_runner=fv.beam_runner,
        beam_options=fv.beam_options,
        train_encoder=fv.train_encoder, dropout=fv.dropout,
        chinese_characters=fv.chinese_characters,
        strategy=setup.strategy if setup else None,
        jit_compile=setup.jit_compile if setup else False, encoding=fv.encoding,
        verbose=fv.verbose, **{name: fv[name].value for name in _RECIPE})


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
