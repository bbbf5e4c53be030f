"""Task definitions (loss, metrics, predictions) and task models."""

import importlib

_TASKS = {
    "classification": ("kerasbert.tasks.classification", "ClassificationTask"),
    "regression": ("kerasbert.tasks.regression", "RegressionTask"),
    "multilabel": ("kerasbert.tasks.multilabel", "MultiLabelTask"),
    "ner": ("kerasbert.tasks.token_classification", "TokenClassificationTask"),
    "qa": ("kerasbert.tasks.question_answering", "QuestionAnsweringTask"),
}
TASK_NAMES = tuple(_TASKS)


def get_task(name, labels=None, **settings):
    """The Task named `name` with its label names (and task settings, e.g.
    the QA task's `version_2_with_negative`)."""
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASK_NAMES)}")
    module, cls = _TASKS[name]
    return getattr(importlib.import_module(module), cls)(labels, **settings)
