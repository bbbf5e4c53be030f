"""Fine-tuning in one call: the Python API behind `python -m kerasbert.train`.

    from kerasbert.training.fine_tune import fine_tune
    metrics = fine_tune(task="classification", train_data="train.csv",
                        eval_data="dev.csv", model="all_minilm_l6_v2",
                        output_dir="runs/sentiment", epochs=2)
    metrics = fine_tune(task="ner", train_data="conll/train.txt",
                        eval_data="conll/valid.txt", output_dir="runs/ner")
    metrics = fine_tune(task="qa", train_data="train-v1.1.json",
                        eval_data="dev-v1.1.json", max_seq_length=384, doc_stride=128,
                        output_dir="runs/squad")
"""

import os

import keras
import tensorflow as tf

from kerasbert.adapters.lora import enable_lora, save_adapter
from kerasbert.distribute.multi_worker import worker_output_dir
from kerasbert.configs.training import TrainingConfig
from kerasbert.training.predictions import predict_logits  # noqa: F401 (public here before)
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


def fine_tune(task, train_data, eval_data=None, model="all_minilm_l6_v2", output_dir="runs/model",
              text_column="text", text_pair_column=None, label_column="label",
              max_seq_length=128, batch_mode="bucket", strategy=None, jit_compile=False,
              data_dir=None, encoding="utf-8", dropout=None, verbose=1, doc_stride=128,
              max_query_length=64, version_2_with_negative=False, null_score_diff_threshold=0.0,
              n_best_size=20, max_answer_length=30, adapter=None, lora_rank=8, lora_alpha=None,
              lora_feed_forward=False, pooling="auto", case_markers=False, ner_head="softmax",
              header="auto", random_init=False, labels=None, **training):
    """Fine-tune `model` on `train_data` for `task`, evaluate on `eval_data`,
    write the model directory, and return the final dev metrics.

    Data by task: "classification" / "regression" / "multilabel" read CSV,
    TSV, JSONL or `tfds:NAME` (`text_column`, `label_column`, ...); "ner"
    reads CoNLL files (token first, tag last); "qa" reads SQuAD JSON, cut into
    windows of `max_seq_length` tokens `doc_stride` apart with questions of at
    most `max_query_length` tokens; `version_2_with_negative` allows
    unanswerable questions (SQuAD v2.0, no answer above
    `null_score_diff_threshold`); `n_best_size` and `max_answer_length` bound
    the answer search.

    `adapter="lora"` trains rank-`lora_rank` LoRA adapters (attention, and
    feed-forward with `lora_feed_forward`) and the head only, and writes them
    to `adapter.safetensors` beside the merged model.

    `pooling` picks the vector a sentence-level head reads: "cls" (BERT's
    pooler), "mean" (the mean of the token vectors, which sentence-embedding
    checkpoints such as all-MiniLM-L6-v2 are trained for) or "auto": what the
    checkpoint declares (a sentence-transformers pooling config, a model
    directory's stored choice).

    `random_init` builds the encoder of `model`'s shape with random weights
    (its vocabulary is still `model`'s): never done unless asked for.

    `case_markers` ("ner") marks capitalised and all-caps words with a piece
    of their own, so that an uncased encoder sees the case of names.
    `ner_head` ("ner"): "softmax", or "crf" for a linear-chain CRF over the
    words' tags (`layers.crf`), Viterbi-decoded wherever the model predicts.

    `encoding` is the data files' text encoding; `header` ("auto", "yes",
    "no") says whether CSV / TSV files start with a header row.

    `labels` (classification, multilabel) is the label vocabulary in id
    order; by default the training labels, integer-like ones by value.

    `training` holds TrainingConfig fields (epochs, batch_size, learning_rate,
    warmup_ratio, weight_decay, seed, ...).
    """
    from kerasbert.tasks.heads import BertTaskModel
    from kerasbert.tasks.model_directory import save_model_directory
    from kerasbert.training.trainer import Trainer

    config = TrainingConfig(verbose=verbose, **training).validate()
    keras.utils.set_random_seed(config.seed)
    strategy = strategy or tf.distribute.get_strategy()
    run_dir, output_dir = output_dir, worker_output_dir(output_dir, strategy)
    settings = dict(doc_stride=doc_stride, max_query_length=max_query_length,
                    version_2_with_negative=version_2_with_negative,
                    null_score_diff_threshold=null_score_diff_threshold,
                    n_best_size=n_best_size, max_answer_length=max_answer_length,
                    case_markers=case_markers, ner_head=ner_head)
    data = read_task_data(task, train_data, eval_data, text_column=text_column,
                          text_pair_column=text_pair_column, label_column=label_column,
                          data_dir=data_dir, encoding=encoding,
                          task_settings=_task_settings(task, settings),
                          header=header, labels=labels)
    task_spec = data.task
    with strategy.scope():
        encoder, tokenizer = load_encoder_and_tokenizer(model, max_seq_length, dropout,
                                                        random_init)
    pooling = _declared_pooling(model) if pooling == "auto" else pooling
    tf.io.gfile.makedirs(output_dir)
    if data.vocabulary is not None:
        data.vocabulary.save(os.path.join(output_dir, LABELS_FILE))
    inputs = data.inputs(tokenizer, batch_size=config.batch_size, seed=config.seed,
                         batch_mode=batch_mode)

    adapter_settings = {}

    def model_fn():
        task_model = BertTaskModel(encoder, task_spec.num_outputs, task_spec.head,
                                   pooling=pooling, crf=getattr(task_spec, "uses_crf", False))
        task_spec.bind(task_model)  # a CRF head's loss reads its transitions
        if adapter == "lora":
            adapter_settings.update(enable_lora(task_model, lora_rank, lora_alpha,
                                                lora_feed_forward))
        elif adapter is not None:
            raise ValueError(f"unknown adapter {adapter!r}; use 'lora'")
        return task_model

    steps_per_epoch = max(inputs.num_train // config.batch_size, 1)
    trainer = Trainer(model_fn, task_spec, config, run_dir, strategy, jit_compile)
    trainer.fit(inputs.train_dataset_fn, steps_per_epoch, inputs.evaluate_fn)
    save_model_directory(output_dir, trainer.model, task_spec, tokenizer, max_seq_length,
                         data.text_pair)
    if adapter_settings:
        # The base the adapters apply to, for an adapter bank's checks and messages.
        adapter_settings["base"] = (os.path.abspath(model) if os.path.isdir(str(model))
                                    else str(model))
        save_adapter(trainer.model, os.path.join(output_dir, ADAPTER_FILE), adapter_settings)
    metrics = _final_metrics(trainer, inputs.evaluate_fn)
    if inputs.evaluate_fn:
        from kerasbert.training.dev_report import write_dev_report

        write_dev_report(output_dir, trainer.model, task_spec, tokenizer, metrics, eval_data,
                         (text_column, text_pair_column, label_column), config.batch_size,
                         encoding, data_dir, header)
    return metrics


def _task_settings(task, settings):
    """The settings of `task` (its `setting_names`) among fine_tune's task
    arguments `settings` (None: the task has none). `case_markers` on is an
    error for a task without it."""
    from kerasbert.tasks.registry import listing, task_attribute, tasks_with

    names = task_attribute(task, "setting_names")
    if settings.get("case_markers") and "case_markers" not in names:
        raise ValueError(f"case_markers applies to the "
                         f"{listing(tasks_with('setting_names', 'case_markers'), 'or')} task, "
                         f"not {task!r}")
    if settings.get("ner_head", "softmax") != "softmax" and "ner_head" not in names:
        raise ValueError(f"ner_head applies to the "
                         f"{listing(tasks_with('setting_names', 'ner_head'), 'or')} task, "
                         f"not {task!r}")
    return {name: settings[name] for name in names} or None


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
