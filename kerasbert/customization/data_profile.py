"""What the automatic recipe looks at in the user's data before it decides."""

import collections
import dataclasses

import numpy as np

LENGTH_CHOICES = (32, 64, 128, 256, 512)


@dataclasses.dataclass
class DataProfile:
    """Facts about a labelled training set (and optional unlabeled text).

    Attributes:
        num_examples: labelled training examples.
        label_counts: {label: count} (empty for regression).
        token_lengths: percentiles {50, 95, 100} of WordPiece tokens per example,
            [CLS]/[SEP] included, before any truncation.
        pieces_per_word: WordPiece tokens per whitespace word of the unlabeled
            text (or of the training texts without it): how much the
            vocabulary fragments the user's words (~1.2-1.3 on general English).
        unlabeled_documents: documents of unlabeled text, 0 without it.
    """

    num_examples: int
    label_counts: dict
    token_lengths: dict
    pieces_per_word: float
    unlabeled_documents: int = 0

    @property
    def suggested_max_seq_length(self):
        """The smallest usual length that holds 95% of the examples whole."""
        p95 = self.token_lengths[95]
        return next((n for n in LENGTH_CHOICES if n >= p95), LENGTH_CHOICES[-1])


def profile_data(examples, tokenizer, unlabeled_texts=None, sample=5000, seed=0):
    """A `DataProfile` of TextExamples (`unlabeled_texts`: a list of documents).

    Lengths are measured on up to `sample` examples drawn with `seed`.
    """
    rng = np.random.default_rng(seed)
    chosen = [examples[i] for i in sorted(rng.permutation(len(examples))[:sample])]
    lengths = _piece_counts(tokenizer, [e.text for e in chosen]) + 2
    pairs = [i for i, e in enumerate(chosen) if e.text_pair is not None]
    if pairs:
        lengths[pairs] += _piece_counts(tokenizer, [chosen[i].text_pair for i in pairs]) + 1
    labels = collections.Counter(e.label for e in examples if isinstance(e.label, (str, tuple)))
    texts = unlabeled_texts if unlabeled_texts else [e.text for e in chosen]
    return DataProfile(
        num_examples=len(examples),
        label_counts={str(k): v for k, v in labels.most_common()},
        token_lengths={p: int(np.percentile(lengths, p)) for p in (50, 95, 100)},
        pieces_per_word=_pieces_per_word(tokenizer, texts[:sample]),
        unlabeled_documents=len(unlabeled_texts or []))


def _piece_counts(tokenizer, texts, batch_size=512):
    """WordPiece tokens of each text (no special tokens), int64 `[len(texts)]`."""
    counts = [tokenizer.tokenize(texts[i:i + batch_size]).row_lengths().numpy()
              for i in range(0, len(texts), batch_size)]
    return np.concatenate(counts) if counts else np.zeros([0], np.int64)


def _pieces_per_word(tokenizer, texts):
    words = sum(len(t.split()) for t in texts)
    pieces = int(_piece_counts(tokenizer, list(texts)).sum())
    return pieces / max(words, 1)
