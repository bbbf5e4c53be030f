"""Writes the English NER files the tests read, in CoNLL-2003's layout:
english_ner/train.txt, valid.txt and test.txt.

CoNLL-2003 itself (Reuters news) may not be redistributed, so these sentences
are composed from the templates and name lists below, which were written for
this project. Every line is `token POS chunk NER` (space-separated), a blank
line ends a sentence and `-DOCSTART- -X- -X- O` starts a document; the NER tags
are BIO (IOB2) over PER, ORG, LOC and MISC, with multi-word names, all-capital
headlines and acronyms, and a few accented names. The POS and chunk columns come
from the small lexicon below: plausible, not linguistically checked (no test
reads them). The output is the same on every run (fixed seeds).

    python tests/data/make_english_ner.py
"""

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLITS = {"train": (800, 0), "valid": (500, 1), "test": (200, 2)}  # sentences, seed

FIRST = ["Anna", "Tom", "Maria", "James", "Peter", "Laura", "Ahmed", "Yuki", "Carlos",
         "Ingrid", "Kofi", "Elena", "Marco", "Sarah", "David", "Olga", "Chloé", "Björn"]
LAST = ["Kowalski", "Becker", "Santos", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak",
        "Fischer", "Haddad", "Brennan", "Rossi", "Jensen", "Alvarez", "Müller", "Dubois",
        "van Dijk", "Morgan"]
ORG = ["Northfield United", "Harbour Bank", "Blue Valley Mining", "Atlas Airways",
       "Riverside Rovers", "National Farmers Union", "Greenway Motors", "Port City",
       "Central Bank of Norland", "Silver Lake Energy", "NFU", "KTR", "Vantex",
       "Eastern Rail", "Western Stars", "City Council", "Red Hill Athletic"]
LOC = ["Lisbon", "New Mexico", "Cape Town", "Zürich", "São Paulo", "Oslo", "Nairobi",
       "Lake Geneva", "Rio de Janeiro", "Hamburg", "Buenos Aires", "Kraków", "Montréal",
       "Seoul", "Lima", "Dublin", "Northern Ireland", "Texas"]
