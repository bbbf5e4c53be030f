"""A fine-tuned sentence-classification run directory (what `kerasbert.train`
writes: `encoder/`, `head.safetensors`, `kerasbert_task.json`) as a Hugging
Face `BertForSequenceClassification` directory that transformers loads with
the same logits:

    config.json         architectures ["BertForSequenceClassification"],
                        num_labels, id2label / label2id (the run's labels),
                        problem_type (single_label_classification,
                        multi_label_classification or regression)
    model.safetensors   `bert.*` (the encoder with its pooler) and
                        `classifier.weight` `[num_labels, hidden]` /
                        `classifier.bias` (the head, transposed to Linear's layout)
    vocab.txt, tokenizer_config.json   the run's tokenizer

Only runs whose head reads BERT's [CLS] pooler (`pooling` "cls") convert:
transformers' model has no mean pooling.
"""

import os

import tensorflow as tf

from kerasbert.checkpoints import hf_checkpoint
from kerasbert.checkpoints.name_map import hf_name
from kerasbert.checkpoints.safetensors_file import read_arrays

# kerasbert's label types -> transformers' problem_type.
PROBLEM_TYPES = {"categorical": "single_label_classification",
                 "multi_label": "multi_label_classification",
                 "regression": "regression"}
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "tokenizer.json",
                   "special_tokens_map.json")


def classifier_problem(task_config):
    """transformers' problem_type for a run's `kerasbert_task.json`; a ValueError
    (one line) for a run that BertForSequenceClassification cannot hold."""
    from kerasbert.tasks.registry import task_attribute

    task = task_config["task"]
    problem = PROBLEM_TYPES.get(task_attribute(task, "label_type"))
    if problem is None or task_config.get("head", "pooled") != "pooled":
        raise ValueError(f"a {task} run has no Hugging Face BertForSequenceClassification "
                         "form; only classification, multilabel and regression runs convert")
    pooling = task_config.get("pooling", "cls")
    if pooling != "cls":
        raise ValueError(f"this run's head reads the {pooling} of the token vectors "
                         f"(pooling {pooling!r}), but BertForSequenceClassification reads "
                         "the [CLS] pooler; train with --pooling=cls to convert it")
    return problem


def export_hf_classifier(run_dir, output_dir):
    """Write the run directory `run_dir` as a BertForSequenceClassification
    directory in `output_dir` (see the module doc); returns its parameter count."""
    from kerasbert.checkpoints.loading import read_checkpoint
    from kerasbert.tasks.model_directory import (ENCODER_DIR, HEAD_FILE, read_task_config)

    run_dir, output_dir = str(run_dir), str(output_dir)
    meta = read_task_config(run_dir)
    problem = classifier_problem(meta)
    encoder_dir = os.path.join(run_dir, ENCODER_DIR)
    bert_config, encoder = read_checkpoint(encoder_dir)
    arrays = {}
    for name, array in encoder.items():
        hf, transpose = hf_name(name)
        arrays["bert." + hf] = array.T if transpose else array
    head = read_arrays(os.path.join(run_dir, HEAD_FILE))
    kernel, bias = head["kernel"], head["bias"]  # Dense: [hidden, num_labels]
    if kernel.shape != (bert_config["hidden_size"], meta["num_outputs"]):
        raise ValueError(f"{run_dir}/{HEAD_FILE}: head kernel of shape {kernel.shape} does "
                         f"not map hidden size {bert_config['hidden_size']} to "
                         f"{meta['num_outputs']} outputs")
    arrays["classifier.weight"], arrays["classifier.bias"] = kernel.T, bias
    labels = meta.get("labels") or [f"LABEL_{i}" for i in range(meta["num_outputs"])]
    if len(labels) != meta["num_outputs"]:
        labels = [f"LABEL_{i}" for i in range(meta["num_outputs"])]  # regression's target name
    config = {**bert_config, "num_labels": len(labels), "problem_type": problem,
              "id2label": {str(i): str(name) for i, name in enumerate(labels)},
              "label2id": {str(name): i for i, name in enumerate(labels)}}
    hf_checkpoint.write_directory(output_dir, arrays, config,
                                  architecture="BertForSequenceClassification")
    for name in TOKENIZER_FILES:
        source = os.path.join(encoder_dir, name)
        if tf.io.gfile.exists(source):
            tf.io.gfile.copy(source, os.path.join(output_dir, name), overwrite=True)
    return sum(int(a.size) for a in arrays.values())
