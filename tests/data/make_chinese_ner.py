"""Writes the Chinese NER file the tests read: chinese_ner/train.txt, one
character and its BIO tag a line (as the People's Daily 1998 NER data is
laid out), a blank line between sentences; tags PER and LOC.

The sentences are composed from the templates and name lists below, written
for this project. The test sentence 王芳在深圳工作。 is left out: its name and
its city occur, but never together in that template. The output is the same
on every run (fixed seed).

    python tests/data/make_chinese_ner.py
"""

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SENTENCES, SEED = 400, 0

PER = ["王芳", "李娜", "张伟", "刘洋", "陈静", "杨敏", "赵磊", "黄丽", "周杰", "吴刚",
       "徐明", "孙红", "马云", "朱琳", "胡军", "郭涛", "林峰", "何平"]
LOC = ["深圳", "北京", "上海", "广州", "杭州", "南京", "成都", "武汉", "西安", "重庆",
       "天津", "苏州", "长沙", "青岛", "厦门", "昆明"]
TEMPLATES = ["{PER}在{LOC}工作。", "{PER}去了{LOC}。", "{PER}住在{LOC}。",
             "{LOC}的{PER}说话了。", "昨天{PER}到{LOC}开会。", "{PER}和{PER}在{LOC}见面。",
             "{PER}从{LOC}回来了。", "{LOC}欢迎{PER}。", "我们在{LOC}认识了{PER}。",
             "{PER}明天去{LOC}。"]
HELD_OUT = "王芳在深圳工作。"


def sentence(rng):
    """(characters, tags) of one sentence."""
    chars, tags = [], []
    for i, part in enumerate(rng.choice(TEMPLATES).replace("}", "{").split("{")):
        if i % 2:  # a slot
            name = rng.choice(PER if part == "PER" else LOC)
            chars += list(name)
            tags += [f"B-{part}"] + [f"I-{part}"] * (len(name) - 1)
        else:
            chars += list(part)
            tags += ["O"] * len(part)
    return chars, tags


def main():
    rng = random.Random(SEED)
    blocks = []
    while len(blocks) < SENTENCES:
        chars, tags = sentence(rng)
        if "".join(chars) != HELD_OUT:
            blocks.append("\n".join(f"{c} {t}" for c, t in zip(chars, tags)))
    (HERE / "chinese_ner").mkdir(exist_ok=True)
    (HERE / "chinese_ner" / "train.txt").write_text("\n\n".join(blocks) + "\n",
                                                    encoding="utf-8")


if __name__ == "__main__":
    main()
