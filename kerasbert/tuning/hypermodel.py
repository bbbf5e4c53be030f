"""The task model and its fine-tuning recipe as one KerasTuner HyperModel.

What a trial varies is not only layers: `build(hp)` declares the search
space's entries (learning rate, batch size, epochs, warm-up share, weight
decay, dropout, layer-wise decay, max sequence length, seed, model, ... any
tunable train flag) and returns the recipe, {train flag: value}; `fit` runs
`kerasbert.train` with the user's flags plus that recipe, through the same
`fine_tune` call and strategy as `python -m kerasbert.train`, and returns the
dev metrics computed over the whole dev set.
"""

import keras_tuner
from absl import flags

from kerasbert.cli import train as train_cli


class FineTuneHyperModel(keras_tuner.HyperModel):
    """A HyperModel whose "model" is a training recipe.

    Args:
        space: a `kerasbert.tuning.search_space.SearchSpace`.
        base_flags: the parsed train flags of the tune command (data, task,
            model and the recipe values that are not tuned).
    """

    def __init__(self, space, base_flags):
        super().__init__(name="kerasbert_fine_tune", tunable=True)
        self.space = space
        self.base_flags = base_flags

    def build(self, hp):
        """Declare the space on `hp`; returns the recipe {train flag: value} of the
        active entries (Hyperband's `tuner/epochs` sets the epochs)."""
        recipe = self.space.register(hp)
        if "tuner/epochs" in hp.values:
            recipe["epochs"] = int(hp.values["tuner/epochs"])
        return recipe

    def fit(self, hp, recipe, output_dir=None, seed_offset=0, setup=None):
        """Fine-tune with `recipe` into `output_dir`; returns the dev metrics.

        Args:
            hp: the trial's HyperParameters (unused: the recipe holds the values).
            recipe: {train flag: value} from `build`.
            output_dir: the model directory of this execution.
            seed_offset: added to the seed, one per execution of a trial.
            setup: the process's `DistributionSetup` (TPU, GPUs or CPU).
        """
        fv = trial_flags(self.base_flags, recipe, output_dir, seed_offset)
        return train_cli.run(fv, setup)


def trial_flags(base_flags, recipe, output_dir, seed_offset=0):
    """Fresh train flags: `base_flags`' values, then the recipe, the execution's
    output_dir and seed; checked as `kerasbert.train` checks its own."""
    fv = flags.FlagValues()
    train_cli.define_flags(fv)
    for name in fv:
        if name in base_flags:
            fv[name].value = base_flags[name].value
    for name, value in recipe.items():
        fv[name].value = value
    fv.mark_as_parsed()
    fv["output_dir"].value = output_dir
    fv["seed"].value = fv.seed + seed_offset
    train_cli.check_flags(fv)
    return fv

