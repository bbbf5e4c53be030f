"""The fine-tuning recipe as one plain record, each setting declared once."""

import dataclasses

from kerasbert.configs.fields import setting, validate


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """The training recipe (of fine-tuning and pretraining).

    `batch_size` is global (across replicas and accumulation steps). Counts in
    `*_steps` are optimizer updates. 0 turns an `every`/`patience`/`max_*` option off;
    Each epoch ends with an evaluation; `eval_every_steps` adds one every N updates.
    `steps_per_loop` updates run in one compiled call (0: the device's default,
    `trainer.DEFAULT_STEPS_PER_LOOP`); it changes speed, never results.
    """

    epochs: int = setting(3, "epochs", range=">= 1")
    batch_size: int = setting(32, "global batch size", range=">= 1")
    learning_rate: float = setting(5e-5, "peak learning rate", range="> 0")
    warmup_ratio: float = setting(0.1, "share of updates spent warming up", range="[0, 1)")
    weight_decay: float = setting(0.01, "AdamW weight decay", range=">= 0")
    layer_decay: float = setting(1.0, "layer-wise learning-rate decay", range="(0, 1]")
    clip_norm: float = setting(1.0, "global-norm gradient clipping (0: off)", range=">= 0")
    gradient_accumulation_steps: int = setting(1, "micro-batches per update", range=">= 1")
    seed: int = setting(42, "seed for everything", range="[0, 4294967295]")
    max_steps: int = setting(0, "stop after this many updates (0: all epochs)", range=">= 0")
    eval_every_steps: int = setting(0, "also evaluate every N updates (0: at each epoch's end "
                                    "only)", range=">= 0")
    checkpoint_every_steps: int = setting(200, "checkpoint every N updates", range=">= 0")
    early_stopping_patience: int = setting(0, "evals without improvement before stopping "
                                           "(0: off)", range=">= 0")
    restore_best: bool = setting(True, "end with the weights of the best evaluation",
                                 flag=False)
    log_every_steps: int = setting(10, "TensorBoard loss every N updates", range=">= 1")
    max_train_seconds: float = setting(0.0, "stop training after this many seconds of train "
                                       "steps, evaluate and keep the best (0: no limit)",
                                       range=">= 0")
    steps_per_loop: int = setting(0, "updates per compiled call: the host reads the losses "
                                  "once per loop (results do not change); 0: the device's "
                                  "default, 1 on CPU and 100 on GPU and TPU", range=">= 0")
    verbose: int = setting(1, "0: quiet, 1: progress bar", range="[0, 2]")

    def validate(self):
        """A one-line ValueError naming the flag of the first impossible value."""
        validate(self)
        if self.batch_size % self.gradient_accumulation_steps:
            raise ValueError(f"--batch_size {self.batch_size} is not divisible by "
                             f"--gradient_accumulation_steps {self.gradient_accumulation_steps}")
        return self

