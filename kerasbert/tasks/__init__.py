"""Tasks: one module each, holding the task's definition (loss, metrics,
predictions), its Keras model and its preprocessor, registered once by name
(`kerasbert.tasks.registry`)."""

from kerasbert.tasks.registry import get_task, model_class, register_task, task_names

TASK_NAMES = task_names()

__all__ = ["TASK_NAMES", "get_task", "model_class", "register_task", "task_names"]
