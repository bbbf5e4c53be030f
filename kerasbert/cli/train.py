"""Fine-tune a BERT model on your data.

    python -m kerasbert.train --task=classification \\
        --train_data=train.csv --eval_data=dev.csv --model=all_minilm_l6_v2 \\
        --output_dir=runs/sentiment --epochs=2

Flags follow google-research/bert's scripts. `--config=FILE` (YAML or JSON)
sets any flag; flags given on the command line override it.
"""

import json
import sys

from absl import flags

from kerasbert.cli.flags import (UsageError, check_input_dir, check_input_file,
                                 check_input_files, check_output_dir, check_ranges,
                                 define_reader_flags, is_chief, parse_argv, parse_column, quiet_tensorflow,
                                 output_dir_held, run_main, worker_failures_reported)
from kerasbert.cli.models import fetch_model
from kerasbert.distribute import flags as distribute_flags
from kerasbert.tasks.registry import listing, task_has, task_names, tasks_with

TASKS = task_names()  # the task registry (kerasbert/tasks/registry.py)
FLAGS = flags.FlagValues()


def define_flags(fv):
    """The data, task, model and recipe flags (shared with kerasbert.tune)."""
    flags.DEFINE_string("config", None, "YAML or JSON file of flag values", flag_values=fv)
    flags.DEFINE_enum("task", "classification", TASKS, "the task", flag_values=fv)
    flags.DEFINE_string("train_data", None, "training file or tfds:NAME (ner: CoNLL file, "
                        "qa: SQuAD JSON)", flag_values=fv)
    flags.DEFINE_string("eval_data", None, "dev file or tfds:NAME (ner: CoNLL file, "
                        "qa: SQuAD JSON)", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "TFDS data_dir", flag_values=fv)
    flags.DEFINE_string("text_column", "text", "text column (name or 0-based index)",
                        flag_values=fv)
    flags.DEFINE_string("text_pair_column", None, "second text column", flag_values=fv)
    flags.DEFINE_string("label_column", "label", "label column", flag_values=fv)
    define_reader_flags(fv, labels=True)
    flags.DEFINE_string("model", "all_minilm_l6_v2",
                        "preset (downloaded from the model hub), hf://ORG/NAME[@REVISION], "
                        "HF / TF1 checkpoint directory (local or gs://), or kerasbert model "
                        "directory", flag_values=fv)
    flags.DEFINE_bool("random_init", False, "start from random weights of --model's shape "
                      "(its vocabulary is kept) instead of its pretrained weights",
                      flag_values=fv)
    flags.DEFINE_integer("max_seq_length", 128, "tokens per sequence", flag_values=fv)
    flags.DEFINE_integer("doc_stride", 128, "qa: tokens between the starts of context windows",
                         flag_values=fv)
    flags.DEFINE_integer("max_query_length", 64, "qa: questions are cut to this many tokens",
                         flag_values=fv)
    flags.DEFINE_boolean("version_2_with_negative", False,
                         "qa: SQuAD v2.0, questions may have no answer", flag_values=fv)
    flags.DEFINE_float("null_score_diff_threshold", 0.0, "qa (v2.0): predict no answer when "
                       "the null score beats the best span by more than this", flag_values=fv)
    flags.DEFINE_integer("n_best_size", 20, "qa: start / end candidates per window",
                         flag_values=fv)
    flags.DEFINE_integer("max_answer_length", 30, "qa: longest answer, in tokens",
                         flag_values=fv)
    flags.DEFINE_integer("batch_size", 32, "global batch size", flag_values=fv)
    flags.DEFINE_integer("epochs", 3, "epochs", flag_values=fv)
    flags.DEFINE_float("learning_rate", 5e-5, "peak learning rate", flag_values=fv)
    flags.DEFINE_float("warmup_ratio", 0.1, "share of updates spent warming up", flag_values=fv)
    flags.DEFINE_float("weight_decay", 0.01, "AdamW weight decay", flag_values=fv)
    flags.DEFINE_float("layer_decay", 1.0, "layer-wise learning-rate decay", flag_values=fv)
    flags.DEFINE_float("clip_norm", 1.0, "global-norm gradient clipping (0: off)", flag_values=fv)
    flags.DEFINE_integer("gradient_accumulation_steps", 1, "micro-batches per update",
                         flag_values=fv)
    flags.DEFINE_float("dropout", None, "override the encoder's dropout rates", flag_values=fv)
    flags.DEFINE_integer("seed", 42, "seed for everything", flag_values=fv)
    flags.DEFINE_integer("max_steps", 0, "stop after this many updates (0: all epochs)",
                         flag_values=fv)
    flags.DEFINE_integer("eval_every_steps", 0, "also evaluate every N updates (0: at each "
                         "epoch's end only)",
                         flag_values=fv)
    flags.DEFINE_integer("checkpoint_every_steps", 200, "checkpoint every N updates",
                         flag_values=fv)
    flags.DEFINE_integer("early_stopping_patience", 0, "evals without improvement before "
                         "stopping (0: off)", flag_values=fv)
    flags.DEFINE_enum("batch_mode", "bucket", ["bucket", "static"],
                      "length bucketing (CPU/GPU) or static shapes (TPU/XLA)", flag_values=fv)
    flags.DEFINE_string("output_dir", None, "where the model, metrics and checkpoints go",
                        flag_values=fv)
    flags.DEFINE_integer("verbose", 1, "0: quiet, 1: progress bar", flag_values=fv)
    flags.DEFINE_integer("log_every_steps", 10, "TensorBoard loss every N updates", flag_values=fv)
    flags.DEFINE_float("max_train_seconds", 0, "stop training after this many seconds of train "
                       "steps, evaluate and keep the best (0: no limit)", flag_values=fv)
    flags.DEFINE_integer("steps_per_loop", 0, "updates per compiled call: the host reads the "
                         "losses once per loop (results do not change); 0: the device's "
                         "default, 1 on CPU and 100 on GPU and TPU", flag_values=fv)
    flags.DEFINE_enum("adapter", None, ["lora"], "train LoRA adapters (and the head) only",
                      flag_values=fv)
    flags.DEFINE_integer("lora_rank", 8, "rank of the LoRA adapters", flag_values=fv)
    flags.DEFINE_bool("lora_feed_forward", False, "adapt the feed-forward projections too",
                      flag_values=fv)
    flags.DEFINE_enum("pooling", "auto", ["auto", "cls", "mean"], "sentence-level heads read "
                      "the [CLS] pooler (cls) or the mean of the token vectors (mean); auto: "
                      "what the checkpoint declares (mean for sentence-transformers "
                      "checkpoints, cls otherwise)", flag_values=fv)
    flags.DEFINE_bool("case_markers", False, "ner: mark capitalised and all-caps words with a "
                      "piece of their own, so an uncased encoder sees the case", flag_values=fv)
    flags.DEFINE_enum("ner_head", "softmax", ["softmax", "crf"], "ner: tag each word with its "
                      "own softmax, or with a linear-chain CRF over the sentence's words "
                      "(Viterbi decoding, kept in the exported SavedModel)", flag_values=fv)
    distribute_flags.define_flags(fv)


