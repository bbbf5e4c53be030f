"""The settings of one fine-tuning run (`python -m kerasbert.train`, `fine_tune`).

    from kerasbert.configs.fine_tune import FineTuneConfig

    config = FineTuneConfig(train_data="train.tsv", eval_data="dev.tsv",
                            text_column="sentence", output_dir="runs/sst2")
    trial = dataclasses.replace(config, learning_rate=3e-5, output_dir="runs/trial_1")

Each field is one flag of `kerasbert.train` (same name, default and help,
`kerasbert.cli.flags.define_flags_from`), the recipe's (`TrainingConfig`)
included; `--config=recipe.yaml` sets the same names.
"""

import dataclasses
from typing import Any, Optional

from kerasbert.configs.fields import (column, encoding_setting, header_setting, labels_setting,
                                      setting)
from kerasbert.configs.training import TrainingConfig

_DATA = "training file or tfds:NAME (ner: CoNLL file, qa: SQuAD JSON)"


@dataclasses.dataclass(frozen=True)
class FineTuneConfig(TrainingConfig):
    """The task, data, model and recipe of one `fine_tune` run.

    Column settings are a header name or a 0-based index. The task's choices
    are the registry's (checked by the flag and by `fine_tune`).
    """

    task: str = setting("classification", "the task")
    train_data: Optional[str] = setting(None, _DATA)
    eval_data: Optional[str] = setting(None, _DATA.replace("training", "dev"))
    data_dir: Optional[str] = setting(None, "TFDS data_dir")
    text_column: Any = setting("text", "text column (name or 0-based index)", parse=column)
    text_pair_column: Any = setting(None, "second text column", parse=column)
    label_column: Any = setting("label", "label column", parse=column)
    encoding: str = encoding_setting()
    header: str = header_setting()
    labels: Optional[tuple] = labels_setting()
    model: str = setting("all_minilm_l6_v2", "preset (downloaded from the model hub), "
                         "hf://ORG/NAME[@REVISION], HF / TF1 checkpoint directory (local or "
                         "gs://), or kerasbert model directory")
    random_init: bool = setting(False, "start from random weights of --model's shape (its "
                                "vocabulary is kept) instead of its pretrained weights")
    output_dir: Optional[str] = setting(None, "where the model, metrics and checkpoints go")
    keep_checkpoints: bool = setting(False, "keep the training state (checkpoints, best "
                                     "weights) when the run ends, so that a rerun with more "
                                     "epochs goes on from it; by default the model directory "
                                     "then holds its weights once")
    max_seq_length: int = setting(128, "tokens per sequence", range="[8, 512]")
    batch_mode: str = setting("bucket", "length bucketing (CPU/GPU) or static shapes (TPU/XLA)",
                              choices=("bucket", "static"))
    dropout: Optional[float] = setting(None, "override the encoder's dropout rates",
                                       range="[0, 1)")
    doc_stride: int = setting(128, "qa: tokens between the starts of context windows",
                              range=">= 1")
    max_query_length: int = setting(64, "qa: questions are cut to this many tokens",
                                    range=">= 1")
    version_2_with_negative: bool = setting(False, "qa: SQuAD v2.0, questions may have no "
                                            "answer")
    null_score_diff_threshold: float = setting(0.0, "qa (v2.0): predict no answer when the "
                                               "null score beats the best span by more than "
                                               "this", range="any")
    n_best_size: int = setting(20, "qa: start / end candidates per window", range=">= 1")
    max_answer_length: int = setting(30, "qa: longest answer, in tokens", range=">= 1")
    adapter: Optional[str] = setting(None, "train LoRA adapters (and the head) only",
                                     choices=("lora",))
    lora_rank: int = setting(8, "rank of the LoRA adapters", range=">= 1")
    lora_alpha: Optional[float] = setting(None, "LoRA scale numerator (default: the rank)",
                                          flag=False)
    lora_feed_forward: bool = setting(False, "adapt the feed-forward projections too")
    pooling: str = setting("auto", "sentence-level heads read the [CLS] pooler (cls) or the "
                           "mean of the token vectors (mean); auto: what the checkpoint "
                           "declares (mean for sentence-transformers checkpoints, cls "
                           "otherwise)", choices=("auto", "cls", "mean"))
    case_markers: bool = setting(False, "ner: mark capitalised and all-caps words with a piece "
                                 "of their own, so an uncased encoder sees the case")
    ner_head: str = setting("softmax", "ner: the output layer: a softmax per word, or a "
                            "linear-chain CRF over the tags (Viterbi decoding, kept in the "
                            "SavedModel)", choices=("softmax", "crf"))

    @classmethod
    def names(cls):
        """Every setting's name."""
        return [f.name for f in dataclasses.fields(cls)]

    def settings(self):
        """{name: value} of every setting."""
        return {name: getattr(self, name) for name in self.names()}

    def replace(self, **values):
        """A copy with `values` ({setting name: value}) set.

        Raises:
            ValueError: for a name that is no setting.
        """
        unknown = sorted(set(values) - set(self.names()))
        if unknown:
            raise ValueError(f"not a fine-tuning setting: {', '.join(unknown)}")
        return dataclasses.replace(self, **values)
