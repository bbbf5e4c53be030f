"""Fine-tuning in one call: the Python API behind `python -m kerasbert.train`.

    from kerasbert.configs.fine_tune import FineTuneConfig
    from kerasbert.training.fine_tune import fine_tune
    config = FineTuneConfig(task="classification", train_data="train.csv",
                            eval_data="dev.csv", output_dir="runs/sentiment", epochs=2)
    metrics = fine_tune(config)
    metrics = fine_tune(config, learning_rate=3e-5, output_dir="runs/sentiment_3e-5")
    metrics = fine_tune(task="qa", train_data="train-v1.1.json", eval_data="dev-v1.1.json",
                        max_seq_length=384, doc_stride=128, output_dir="runs/squad")
"""

import json
import os

import keras
import tensorflow as tf

from kerasbert.adapters.lora import enable_lora, save_adapter
from kerasbert.distribute.multi_worker import worker_output_dir
from kerasbert.configs.fine_tune import FineTuneConfig
from kerasbert.loop.callbacks import say
from kerasbert.loop.trainer import DatasetCreator, TrainingRun, compile_for_run
from kerasbert.training.predictions import predict_logits  # noqa: F401 (public here before)
from kerasbert.training.run_settings import CHECKPOINTS_DIR, remove_training_state
from kerasbert.training.task_data import read_task_data

LABELS_FILE = "label_vocabulary.json"
ADAPTER_FILE = "adapter.safetensors"


def load_encoder_and_tokenizer(model, max_seq_length, dropout=None, random_init=False):
    """(encoder, tokenizer) from a preset, hub handle, checkpoint directory or
    model directory; `random_init` keeps the shape and vocabulary but not the
    weights (the only way to a random encoder)."""
    from kerasbert.encoder.bert_encoder import BertEncoder
    from kerasbert.tasks.model_directory import ENCODER_DIR, is_model_directory
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

    source = os.path.join(model, ENCODER_DIR) if is_model_directory(model) else model
    overrides = {} if dropout is None else {"hidden_dropout_prob": dropout,
                                            "attention_probs_dropout_prob": dropout}
    encoder = BertEncoder.from_preset(source, load_weights=not random_init, **overrides)
    positions = encoder.bert_config["max_position_embeddings"]
    if max_seq_length > positions:
        raise ValueError(f"max_seq_length {max_seq_length} is above the model's "
                         f"max_position_embeddings {positions}")
    return encoder, BertTokenizer.from_preset(source, sequence_length=max_seq_length)


def _declared_pooling(model):
    """The pooling `model` declares: a model directory's stored choice, else
    what its checkpoint says (`checkpoints.sources.declared_pooling`)."""
    from kerasbert.checkpoints.sources import declared_pooling
    from kerasbert.tasks.model_directory import is_model_directory, read_task_config

    if is_model_directory(model):
        return read_task_config(model).get("pooling", "cls")
    return declared_pooling(model)


