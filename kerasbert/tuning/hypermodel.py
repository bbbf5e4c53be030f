"""The task model and its fine-tuning recipe as one KerasTuner HyperModel.

What a trial varies is not only layers: `build(hp)` declares the search
space's entries (learning rate, batch size, epochs, warm-up share, weight
decay, dropout, layer-wise decay, max sequence length, seed, model, ... any
tunable train setting) and returns the recipe, {setting: value}; `fit` applies
that recipe to the search's `FineTuneConfig` (the settings of
`python -m kerasbert.train` the user gave) and runs `fine_tune` in this
process, under the same strategy as `python -m kerasbert.train`, returning
the dev metrics computed over the whole dev set. No flags are read or parsed
per trial.
"""

import keras_tuner

from kerasbert.training.run_config import run_fine_tune


class FineTuneHyperModel(keras_tuner.HyperModel):
    """A HyperModel whose "model" is a training recipe.

    Args:
        space: a `kerasbert.tuning.search_space.SearchSpace`.
        base_config: the search's `kerasbert.training.run_config.FineTuneConfig`
            (data, task, model and the recipe values that are not tuned).
    """

    def __init__(self, space, base_config):
        super().__init__(name="kerasbert_fine_tune", tunable=True)
        self.space = space
        self.base_config = base_config

    def build(self, hp):
        """Declare the space on `hp`; returns the recipe {setting: value} of the
        active entries (Hyperband's `tuner/epochs` sets the epochs)."""
        recipe = self.space.register(hp)
        if "tuner/epochs" in hp.values:
            recipe["epochs"] = int(hp.values["tuner/epochs"])
        return recipe

    def fit(self, hp, recipe, output_dir=None, seed_offset=0, setup=None):
        """Fine-tune with `recipe` into `output_dir`; returns the dev metrics.

        Args:
            hp: the trial's HyperParameters (unused: the recipe holds the values).
            recipe: {setting: value} from `build`.
            output_dir: the model directory of this execution.
            seed_offset: added to the seed, one per execution of a trial.
            setup: the process's `DistributionSetup` (TPU, GPUs or CPU).
        """
        return run_fine_tune(trial_config(self.base_config, recipe, output_dir, seed_offset),
                             setup)


def trial_config(base_config, recipe, output_dir, seed_offset=0):
    """`base_config` with the recipe's values, the execution's output_dir and its
    seed (the recipe's or the base's, plus `seed_offset`).

    Raises:
        ValueError: a recipe name that is no fine-tuning setting.
    """
    config = base_config.replace(**recipe)
    # The tuner removes a trial's training state itself, once all its executions
    # are done (and keeps it for Hyperband, whose later rounds go on from it).
    return config.replace(output_dir=output_dir, seed=config.seed + seed_offset,
                          keep_checkpoints=True)
