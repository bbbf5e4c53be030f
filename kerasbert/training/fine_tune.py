"""Fine-tuning in one call: the Python API behind `python -m kerasbert.train`.

    from kerasbert.training.fine_tune import fine_tune
    metrics = fine_tune(task="classification", train_data="train.csv",
                        eval_data="dev.csv", model="all_minilm_l6_v2",
                        output_dir="runs/sentiment", epochs=2)
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.pipeline import classification_dataset
from kerasbert.distribute.multi_worker import worker_output_dir
from kerasbert.training.config import TrainingConfig
from kerasbert.training.inputs import LABEL_TYPES, read_text_examples

LABELS_FILE = "label_vocabulary.json"


def load_encoder_and_tokenizer(model, max_seq_length, dropout=None):
    """(encoder, tokenizer) from a preset, checkpoint directory or model directory."""
    from kerasbert.encoder.bert_encoder import BertEncoder
    from kerasbert.tasks.model_directory import ENCODER_DIR, is_model_directory
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

    source = os.path.join(model, ENCODER_DIR) if is_model_directory(model) else model
    overrides = {} if dropout is None else {"hidden_dropout_prob": dropout,
                                            "attention_probs_dropout_prob": dropout}
    encoder = BertEncoder.from_preset(source, **overrides)
    positions = encoder.bert_config["max_position_embeddings"]
    if max_seq_length > positions:
        raise ValueError(f"max_seq_length {max_seq_length} is above the model's "
                         f"max_position_embeddings {positions}")
    return encoder, BertTokenizer.from_preset(source, sequence_length=max_seq_length)


def predict_logits(model, dataset):
    """(logits, labels) numpy arrays over a `(features, labels)` dataset."""
    predict = tf.function(lambda features: model(features, training=False), reduce_retracing=True)
    logits, labels = [], []
    for features, batch_labels in dataset:
        logits.append(predict(features).numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(logits), np.concatenate(labels)


def fine_tune(task, train_data, eval_data=None, model="all_minilm_l6_v2", output_dir="runs/model",
              text_column="text", text_pair_column=None, label_column="label",
              max_seq_length=128, batch_mode="bucket", strategy=None, jit_compile=False,
              data_dir=None, encoding="utf-8", dropout=None, verbose=1, **training):
    """Fine-tune `model` on `train_data` for `task`, evaluate on `eval_data`,
    write the model directory, and return the final dev metrics.

    `training` holds TrainingConfig fields (epochs, batch_size, learning_rate,
    warmup_ratio, weight_decay, seed, ...).
    """
    from kerasbert.tasks import get_task
    from kerasbert.tasks.heads import BertTaskModel
    from kerasbert.tasks.model_directory import save_model_directory

    config = TrainingConfig(verbose=verbose, **training).validate()
    keras.utils.set_random_seed(config.seed)
    strategy = strategy or tf.distribute.get_strategy()
    run_dir, output_dir = output_dir, worker_output_dir(output_dir, strategy)
    train = read_text_examples(train_data, task, text_column, label_column, text_pair_column,
                               data_dir=data_dir, encoding=encoding)
    multi = LABEL_TYPES[task] == "multi_label"
    vocabulary = None if task == "regression" else LabelVocabulary.from_examples(train, multi)
    dev = (read_text_examples(eval_data, task, text_column, label_column, text_pair_column,
                              vocabulary, split="validation", data_dir=data_dir,
                              encoding=encoding) if eval_data else None)
    task_spec = get_task(task, vocabulary.labels if vocabulary else None)
    with strategy.scope():
        encoder, tokenizer = load_encoder_and_tokenizer(model, max_seq_length, dropout)
    tf.io.gfile.makedirs(output_dir)
    if vocabulary is not None:
        vocabulary.save(os.path.join(output_dir, LABELS_FILE))

    def model_fn():
        return BertTaskModel(encoder, task_spec.num_outputs)

    def train_dataset_fn(epoch, input_context):
        return classification_dataset(
            train, tokenizer, batch_size=config.batch_size, label_vocabulary=vocabulary,
            label_type=LABEL_TYPES[task], mode=batch_mode, shuffle=True,
            seed=config.seed + epoch, input_context=input_context)

    eval_dataset = (classification_dataset(
        dev, tokenizer, batch_size=config.batch_size, label_vocabulary=vocabulary,
        label_type=LABEL_TYPES[task], mode="bucket") if dev else None)

    def evaluate_fn(trained):
        return task_spec.compute_metrics(*predict_logits(trained, eval_dataset))

    from kerasbert.training.trainer import Trainer

    steps_per_epoch = max(len(train) // config.batch_size, 1)
    trainer = Trainer(model_fn, task_spec, config, run_dir, strategy, jit_compile)
    trainer.fit(train_dataset_fn, steps_per_epoch, evaluate_fn if dev else None)
    save_model_directory(output_dir, trainer.model, task_spec, tokenizer, max_seq_length,
                         text_pair_column is not None)
    metrics = evaluate_fn(trainer.model) if dev else {}
    if dev:
        with tf.io.gfile.GFile(os.path.join(output_dir, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2, sort_keys=True)
    return metrics
