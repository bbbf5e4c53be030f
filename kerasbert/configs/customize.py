"""What `python -m kerasbert.customize` (`customize`) is given: the user's
data, budget and candidate models; it chooses the recipe itself."""

import dataclasses
from typing import Any, Optional

from kerasbert.configs.fields import (column, encoding_setting, header_setting, setting)


@dataclasses.dataclass(frozen=True)
class CustomizeConfig:
    """The settings of one customization: each is a flag of `kerasbert.customize`.
    The task's choices are the registry's tasks of text columns."""

    task: str = setting("classification", "the task")
    train_data: Optional[str] = setting(None, "labelled training file")
    eval_data: Optional[str] = setting(None, "labelled dev file")
    text_column: Any = setting("text", "text column", parse=column)
    text_pair_column: Any = setting(None, "second text column", parse=column)
    label_column: Any = setting("label", "label column", parse=column)
    encoding: str = encoding_setting()
    header: str = header_setting()
    unlabeled_data: Optional[str] = setting(None, "plain text from your domain (one sentence "
                                            "per line, blank lines between documents)")
    output_dir: Optional[str] = setting(None, "where the model and the report go")
    time_budget: float = setting(1800.0, "seconds for everything", range="> 0")
    per_user: bool = setting(False, "the model serves many users: train LoRA adapters")
    candidates: tuple = setting(("all_minilm_l6_v2",), "models to choose from, preferred first "
                                "(presets, hf:// handles or checkpoint directories)")
    latency_budget_ms: Optional[float] = setting(
        None, "batch-1 latency the deployment may take, in ms on this machine "
        "(classification): measures the model's SavedModel, LiteRT float32 / int8 and "
        "distilled students of half and a third of its layers, and delivers the most accurate "
        "within it to OUTPUT_DIR/deployment/ (the fastest, with a note, if none is)",
        range="> 0")
    seed: int = setting(42, "seed for everything", range="[0, 4294967295]")
    verbose: int = setting(1, "0: quiet", range="[0, 2]")