MISC = ["German", "French", "Brazilian", "Japanese", "Kenyan", "Olympic", "World Cup",
        "Australian Open", "European Championship", "Christian", "Irish", "Spanish",
        "Nobel Prize"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

HEADLINES = [
    "SOCCER - {ORG} BEAT {ORG} IN {LOC} .",
    "TENNIS - {PER} REACHES {MISC} FINAL .",
    "{MISC} SHARES FALL AFTER {ORG} WARNING .",
    "{LOC} POLICE ARREST TWO AFTER RAID .",
    "CRICKET - {LOC} WIN BY {NUM} RUNS .",
    "{ORG} NAMES {PER} AS NEW CHIEF .",
]
BODY = [
    "{PER} scored twice as {ORG} beat {ORG} {SCORE} in {LOC} on {DAY} .",
    "{MISC} officials said on {DAY} that {ORG} would open a new office in {LOC} .",
    "{PER} , the {MISC} champion , won the title in {LOC} .",
    "Shares in {ORG} rose {NUM} percent in {LOC} trading on {DAY} .",
    "{ORG} chairman {PER} told reporters the company expected higher profits this year .",
    "The {MISC} government will send a delegation to {LOC} next month , a spokesman said .",
    "{PER} of {LOC} finished second behind {PER} .",
    "Police in {LOC} arrested two men after a bank raid , {ORG} reported .",
    "{PER} said the team had played well but {ORG} were better on the day .",
    "{ORG} {NUM} {ORG} {NUM}",
    "{PER} resigned on {DAY} after {NUM} years as head of {ORG} .",
    "Prices fell sharply in {LOC} and {LOC} as demand weakened .",
    "It was not clear whether {PER} would play in the {MISC} .",
    "The match was played in heavy rain and the crowd was small .",
    "{LOC} , which has never won the {MISC} , plays {LOC} in the final .",
    "{PER} and {PER} will lead the {MISC} team at the {MISC} .",
    "Halftime {SCORE} .",
    "{ORG} said it had no comment on the report .",
]

LEXICON = {  # word -> (POS, chunk type); other words: NN in an NP
    ".": (".", "O"), ",": (",", "O"), "-": (":", "O"), "the": ("DT", "NP"), "a": ("DT", "NP"),
    "and": ("CC", "O"), "but": ("CC", "O"), "of": ("IN", "PP"), "in": ("IN", "PP"),
    "on": ("IN", "PP"), "at": ("IN", "PP"), "after": ("IN", "PP"), "behind": ("IN", "PP"),
    "as": ("IN", "SBAR"), "by": ("IN", "PP"), "to": ("TO", "PP"), "that": ("IN", "SBAR"),
    "whether": ("IN", "SBAR"), "which": ("WDT", "NP"), "it": ("PRP", "NP"), "no": ("DT", "NP"),
    "not": ("RB", "O"), "never": ("RB", "O"), "sharply": ("RB", "O"), "well": ("RB", "O"),
    "twice": ("RB", "O"), "better": ("JJR", "ADJP"), "clear": ("JJ", "ADJP"),
    "second": ("RB", "O"), "small": ("JJ", "ADJP"), "higher": ("JJR", "NP"),
    "new": ("JJ", "NP"), "next": ("JJ", "NP"), "heavy": ("JJ", "NP"), "two": ("CD", "NP"),
    "this": ("DT", "NP"), "scored": ("VBD", "VP"), "beat": ("VBD", "VP"), "said": ("VBD", "VP"),
    "would": ("MD", "VP"), "open": ("VB", "VP"), "won": ("VBD", "VP"), "rose": ("VBD", "VP"),
    "told": ("VBD", "VP"), "expected": ("VBD", "VP"), "will": ("MD", "VP"), "send": ("VB", "VP"),
    "finished": ("VBD", "VP"), "arrested": ("VBD", "VP"), "reported": ("VBD", "VP"),
    "had": ("VBD", "VP"), "played": ("VBN", "VP"), "were": ("VBD", "VP"),
    "resigned": ("VBD", "VP"), "fell": ("VBD", "VP"), "weakened": ("VBD", "VP"),
    "was": ("VBD", "VP"), "play": ("VB", "VP"), "has": ("VBZ", "VP"), "plays": ("VBZ", "VP"),
    "lead": ("VB", "VP"), "BEAT": ("VBD", "VP"), "REACHES": ("VBZ", "VP"),
    "FALL": ("VBP", "VP"), "ARREST": ("VBP", "VP"), "WIN": ("VBP", "VP"), "NAMES": ("VBZ", "VP"),
    "IN": ("IN", "PP"), "AFTER": ("IN", "PP"), "BY": ("IN", "PP"), "AS": ("IN", "PP"),
    "TWO": ("CD", "NP"), "NEW": ("JJ", "NP"), "company": ("NN", "NP"), "men": ("NNS", "NP"),
    "years": ("NNS", "NP"), "profits": ("NNS", "NP"), "Prices": ("NNS", "NP"),
    "Shares": ("NNS", "NP"), "Police": ("NNS", "NP"), "It": ("PRP", "NP"), "The": ("DT", "NP"),
}


def _name(kind, rng):
    if kind == "PER":
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return rng.choice([f"{first} {last}", f"{first} {last}", last])
    return rng.choice({"ORG": ORG, "LOC": LOC, "MISC": MISC}[kind])


def _fill(template, rng, upper=False):
    """[(word, POS, chunk, NER)] of a template."""
    tokens = []
    for slot in template.split():
        if slot in ("{PER}", "{ORG}", "{LOC}", "{MISC}"):
            kind = slot[1:-1]
            words = _name(kind, rng).split()
            words = [w.upper() for w in words] if upper else words
            pos = "JJ" if kind == "MISC" and len(words) == 1 else "NNP"
            tokens += [(w, "IN" if w in ("of", "de") else pos, "B-NP" if i == 0 else "I-NP",
                        ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words)]
        elif slot == "{DAY}":
            tokens.append((rng.choice(DAYS), "NNP", "B-NP", "O"))
        elif slot == "{NUM}":
            tokens.append((str(rng.choice([2, 3, 4, 5, 7, 12, 15, 40, 120])), "CD", "B-NP", "O"))
        elif slot == "{SCORE}":
            tokens.append((f"{rng.randint(0, 4)}-{rng.randint(0, 3)}", "CD", "B-NP", "O"))
        else:
            pos, chunk = LEXICON.get(slot, ("NNP" if slot.isupper() else "NN", "NP"))
            inside = (chunk not in ("O", "PP") and pos != "DT" and tokens
                      and tokens[-1][2].endswith(chunk))
            tokens.append((slot, pos, "O" if chunk == "O" else ("I-" if inside else "B-") + chunk,
                           "O"))
    return tokens


def _documents(rng):
    while True:
        upper_loc = _name("LOC", rng).upper().split()
        dateline = [(w, "NNP", "B-NP" if i == 0 else "I-NP", ("B-" if i == 0 else "I-") + "LOC")
                    for i, w in enumerate(upper_loc)]
        dateline.append((f"1996-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", "CD",
                         "I-NP", "O"))
        body = [_fill(rng.choice(BODY), rng) for _ in range(rng.randint(3, 8))]
        yield [_fill(rng.choice(HEADLINES), rng, upper=True), dateline] + body


def write(split, sentences, seed):
    rng = random.Random(seed)
    lines, written = [], 0
    for document in _documents(rng):
        lines.append("-DOCSTART- -X- -X- O\n\n")
        for sentence in document[:sentences - written]:
            lines.append("".join(" ".join(token) + "\n" for token in sentence) + "\n")
            written += 1
        if written == sentences:
            break
    folder = HERE / "english_ner"
    folder.mkdir(exist_ok=True)
    (folder / f"{split}.txt").write_text("".join(lines), encoding="utf-8")


if __name__ == "__main__":
    for split, (sentences, seed) in SPLITS.items():
        write(split, sentences, seed)