def fine_tune(config=None, strategy=None, jit_compile=False, **settings):
    """Fine-tune `config.model` on `config.train_data` for `config.task`,
    evaluate on `config.eval_data`, write the model directory
    (`config.output_dir`), and return the final dev metrics.

    Args:
        config: a `FineTuneConfig` (every setting of `python -m kerasbert.train`,
            under its flag's name; see their help there).
        strategy: the tf.distribute strategy (default: TensorFlow's current one).
        jit_compile: compile the train step with XLA.
        **settings: settings of `config` to change, or, without `config`, to
            set: `fine_tune(task="ner", train_data=..., epochs=2)`.

    Data by task: "classification" / "regression" / "multilabel" read CSV,
    TSV, JSONL or `tfds:NAME` (`text_column`, `label_column`, ...); "ner"
    reads CoNLL files (token first, tag last); "qa" reads SQuAD JSON, cut into
    windows of `max_seq_length` tokens `doc_stride` apart.

    `adapter="lora"` trains rank-`lora_rank` LoRA adapters and the head only,
    and writes them to `adapter.safetensors` beside the merged model.
    `pooling="auto"` reads what the checkpoint declares. `random_init` builds
    the encoder of `model`'s shape with random weights (never done unless
    asked for). `ner_head="crf"` ("ner") puts a linear-chain CRF over the
    words' tags (`layers.crf`), Viterbi-decoded wherever the model predicts.
    """
    from kerasbert.tasks.model_directory import save_model_directory
    from kerasbert.tasks.registry import model_class

    config = FineTuneConfig(**settings) if config is None else config.replace(**settings)
    config.validate()
    task, model, output_dir = config.task, config.model, config.output_dir or "runs/model"
    max_seq_length, adapter = config.max_seq_length, config.adapter
    keras.utils.set_random_seed(config.seed)
    strategy = strategy or tf.distribute.get_strategy()
    run_dir, output_dir = output_dir, worker_output_dir(output_dir, strategy)
    finished = finished_run(output_dir)
    if finished is not None:
        say(config.verbose, f"{output_dir} holds this run, finished: its model and metrics "
                            "are there (to train it again, --overwrite or another --output_dir)")
        return finished
    data = read_task_data(task, config.train_data, config.eval_data,
                          text_column=config.text_column,
                          text_pair_column=config.text_pair_column,
                          label_column=config.label_column, data_dir=config.data_dir,
                          encoding=config.encoding, task_settings=_task_settings(config),
                          header=config.header, labels=config.labels)
    task_spec = data.task
    with strategy.scope():
        encoder, tokenizer = load_encoder_and_tokenizer(model, max_seq_length, config.dropout,
                                                        config.random_init)
    pooling = _declared_pooling(model) if config.pooling == "auto" else config.pooling
    tf.io.gfile.makedirs(output_dir)
    if data.vocabulary is not None:
        data.vocabulary.save(os.path.join(output_dir, LABELS_FILE))
    inputs = data.inputs(tokenizer, batch_size=config.batch_size, seed=config.seed,
                         batch_mode=config.batch_mode)

    adapter_settings = {}
    with strategy.scope():
        # The task's Keras model (`BertClassifier`, ...), its preprocessor attached.
        task_model = model_class(task).from_parts(
            encoder, tokenizer, task_spec.num_outputs, labels=task_spec.labels, pooling=pooling,
            task_name=task, **task_spec.config().get("settings", {}))
        task_spec.bind(task_model)  # a CRF head's loss reads its transitions
        if adapter == "lora":
            adapter_settings.update(enable_lora(task_model, config.lora_rank,
                                                config.lora_alpha, config.lora_feed_forward))
        elif adapter is not None:
            raise ValueError(f"unknown adapter {adapter!r}; use 'lora'")
        steps_per_epoch = max(inputs.num_train // config.batch_size, 1)
        total_steps = config.max_steps or steps_per_epoch * config.epochs
        compile_for_run(task_model, task_spec, config, total_steps, jit_compile)
    run = TrainingRun(config, task_spec, run_dir, inputs.evaluate_fn)
    task_model.fit(DatasetCreator(inputs.train_dataset_fn), batch_size=config.batch_size,
                   epochs=config.epochs, steps_per_epoch=steps_per_epoch, callbacks=[run])
    save_model_directory(output_dir, task_model, task_spec, tokenizer, max_seq_length,
                         data.text_pair, keras_file=False)  # the adapters: ADAPTER_FILE
    if adapter_settings:
        # The base the adapters apply to, for an adapter bank's checks and messages.
        adapter_settings["base"] = (os.path.abspath(model) if os.path.isdir(str(model))
                                    else str(model))
        save_adapter(task_model, os.path.join(output_dir, ADAPTER_FILE), adapter_settings)
    metrics = _final_metrics(run.trainer, inputs.evaluate_fn)
    if inputs.evaluate_fn:
        from kerasbert.training.dev_report import write_dev_report

        write_dev_report(output_dir, task_model, task_spec, tokenizer, metrics,
                         config.eval_data, (config.text_column, config.text_pair_column,
                                            config.label_column), config.batch_size,
                         config.encoding, config.data_dir, config.header)
    if not config.keep_checkpoints:
        remove_training_state(output_dir)
    return metrics


def finished_run(output_dir):
    """The final dev metrics of the run `output_dir` holds when it finished
    (its model written, its training state removed: `metrics.json`, {} for a
    run without dev data), else None."""
    from kerasbert.metrics.report import METRICS_FILE
    from kerasbert.tasks.model_directory import is_model_directory

    if not is_model_directory(output_dir) or tf.io.gfile.exists(
            os.path.join(output_dir, CHECKPOINTS_DIR)):
        return None
    path = os.path.join(output_dir, METRICS_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def _task_settings(config):
    """The settings of `config.task` (its `setting_names`) in `config` (None:
    the task has none). `case_markers` on is an error for a task without it."""
    from kerasbert.tasks.registry import listing, task_attribute, tasks_with

    names = task_attribute(config.task, "setting_names")
    if config.case_markers and "case_markers" not in names:
        raise ValueError(f"case_markers applies to the "
                         f"{listing(tasks_with('setting_names', 'case_markers'), 'or')} task, "
                         f"not {config.task!r}")
    if config.ner_head != "softmax" and "ner_head" not in names:
        raise ValueError(f"ner_head applies to the "
                         f"{listing(tasks_with('setting_names', 'ner_head'), 'or')} task, "
                         f"not {config.task!r}")
    return {name: getattr(config, name) for name in names} or None


def _final_metrics(trainer, evaluate_fn):
    """The dev metrics of the weights the trainer ended with: those of its best
    evaluation when it restored them (no second pass over the dev set)."""
    if evaluate_fn is None:
        return {}
    task, config = trainer.task, trainer.config
    if config.restore_best and trainer.history:
        sign = 1 if task.greater_is_better else -1
        best = max(trainer.history, key=lambda record: sign * record[task.main_metric])
        return {k: v for k, v in best.items() if k not in ("step", "epoch", "train_seconds")}
    return trainer.evaluate(evaluate_fn)  # under the trainer's strategy, with eval_examples
