"""Classification of texts longer than one sequence: sliding windows over the
tokens of each document, and the mean of window probabilities per document."""

import numpy as np
import tensorflow as tf

from kerasbert.data.pipeline import FEATURES

DOCUMENT_INDEX = "document_index"


def sliding_windows(num_tokens, width, stride):
    """(start, length) of windows of at most `width` tokens over `num_tokens`,
    starts `stride` apart, the last one ending at the end (as run_squad.py).
    A text with no tokens gets one empty window."""
    windows, start = [], 0
    while start < num_tokens:
        length = min(num_tokens - start, width)
        windows.append((start, length))
        if start + length == num_tokens:
            break
        start += min(length, stride)
    return windows or [(0, 0)]


def window_features(texts, tokenizer, *, stride, sequence_length=None):
    """Cut each text's wordpieces into overlapping windows `[CLS] piece... [SEP]`.

    Args:
        texts: list of strings.
        tokenizer: a BertTokenizer.
        stride: tokens between the starts of consecutive windows (at most
            `sequence_length - 2`); the last window ends at the text's end.
        sequence_length: window length with specials; default the tokenizer's.

    Returns:
        Dict of int32 arrays: `token_ids`, `segment_ids`, `padding_mask`
        `[windows, sequence_length]` and `document_index` `[windows]`.
    """
    sequence_length = sequence_length or tokenizer.sequence_length
    width = sequence_length - 2
    if not 0 < stride <= width:
        raise ValueError(f"stride must be in 1..{width}, got {stride}")
    pieces = tokenizer.tokenize(tf.constant(list(texts))).to_list()
    rows = {name: [] for name in FEATURES + (DOCUMENT_INDEX,)}
    for document, ids in enumerate(pieces):
        for start, length in sliding_windows(len(ids), width, stride):
            window = [tokenizer.cls_token_id] + ids[start:start + length] + [
                tokenizer.sep_token_id]
            pad = sequence_length - len(window)
            rows["token_ids"].append(window + [tokenizer.pad_token_id] * pad)
            rows["segment_ids"].append([0] * sequence_length)
            rows["padding_mask"].append([1] * len(window) + [0] * pad)
            rows[DOCUMENT_INDEX].append(document)
    return {name: np.asarray(values, np.int32) for name, values in rows.items()}


def aggregate_windows(probabilities, document_index, num_documents=None):
    """Mean of window probabilities per document.

    Args:
        probabilities: `[windows, classes]`.
        document_index: `[windows]` document of each window.
        num_documents: number of documents (default: max index + 1).

    Returns:
        `[documents, classes]` float array.
    """
    probabilities = np.asarray(probabilities, np.float64)
    document_index = np.asarray(document_index)
    num_documents = num_documents or int(document_index.max()) + 1
    totals = np.zeros((num_documents, probabilities.shape[1]))
    np.add.at(totals, document_index, probabilities)
    counts = np.bincount(document_index, minlength=num_documents)[:, None]
    if (counts == 0).any():
        raise ValueError("a document has no window")
    return totals / counts
