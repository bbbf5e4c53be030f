"""Writes the slices of public data sets that the tests read (see SOURCES.md).

    python tests/data/make_slices.py /path/to/shared/data

reads the full files from that folder (the layout of kerasbert's shared data
folder, `kerasbert.paths.shared_data_dir()`) and writes, next to this script:

- glue/SST-2/train.tsv: the header and the first 2,000 rows of GLUE SST-2 train;
- glue/SST-2/dev.tsv: GLUE SST-2 dev, whole (872 rows), byte for byte;
- squad/dev-v1.1.json: the first 8 articles of SQuAD v1.1 dev, whole, in the
  official order, serialised with `json.dumps` defaults;
- checkpoints/bert_uncased_L-4_H-256_A-4/: BERT-Mini's config, TF1 checkpoint
  index and vocabulary (no weights), byte for byte.

The English NER files come from make_english_ner.py instead (no data is read).
"""

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SST2_TRAIN_ROWS = 2000
SQUAD_ARTICLES = 8
MINI = "checkpoints/bert_uncased_L-4_H-256_A-4"


def main(source):
    source = Path(source)
    (HERE / "glue" / "SST-2").mkdir(parents=True, exist_ok=True)
    with open(source / "glue/SST-2/train.tsv", encoding="utf-8", newline="") as f:
        lines = f.readlines()[:SST2_TRAIN_ROWS + 1]
    (HERE / "glue/SST-2/train.tsv").write_text("".join(lines), encoding="utf-8", newline="")
    shutil.copyfile(source / "glue/SST-2/dev.tsv", HERE / "glue/SST-2/dev.tsv")

    squad = json.loads((source / "squad/dev-v1.1.json").read_text(encoding="utf-8"))
    (HERE / "squad").mkdir(exist_ok=True)
    sliced = {"data": squad["data"][:SQUAD_ARTICLES], "version": squad["version"]}
    (HERE / "squad/dev-v1.1.json").write_text(json.dumps(sliced), encoding="utf-8")

    (HERE / MINI).mkdir(parents=True, exist_ok=True)
    for name in ("bert_config.json", "bert_model.ckpt.index", "vocab.txt"):
        shutil.copyfile(source / MINI / name, HERE / MINI / name)


if __name__ == "__main__":
    main(sys.argv[1])
