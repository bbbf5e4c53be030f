"""A fine-tuned model directory, ready to predict and evaluate in Python.

    predictor = Predictor.from_directory("runs/sentiment")
    predictor.predict({"text": ["a gripping film"]})
    # [{"label": "1", "score": 0.93, "probabilities": {"0": 0.07, "1": 0.93}}]
"""

import os

from kerasbert.serving.task_io import Columns, check_inputs, get_task_io

LABELS_FILE = "label_vocabulary.json"  # = training.fine_tune.LABELS_FILE


class Predictor:
    """A task model with its tokenizer, task and `TaskIO`.

    Args:
        model: the task model (a `BertTask`).
        task: its `kerasbert.tasks.Task`.
        tokenizer: its BertTokenizer.
        info: the model directory's task config (`kerasbert_task.json`).
    """

    def __init__(self, model, task, tokenizer, info):
        self.model, self.task, self.tokenizer, self.info = model, task, tokenizer, info
        self.io = get_task_io(task, tokenizer, info)

    @classmethod
    def from_directory(cls, directory):
        """Load what `kerasbert.train` wrote into `directory`; its saved label
        vocabulary must agree with the task's labels."""
        from kerasbert.tasks.model_directory import load_model_directory

        model, task, tokenizer, info = load_model_directory(directory)
        check_label_vocabulary(directory, task)
        return cls(model, task, tokenizer, info)

    @classmethod
    def from_model(cls, model, text_pair=False):
        """Serve a Keras task model in memory (`kerasbert.BertClassifier`, ...,
        with its preprocessor) as `from_directory` serves its preset;
        `text_pair`: it reads sentence pairs."""
        from kerasbert.tasks.model_directory import task_info

        preprocessor = getattr(model, "preprocessor", None)
        if preprocessor is None:
            raise ValueError("serving a model needs its preprocessor (its tokenizer): build it "
                             "with one, or from_preset")
        task = model.task_spec()
        return cls(model, task, preprocessor.tokenizer,
                   task_info(model, task, preprocessor.sequence_length, text_pair))

    @classmethod
    def from_litert(cls, path, num_threads=None):
        """A predictor of a `.tflite` file written by `python -m kerasbert.export
        --format=litert`, run by the LiteRT interpreter (`ai-edge-litert`, with
        tensorflow-text's kernels): `predict` and `read_inputs` as here
        (`kerasbert.serving.litert.LiteRTPredictor`)."""
        from kerasbert.serving.litert import LiteRTPredictor

        return LiteRTPredictor(path, num_threads)

    @property
    def input_names(self):
        """The raw inputs a row has, e.g. ("text",) or ("text", "text_pair")."""
        return self.io.input_names

    def predict(self, inputs, batch_size=32, stride=None):
        """One prediction record per row of `inputs` (`{input name: [str]}`).

        `stride`: classify texts longer than the model's sequence by windows
        `stride` wordpieces apart, averaging the class probabilities (None:
        texts are truncated)."""
        if stride is None:
            return self.io.predict(self.model, inputs, batch_size)
        self._check_windows()
        return self.io.predict_windows(self.model, inputs, stride, batch_size)

    def explain(self, inputs, target=None, steps=32, batch_size=4):
        """Integrated-gradients records, one per row of `inputs` (`{input name:
        [str]}`, as `predict`): label, score, baseline score, tokens and their
        attributions, words (`kerasbert.tasks.integrated_gradients`); NER:
        per predicted entity; QA: the answer's start and end
        (`kerasbert.tasks.explain_ner_qa`). `target`: a label name or index
        (default: each row's predicted label; NER and QA take none)."""
        from kerasbert.tasks.integrated_gradients import cached_explainer

        check_inputs(inputs, self.input_names)
        explainer = cached_explainer(self.model, self.tokenizer, self.task.name,
                                     self.task.labels, steps,
                                     self.task.config().get("settings"))
        names = self.input_names
        pairs = inputs[names[1]] if len(names) > 1 else None
        return explainer.explain(inputs[names[0]], pairs, target, batch_size)

    def evaluate(self, path, columns=None, batch_size=32, encoding="utf-8", data_dir=None,
                 stride=None):
        """An `Evaluation` (metrics, confusion matrix) on a labelled file or a
        `tfds:NAME` source (with its local `data_dir`); `stride` as in `predict`."""
        columns = columns or Columns()
        if stride is None:
            return self.io.evaluate(self.model, path, columns, batch_size, encoding, data_dir)
        self._check_windows()
        return self.io.evaluate_windows(self.model, path, columns, stride, batch_size, encoding,
                                        data_dir)

    def _check_windows(self):
        if not self.io.supports_windows:
            raise ValueError("windows over long texts (--stride) apply to single-label "
                             f"classification, not to {self.task.name}")

    def read_inputs(self, path, columns=None, encoding="utf-8"):
        """`{input name: [str]}` from a CSV / TSV / JSONL file."""
        return self.io.read_inputs(path, columns or Columns(), encoding)


def check_label_vocabulary(directory, task):
    """The label vocabulary saved beside the model must list the task's labels
    in the same order (ids would be misread otherwise)."""
    from kerasbert.data.label_vocabulary import LabelVocabulary

    path = os.path.join(str(directory), LABELS_FILE)
    if task.labels is None or not os.path.exists(path):
        return
    saved = LabelVocabulary.load(path).labels
    if list(saved) != list(task.labels):
        raise ValueError(f"{path}: labels {saved} differ from the task's {task.labels} "
                         f"in kerasbert_task.json")
