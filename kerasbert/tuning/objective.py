"""The search objective: a dev metric of the task, and whether higher is better.

By default the task's own main metric (accuracy for classification, Pearson
for regression, micro-F1 for multilabel, entity F1 for NER, SQuAD F1 for
QA), computed by `fine_tune` over the whole dev set. `--objective` names any
other dev metric (`f1_macro`, `mcc`, `spearman`, `exact_match`, ...),
optionally with its direction: `mse:min`.
"""

import dataclasses

# Dev metrics where lower is better; every other metric is maximised.
LOWER_IS_BETTER = ("loss", "mse", "mae", "rmse", "error", "perplexity")


@dataclasses.dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "max" or "min"

    def to_keras_tuner(self):
        import keras_tuner

        return keras_tuner.Objective(self.name, self.direction)


def resolve_objective(task, spec=None):
    """The Objective of `--objective=spec` (None: the task's main metric).

    Raises:
        ValueError: for a direction other than min / max.
    """
    if not spec:
        from kerasbert.tasks import get_task

        main = get_task(task)
        return Objective(main.main_metric, "max" if main.greater_is_better else "min")
    name, _, direction = spec.partition(":")
    if direction and direction not in ("min", "max"):
        raise ValueError(f"--objective {spec}: the direction after ':' must be min or max")
    if not direction:
        direction = "min" if name.split("/")[-1] in LOWER_IS_BETTER else "max"
    return Objective(name, direction)
