"""Training hyperparameters as one plain record."""

import dataclasses


@dataclasses.dataclass
class TrainingConfig:
    """The fine-tuning recipe.

    `batch_size` is global (across replicas and accumulation steps). Counts in
    `*_steps` are optimizer updates. 0 turns an `every`/`patience`/`max_*` option off;
    Each epoch ends with an evaluation; `eval_every_steps` adds one every N updates.
    `steps_per_loop` updates run in one compiled call (0: the device's default,
    `trainer.DEFAULT_STEPS_PER_LOOP`); it changes speed, never results.
    """

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    layer_decay: float = 1.0
    clip_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    seed: int = 42
    max_steps: int = 0
    eval_every_steps: int = 0
    checkpoint_every_steps: int = 200
    early_stopping_patience: int = 0
    restore_best: bool = True
    log_every_steps: int = 10
    max_train_seconds: float = 0.0
    steps_per_loop: int = 0
    verbose: int = 1

    def validate(self):
        """A one-line ValueError for the first impossible value."""
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}"),
            (0 <= self.warmup_ratio < 1, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 < self.layer_decay <= 1, f"layer_decay must be in (0, 1], got {self.layer_decay}"),
            (self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1"),
            (self.max_train_seconds >= 0, "max_train_seconds must be >= 0"),
            (self.steps_per_loop >= 0, f"steps_per_loop must be >= 0 (0: the device's "
                                       f"default), got {self.steps_per_loop}"),
            (self.gradient_accumulation_steps < 1
             or self.batch_size % self.gradient_accumulation_steps == 0,
             f"batch_size {self.batch_size} is not divisible by gradient_accumulation_steps "
             f"{self.gradient_accumulation_steps}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        return self

    def to_dict(self):
        return dataclasses.asdict(self)