define_flags(FLAGS)
flags.DEFINE_boolean("overwrite", False, "start afresh in an --output_dir that holds a run with "
                     "other settings, removing that run's files (without it, a run with the "
                     "same settings resumes and one with others is an error)", flag_values=FLAGS)
_RECIPE = ("batch_size", "epochs", "learning_rate", "warmup_ratio", "weight_decay", "layer_decay",
           "clip_norm", "gradient_accumulation_steps", "seed", "max_steps", "eval_every_steps",
           "checkpoint_every_steps", "early_stopping_patience", "log_every_steps",
           "max_train_seconds", "steps_per_loop")


def parse(argv, fv=FLAGS):
    """Parse argv (program name first), apply --config, and check every value."""
    parse_argv(fv, argv, __doc__)
    if fv.config:
        apply_config_file(fv, fv.config)
    check_flags(fv)
    return fv


def apply_config_file(fv, path):
    """Set flags from a YAML/JSON file, except those given on the command line."""
    check_input_file(path, "--config")
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    if path.endswith(".json"):
        values = json.loads(text)
    else:
        import yaml

        values = yaml.safe_load(text)
    if not isinstance(values, dict):
        raise UsageError(f"--config file {path} must hold a mapping of flag names to values")
    for name, value in values.items():
        if name not in fv:
            raise UsageError(f"--config file {path}: unknown flag {name!r}")
        if not fv[name].present:
            try:
                fv[name].value = fv[name].parser.parse(value) if isinstance(value, str) else value
            except ValueError as err:
                raise UsageError(f"--config file {path}: {name}: {err}") from None


