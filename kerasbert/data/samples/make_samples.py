"""Writes the small labelled samples that ship with kerasbert (the README's
main job fine-tunes on them). Sentences are composed from the phrase lists
below, which were written for this project; the dev split uses phrases that
the train split never shows, so its accuracy measures generalisation.

    python -m kerasbert.data.samples.make_samples
"""

import csv
import itertools
import random
from pathlib import Path

SUBJECTS = [
    "The movie", "This film", "The acting", "The plot", "The soundtrack", "The ending",
    "The cast", "The script", "The photography", "The story", "Every scene", "The lead role",
]
POSITIVE_TRAIN = [
    "was wonderful", "kept me smiling all evening", "is a delight from start to finish",
    "felt fresh and clever", "moved me to tears in the best way", "is beautifully made",
    "left the whole audience cheering", "is one of the best I have seen this year",
    "was charming and warm", "deserves every award it gets",
]
NEGATIVE_TRAIN = [
    "was a complete bore", "made me check my watch constantly", "is a mess from start to finish",
    "felt stale and lazy", "left me cold and annoyed", "is badly made",
    "had the audience walking out", "is one of the worst I have seen this year",
    "was dull and lifeless", "deserves to be forgotten quickly",
]
POSITIVE_DEV = [
    "was a real joy to watch", "is smart, funny and touching", "won me over completely",
    "is a triumph", "sparkles with life",
]
NEGATIVE_DEV = [
    "was a painful waste of time", "is tedious and clumsy", "lost me within minutes",
    "is a disaster", "drags on without any purpose",
]


def _rows(positive, negative, seed):
    rows = [(f"{s} {p}.", "positive") for s, p in itertools.product(SUBJECTS, positive)]
    rows += [(f"{s} {n}.", "negative") for s, n in itertools.product(SUBJECTS, negative)]
    random.Random(seed).shuffle(rows)
    return rows


def write(directory):
    """Write sentiment_train.csv (240 rows), sentiment_dev.csv (120 rows),
    reviews_corpus.txt (80 reviews of plain text, for pretraining) and
    user_requests.csv (8 dev sentences, each with the user whose adapters
    serve it, for the adapter bank)."""
    directory = Path(directory)
    for name, rows in (("sentiment_train.csv", _rows(POSITIVE_TRAIN, NEGATIVE_TRAIN, 0)),
                       ("sentiment_dev.csv", _rows(POSITIVE_DEV, NEGATIVE_DEV, 1))):
        with open(directory / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(rows)

    with open(directory / "reviews_corpus.txt", "w", encoding="utf-8") as f:
        f.write(_corpus(seed=2))

    with open(directory / "user_requests.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "user"])
        dev = _rows(POSITIVE_DEV, NEGATIVE_DEV, 1)[:8]
        writer.writerows((text, ("alice", "bob")[i % 2]) for i, (text, _) in enumerate(dev))


def _corpus(seed, documents=80):
    """Plain text for pretraining: reviews of 4-7 sentences (one per line), a
    blank line between reviews."""
    rng = random.Random(seed)
    phrases = POSITIVE_TRAIN + NEGATIVE_TRAIN + POSITIVE_DEV + NEGATIVE_DEV
    reviews = []
    for _ in range(documents):
        count = rng.randint(4, 7)
        reviews.append("\n".join(f"{rng.choice(SUBJECTS)} {rng.choice(phrases)}."
                                 for _ in range(count)))
    return "\n\n".join(reviews) + "\n"


if __name__ == "__main__":
    write(Path(__file__).parent)
