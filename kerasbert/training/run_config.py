"""One fine-tuning run's settings as a plain record, and the call that runs it.

    from kerasbert.training.run_config import FineTuneConfig, run_fine_tune

    config = FineTuneConfig(train_data="train.tsv", eval_data="dev.tsv",
                            text_column="sentence", output_dir="runs/sst2")
    trial = config.replace(learning_rate=3e-5, batch_size=16, output_dir="runs/trial_1")
    metrics = run_fine_tune(trial)            # fine_tune(**trial.fine_tune_arguments())

`FineTuneConfig` holds `fine_tune`'s arguments under the names (and with the
defaults) of `python -m kerasbert.train`'s flags: the task, data and model
settings at the top, the recipe (`TrainingConfig`: epochs, batch size,
learning rate, ...) in `training`. `replace` and `settings` treat both levels
as one flat set of names, so a search's recipe ({flag: value}) applies to a
config as it applies to the train flags. The command-line program builds one
from its flags (`kerasbert.cli.train.fine_tune_config`); the tuner applies
each trial's values to it; nothing here reads flags.
"""

import dataclasses
from typing import Any, Optional

from kerasbert.configs.training import TrainingConfig


@dataclasses.dataclass(frozen=True)
class FineTuneConfig:
    """The settings of one `fine_tune` run (see its docstring for each one).

    Column settings are a header name or a 0-based index. `training` is the
    recipe; its fields are read and replaced by name like the others
    (`config.replace(epochs=2)`, `config.settings()["epochs"]`).
    """

    task: str = "classification"
    train_data: Optional[str] = None
    eval_data: Optional[str] = None
    data_dir: Optional[str] = None
    text_column: Any = "text"
    text_pair_column: Any = None
    label_column: Any = "label"
    encoding: str = "utf-8"
    header: str = "auto"
    labels: Optional[tuple] = None
    model: str = "all_minilm_l6_v2"
    random_init: bool = False
    output_dir: Optional[str] = None
    max_seq_length: int = 128
    batch_mode: str = "bucket"
    dropout: Optional[float] = None
    doc_stride: int = 128
    max_query_length: int = 64
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0
    n_best_size: int = 20
    max_answer_length: int = 30
    adapter: Optional[str] = None
    lora_rank: int = 8
    lora_feed_forward: bool = False
    pooling: str = "auto"
    case_markers: bool = False
    ner_head: str = "softmax"
    labels: Optional[list] = None
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)

    @classmethod
    def names(cls):
        """Every setting's name, the recipe's included (not `training` itself)."""
        top = [f.name for f in dataclasses.fields(cls) if f.name != "training"]
        return top + [f.name for f in dataclasses.fields(TrainingConfig)]

    def settings(self):
        """{name: value} of every setting, the recipe's included, in one flat mapping."""
        top = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name != "training"}
        return {**top, **self.training.to_dict()}

    def replace(self, **values):
        """A copy with `values` ({setting name: value}, recipe names included) set.

        Raises:
            ValueError: for a name that is no setting.
        """
        recipe_names = {f.name for f in dataclasses.fields(TrainingConfig)}
        unknown = sorted(set(values) - set(self.names()))
        if unknown:
            raise ValueError(f"not a fine-tuning setting: {', '.join(unknown)}")
        recipe = {k: v for k, v in values.items() if k in recipe_names}
        top = {k: v for k, v in values.items() if k not in recipe_names}
        return dataclasses.replace(self, training=dataclasses.replace(self.training, **recipe),
                                   **top)

    def fine_tune_arguments(self):
        """The keyword arguments of `fine_tune` (the recipe's fields flat, as `**training`)."""
        return self.settings()


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

    arguments = config.fine_tune_arguments()
    if setup is not None and (setup.kind == "tpu" or setup.jit_compile):
        arguments["batch_mode"] = "static"
    return fine_tune(strategy=setup.strategy if setup else None,
                     jit_compile=setup.jit_compile if setup else False, **arguments)
