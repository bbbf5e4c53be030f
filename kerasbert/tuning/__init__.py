"""Hyperparameter search for fine-tuning, on KerasTuner: `python -m kerasbert.tune`.

    search        run_search(FineTuneConfig, SearchSpace, SearchConfig): the Python API
    search_space  default spaces per task, the user's YAML (choice / int / float, conditions)
    objective     the task's dev metric and its direction
    hypermodel    FineTuneHyperModel: a trial's recipe applied to the FineTuneConfig, trained
                  by fine_tune in this process (no flags per trial)
    oracles       random / bayesian / hyperband / grid with a time budget and a safe resume
    tuner         FineTuneTuner: one fine-tuning per trial execution, failures recorded
    distributed   chief and workers over gRPC (KERASTUNER_* variables)
    records       what each trial did (tuner id, times, metrics, failure reason)
    results       results.csv / .json, best_config.yaml, best_model/, --summary
    plot          search.png

Modules that import KerasTuner (and so TensorFlow) are not imported here.
"""
