"""One fine-tuning run's settings as a plain record, and the call that runs it.

    from kerasbert.training.run_config import FineTuneConfig, run_fine_tune

    config = FineTuneConfig(train_data="train.tsv", eval_data="dev.tsv",
                            text_column="sentence", output_dir="runs/sst2")
    trial = config.replace(learning_rate=3e-5, batch_size=16, output_dir="runs/trial_1")
    metrics = run_fine_tune(trial)

`FineTuneConfig` (`kerasbert.configs.fine_tune`) holds every setting of
`python -m kerasbert.train` under its flag's name and default; the command
line builds one from its flags, the tuner replaces each trial's values.
"""

from kerasbert.configs.fine_tune import FineTuneConfig  # noqa: F401 (public here)
from kerasbert.configs.training import TrainingConfig  # noqa: F401


def run_fine_tune(config, setup=None):
    """`fine_tune` with `config` under `setup`; returns the final dev metrics.

    Args:
        config: a `FineTuneConfig` (its `output_dir` set).
        setup: the process's `kerasbert.distribute.DistributionSetup` (strategy,
            XLA); None: TensorFlow's default strategy, no XLA. Where XLA
            compiles the step (always on TPU) batches have static shapes,
            whatever `config.batch_mode` says.
    """
    from kerasbert.training.fine_tune import fine_tune

    if setup is not None and (setup.kind == "tpu" or setup.jit_compile):
        config = config.replace(batch_mode="static")
    return fine_tune(config, strategy=setup.strategy if setup else None,
                     jit_compile=setup.jit_compile if setup else False)