def check_flags(fv):
    """Every flag checked before any work starts: one line per problem."""
    if not fv.train_data:
        raise UsageError("--train_data is required")
    if not fv.output_dir:
        raise UsageError("--output_dir is required")
    check_ranges(fv)
    check_input_files(fv, ("train_data", "eval_data"), allow_tfds=True)
    check_input_dir(fv.data_dir, "--data_dir")
    check_output_dir(fv.output_dir)
    if fv.batch_size % fv.gradient_accumulation_steps:
        raise UsageError(f"--batch_size {fv.batch_size} is not divisible by "
                         f"--gradient_accumulation_steps {fv.gradient_accumulation_steps}")
    # What the task takes, read from its class without importing TensorFlow.
    for flag, attribute, value in (("case_markers", "setting_names", "case_markers"),
                                   ("ner_head", "setting_names", "ner_head"),
                                   ("labels", "accepts_label_list", True)):
        given = fv[flag].value != fv[flag].default if flag == "ner_head" else fv[flag].value
        if given and not task_has(fv.task, attribute, value):
            takers = listing(tasks_with(attribute, value), "or")
            raise UsageError(f"--{flag} applies to --task={takers}, not {fv.task}")


def fine_tune_config(fv):
    """The run settings of parsed train flags (this program's, or kerasbert.tune's
    fixed ones) as a `FineTuneConfig`: what `run` trains, and what each trial of
    a search starts from."""
    from kerasbert.configs.training import TrainingConfig
    from kerasbert.training.run_config import FineTuneConfig

    return FineTuneConfig(
        task=fv.task, train_data=fv.train_data, eval_data=fv.eval_data, model=fv.model,
        output_dir=fv.output_dir, text_column=parse_column(fv.text_column),
        text_pair_column=parse_column(fv.text_pair_column),
        label_column=parse_column(fv.label_column),
        max_seq_length=fv.max_seq_length, batch_mode=fv.batch_mode, data_dir=fv.data_dir,
        encoding=fv.encoding, dropout=fv.dropout,
        doc_stride=fv.doc_stride, max_query_length=fv.max_query_length,
        version_2_with_negative=fv.version_2_with_negative,
        null_score_diff_threshold=fv.null_score_diff_threshold, n_best_size=fv.n_best_size,
        max_answer_length=fv.max_answer_length, adapter=fv.adapter, lora_rank=fv.lora_rank,
        lora_feed_forward=fv.lora_feed_forward, pooling=fv.pooling, random_init=fv.random_init,
        case_markers=fv.case_markers, ner_head=fv.ner_head, header=fv.header,
        labels=tuple(fv.labels) if fv.labels else None,
        training=TrainingConfig(verbose=fv.verbose, **{name: fv[name].value for name in _RECIPE}))


def run(fv, setup=None):
    """Train with parsed flags under `setup` (a DistributionSetup); returns the metrics."""
    from kerasbert.training.run_config import run_fine_tune

    return run_fine_tune(fine_tune_config(fv), setup)


def run_settings(fv):
    """{flag: value} of what defines a run (kept in run_settings.json): every
    flag but the output place, logging and the devices it runs on."""
    devices = flags.FlagValues()
    distribute_flags.define_flags(devices)
    skip = {"config", "output_dir", "overwrite", "verbose", "steps_per_loop", *devices}
    return {name: fv[name].value for name in fv if fv[name].name == name and name not in skip}


def main(argv=None):
    fv = parse(argv or sys.argv)
    with output_dir_held(fv.output_dir, "kerasbert.train", is_chief()):
        return _train(fv)


def _train(fv):
    from kerasbert.training import run_settings as settings_file

    settings = run_settings(fv)
    defaults = {name: fv[name].default for name in settings}
    settings_file.check_settings(fv.output_dir, settings, defaults, fv.overwrite)
    model_line = fetch_model(fv.model, fv.random_init)
    setup = distribute_flags.setup_from_flags(fv)  # before TF initialises its devices
    quiet_tensorflow()
    from kerasbert.training.trainer import resolve_steps_per_loop

    print(f"{setup.describe(fv.batch_size)}, "
          f"{resolve_steps_per_loop(fv.steps_per_loop, setup.strategy)} updates per loop; "
          f"{model_line}", flush=True)
    settings_file.start_run(fv.output_dir, settings, fv.overwrite and is_chief())
    with worker_failures_reported():
        metrics = run(fv, setup)
    if metrics:
        width = max(len(k) for k in metrics)
        print("dev metrics:")
        for name, value in sorted(metrics.items()):
            if isinstance(value, float):
                print(f"  {name:<{width}}  {value:.4f}")
    print(f"model written to {fv.output_dir}")
    return 0


if __name__ == "__main__":
    run_main(main)
