"""The settings of one pretraining run (`python -m kerasbert.pretrain`, `pretrain`).

    from kerasbert.configs.pretrain import PretrainConfig

    config = PretrainConfig(train_data="corpus.txt", output_dir="runs/my_bert",
                            preset="bert_mini_en_uncased", vocab_size=16000)

Each field is one flag of `kerasbert.pretrain` (same name, default and help),
the recipe's (`TrainingConfig`, with pretraining's own defaults) included.
"""

import dataclasses
from typing import Optional

from kerasbert.configs.fields import encoding_setting, like, setting
from kerasbert.configs.training import TrainingConfig

_SCRATCH = "from scratch: "


@dataclasses.dataclass(frozen=True)
class PretrainConfig(TrainingConfig):
    """The corpus, model, masking and recipe of one `pretrain` run."""

    epochs: int = like(TrainingConfig, "epochs", 1)
    learning_rate: float = like(TrainingConfig, "learning_rate", 1e-4)
    warmup_ratio: float = like(TrainingConfig, "warmup_ratio", 0.05)
    checkpoint_every_steps: int = like(TrainingConfig, "checkpoint_every_steps", 1000)
    train_data: Optional[str] = setting(None, "text corpus: one sentence per line, blank lines "
                                        "between documents; a file, a glob or a directory of "
                                        "files")
    eval_data: Optional[str] = setting(None, "held-out corpus (default: the last "
                                       "--eval_fraction of the documents of each input shard "
                                       "of --train_data)")
    eval_fraction: float = setting(0.05, "share of documents held out without --eval_data",
                                   range="(0, 1)")
    max_eval_examples: int = setting(0, "evaluate on the first N held-out sequences (0: all)",
                                     range=">= 0")
    encoding: str = encoding_setting()
    output_dir: Optional[str] = setting(None, "where the encoder, data and checkpoints go")
    model: Optional[str] = setting(None, "continue from this preset, hf:// handle or "
                                   "checkpoint directory (unset: pretrain from scratch)")
    preset: str = setting("bert_tiny_en_uncased", "encoder shape from scratch")
    num_layers: Optional[int] = setting(None, _SCRATCH + "transformer layers", range=">= 1")
    hidden_size: Optional[int] = setting(None, _SCRATCH + "hidden size", range=">= 1")
    num_heads: Optional[int] = setting(None, _SCRATCH + "attention heads", range=">= 1")
    intermediate_size: Optional[int] = setting(None, _SCRATCH + "feed-forward size",
                                               range=">= 1")
    vocab_size: int = setting(30522, _SCRATCH + "WordPiece vocabulary size", range=">= 100")
    lowercase: bool = setting(True, _SCRATCH + "an uncased vocabulary")
    chinese_characters: bool = setting(False, _SCRATCH + "the vocabulary also keeps GB 2312's "
                                       "6,763 common Chinese characters (added to "
                                       "--vocab_size), so that a character the corpus lacks "
                                       "is not [UNK]")
    max_seq_length: int = setting(128, "tokens per sequence", range="[8, 512]")
    masked_lm_prob: float = setting(0.15, "share of tokens predicted", range="(0, 1)")
    max_predictions_per_seq: int = setting(20, "most predictions per sequence",
                                           range="[1, --max_seq_length]")
    whole_word_masking: bool = setting(False, "mask every piece of a chosen word; in Chinese "
                                       "text, every character of a word found by jieba (pip "
                                       "install kerasbert[zh])")
    next_sentence: bool = setting(True, "next-sentence prediction (pairs of segments)")
    dupe_factor: int = setting(1, "passes over the corpus when writing instances",
                               range=">= 1")
    short_seq_prob: float = setting(0.1, "share of shorter sequences", range="[0, 1]")
    shard_size_mb: float = setting(8.0, "MB of text per input shard: each is prepared on its "
                                   "own, into its own TFRecord file (next-sentence pairs draw "
                                   "random segments within a shard)", range="> 0")
    num_workers: int = setting(1, "processes preparing shards in parallel", range=">= 1")
    data_dir: Optional[str] = setting(None, "where the prepared TFRecords go, or are read from "
                                      "when prepared there with the same settings (default: "
                                      "OUTPUT_DIR/pretraining_data)")
    prepare_only: bool = setting(False, "stop once the TFRecords are prepared")
    overwrite: bool = setting(False, "prepare afresh where data of other settings is")
    beam_runner: Optional[str] = setting(None, "prepare with an Apache Beam pipeline on this "
                                         "runner (DirectRunner, DataflowRunner, FlinkRunner, "
                                         "SparkRunner; needs pip install kerasbert[beam])")
    beam_options: str = setting("", "Beam's own pipeline flags, e.g. \"--project=P "
                                "--region=R --temp_location=gs://B/tmp\"")
    train_encoder: bool = setting(True, "false: train the heads only")
    dropout: Optional[float] = setting(None, "override the encoder's dropout rates",
                                       range="[0, 1)")

    @property
    def encoder_config(self):
        """The bert_config keys the size settings change (from scratch)."""
        return {"num_hidden_layers": self.num_layers, "hidden_size": self.hidden_size,
                "num_attention_heads": self.num_heads,
                "intermediate_size": self.intermediate_size}
