"""Hyperparameter search for fine-tuning, on KerasTuner: `python -m kerasbert.tune`.

    search_space  default spaces per task, the user's YAML (choice / int / float, conditions)
    objective     the task's dev metric and its direction
    hypermodel    FineTuneHyperModel: the recipe as a HyperModel, trained by fine_tune
    oracles       random / bayesian / hyperband / grid with a time budget and a safe resume
    tuner         FineTuneTuner: one fine-tuning per trial execution, failures recorded
    distributed   chief and workers over gRPC (KERASTUNER_* variables)
    records       what each trial did (tuner id, times, metrics, failure reason)
    results       results.csv / .json, best_config.yaml, best_model/, --summary
    plot          search.png

Modules that import KerasTuner (and so TensorFlow) are not imported here.
"""
