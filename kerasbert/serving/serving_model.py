"""The SavedModel of a fine-tuned model: raw strings in, labels and scores out.

    export_saved_model("runs/sentiment", "exported/sentiment")   # a model directory
    export_task_model(model, "exported/sentiment")                # a Keras task model

    # anywhere, with only TensorFlow and tensorflow-text installed:
    import tensorflow as tf, tensorflow_text  # noqa: registers the tokenizer ops
    serve = tf.saved_model.load("exported/sentiment").signatures["serving_default"]
    serve(text=tf.constant(["a gripping film"]))
    # {"labels": [b"1"], "scores": [0.93], "probabilities": [[0.07, 0.93]]}

Tokenization runs in the graph (tensorflow-text's FastWordpieceTokenizer in
the BertTokenizer layer), so a client sends text, not token ids. Signatures:

- `serving_default`: the task's inputs (`text`, plus `text_pair` for pair
  models; NER: `text`, raw text, its entities character spans of it; QA: `question`, `context`),
  each a 1-D string tensor, and the task's outputs (see its signature, e.g.
  `tasks.classification.ClassificationSignature`).
- `metadata`: no inputs; `task` (scalar string) and `label_names` (the order
  of the `probabilities` columns).
- `explain` (classification, multi-label, regression): the inputs of
  `serving_default`; integrated gradients of the predicted label's score on
  the embedding output (`kerasbert.tasks.integrated_gradients`, 32 steps):
  `tokens` string `[n, seq]` ("" after each row's last token),
  `attributions` float32 `[n, seq]`, `score`, `baseline_score` `[n]`, `label`
  string `[n]` ("" for regression). NER and QA models have no `explain`
  signature: their explanations (an entity list per row; the answer's start
  and end) are Python's (`Predictor.explain`, `python -m kerasbert.explain`).

`assets.extra/kerasbert_task.json` is the model directory's task config.
"""

import os
import shutil

import tensorflow as tf

from kerasbert.paths import is_remote
from kerasbert.serving.model_info import TASK_FILE

EXPLAIN_STEPS = 32  # integrated-gradients steps of the `explain` signature


def supports_explain(task_name):
    """Whether the SavedModel of a `task_name` model gets an `explain` signature."""
    from kerasbert.tasks.integrated_gradients import supports_signature

    return supports_signature(task_name)


class ServingModel(tf.Module):
    """Tokenizer, task model and postprocessing as one `tf.Module`.

    Args:
        model: the task model (a `BertTask`).
        task_io: its `TaskIO` (holds the tokenizer and the task).
        explain_steps: steps of the `explain` signature's integrated gradients
            (0: no `explain` signature).
    """

    def __init__(self, model, task_io, explain_steps=EXPLAIN_STEPS):
        super().__init__(name="kerasbert_serving")
        # The model's variables are tracked, not the model: a model after `fit`
        # would bring its optimizer's slots and metrics into the SavedModel.
        object.__setattr__(self, "model", model)  # untracked
        self.model_variables = list(model.variables)
        self.tokenizer = task_io.tokenizer
        self._task_io = task_io
        self.serve = tf.function(self._serve, input_signature=task_io.input_signature(),
                                 autograph=False)
        self.metadata = tf.function(task_io.metadata, input_signature=[], autograph=False)
        self.explain = None
        if explain_steps and supports_explain(task_io.task.name):
            from kerasbert.tasks.integrated_gradients import Explainer

            explainer = Explainer(model, task_io.tokenizer, task_io.task.name,
                                  task_io.task.labels, explain_steps)
            pair = len(task_io.input_names) > 1
            self.explain = tf.function(
                (lambda text, text_pair: explainer.serving_outputs(text, text_pair)) if pair
                else (lambda text: explainer.serving_outputs(text)),
                input_signature=[tf.TensorSpec([None], tf.string, name=name)
                                 for name in task_io.input_names], autograph=False)

    @property
    def input_names(self):
        """The signature's inputs, e.g. ("text",) or ("text", "text_pair")."""
        return self._task_io.input_names

    def _serve(self, *inputs):
        """`inputs`: 1-D string tensors, in `task_io.input_names` order."""
        io = self._task_io
        logits, extras = io.logits(self.model, dict(zip(io.input_names, inputs)))
        return io.serving_outputs(logits, extras)

    def signatures(self):
        """{signature name: tf.function} for `tf.saved_model.save`. Functions, not
        concrete functions: the save traces them itself (in its own context), so a
        trace made before it would be a second, wasted one (BERT-Base: seconds each)."""
        signatures = {"serving_default": self.serve, "metadata": self.metadata}
        if self.explain is not None:
            signatures["explain"] = self.explain
        return signatures


def export_saved_model(model_dir, export_dir, predictor=None):
    """Write the SavedModel of the model directory `model_dir` to `export_dir`.

    Args:
        model_dir: what `kerasbert.train` wrote (`--output_dir`).
        export_dir: the SavedModel directory (created; files there are replaced).
        predictor: an already loaded `Predictor` of `model_dir` (saves a reload).

    Returns:
        The `ServingModel` that was saved.
    """
    from kerasbert.serving.predictor import Predictor

    return _save(predictor or Predictor.from_directory(model_dir), export_dir)


def export_task_model(model, export_dir, text_pair=False):
    """Write the SavedModel of a Keras task model in memory (with its
    preprocessor) to `export_dir`: the same signatures as `kerasbert.export`
    writes for a model directory, raw strings in.

        model = kerasbert.BertClassifier.from_preset("all_minilm_l6_v2", num_classes=2)
        model.compile()
        model.fit(texts, labels)
        export_task_model(model, "exported/sentiment")

    `text_pair`: the model reads sentence pairs (a `text_pair` input).
    Returns the `ServingModel` that was saved.
    """
    from kerasbert.serving.predictor import Predictor

    return _save(Predictor.from_model(model, text_pair), export_dir)


def _save(predictor, export_dir):
    """The predictor's model and task IO as a SavedModel, with its task config
    in `assets.extra/`."""
    import json

    module = ServingModel(predictor.model, predictor.io)
    tf.saved_model.save(module, str(export_dir), signatures=module.signatures())
    extra = os.path.join(str(export_dir), "assets.extra")
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, TASK_FILE), "w") as f:
        json.dump(predictor.info, f, indent=2)
    return module


def signature_outputs(export_dir, name="serving_default"):
    """The output names of a written SavedModel's signature `name`, read from its
    saved_model.pb (no function is loaded or traced)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(str(export_dir), "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    return list(saved.meta_graphs[0].signature_def[name].outputs)


def remove_export_dir(export_dir):
    """Delete an earlier export (`--overwrite`)."""
    if tf.io.gfile.exists(str(export_dir)):
        if is_remote(export_dir):
            tf.io.gfile.rmtree(str(export_dir))
        else:
            shutil.rmtree(str(export_dir))
