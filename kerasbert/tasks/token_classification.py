"""Token classification (named-entity recognition): one tag per word.

The model scores every WordPiece position; only a word's first sub-token
carries its tag (the others, [CLS], [SEP] and padding have label -100), as in
the BERT paper's CoNLL-2003 set-up. Metrics and predictions go back to words
through `word_ids` (`data.ner_alignment.word_tags`).
"""

import keras
import numpy as np
import tensorflow as tf

from kerasbert.data.ner_alignment import WORD_IDS, align_tags, word_tags
from kerasbert.metrics.sequence_labeling import entity_spans, sequence_labeling_metrics
from kerasbert.tasks.classification import softmax
from kerasbert.tasks.keras_task import BertPreprocessor, BertTask
from kerasbert.tasks.registry import register_task
from kerasbert.tasks.signature import TaskSignature
from kerasbert.tasks.task import Task, masked_sum


def word_ids_from_labels(labels):
    """`[n, seq]` word index of every labelled position (-1 elsewhere): with
    labels on first sub-tokens only, the k-th labelled position is word k."""
    labels = np.asarray(labels)
    labelled = labels >= 0
    return np.where(labelled, np.cumsum(labelled, axis=1) - 1, -1)


@register_task("ner")
class TokenClassificationTask(Task):
    """Labels int32 `[batch, seq]` tag ids (-100: not scored); logits
    `[batch, seq, num_tags]`. `labels` are the tag strings, e.g. `B-PER`.
    With `case_markers`, capitalised and all-caps words get a marker piece
    (`data.ner_alignment.align_tags`) in training, evaluation and serving."""

    head = "sequence"
    main_metric = "entity_f1"

    def __init__(self, labels=None, case_markers=False):
        super().__init__(labels)
        self.case_markers = bool(case_markers)

    def config(self):
        return {**super().config(), "settings": {"case_markers": self.case_markers}}

    def loss(self, labels, logits):
        """Cross-entropy summed over scored positions, and their count."""
        valid = labels >= 0
        safe = tf.where(valid, labels, 0)
        per_position = tf.nn.sparse_softmax_cross_entropy_with_logits(safe, logits)
        return masked_sum(per_position, valid)

    def sentence_tags(self, predictions, labels, word_ids=None):
        """(gold, predicted) tag-string lists per sentence, one tag per word.

        Args:
            predictions: `[n, seq]` predicted tag ids.
            labels: `[n, seq]` gold tag ids, -100 where not scored.
            word_ids: `[n, seq]` word index per position (-1: none); by default
                the labelled positions, in order.

        Words past `max_seq_length` have no position and are not scored (as in
        Hugging Face's run_ner).
        """
        labels = np.asarray(labels)
        word_ids = word_ids_from_labels(labels) if word_ids is None else np.asarray(word_ids)
        gold, predicted = [], []
        for row_predictions, row_labels, row_words in zip(predictions, labels, word_ids):
            num_words = int(row_words.max()) + 1 if row_words.size else 0
            gold.append([self.labels[i] for i in word_tags(row_labels, row_words, num_words)])
            predicted.append([self.labels[i]
                              for i in word_tags(row_predictions, row_words, num_words)])
        return gold, predicted

    def compute_metrics(self, logits, labels, word_ids=None):
        """Entity precision / recall / F1 (conlleval rules) and word accuracy.

        Args:
            logits: `[n, seq, num_tags]`.
            labels: `[n, seq]` tag ids, -100 where not scored.
            word_ids: optional `[n, seq]` word index per position.
        """
        gold, predicted = self.sentence_tags(np.asarray(logits).argmax(-1), labels, word_ids)
        return sequence_labeling_metrics(gold, predicted)

    def postprocess(self, logits, word_ids, words):
        """Entities of each sentence.

        Args:
            logits: `[n, seq, num_tags]`.
            word_ids: `[n, seq]` word index per position (-1: none).
            words: n lists of the sentences' words.

        Returns:
            Per sentence, a list of `{"type", "start", "end", "text", "score"}`:
            words `start..end-1`, their text joined by spaces, and the mean
            probability of the predicted tags on the entity's first sub-tokens.
            Words past `max_seq_length` are tagged `O`.
        """
        probabilities = softmax(np.asarray(logits, np.float64))
        outlined = []
        for row_probs, row_words, sentence in zip(probabilities, word_ids, words):
            ids = word_tags(row_probs.argmax(-1), row_words, len(sentence), fill=None)
            confidence = word_tags(row_probs.max(-1), row_words, len(sentence), fill=0.0)
            tags = ["O" if i is None else self.labels[i] for i in ids]
            outlined.append([
                {"type": type_, "start": first, "end": last + 1,
                 "text": " ".join(sentence[first:last + 1]),
                 "score": float(np.mean(confidence[first:last + 1]))}
                for type_, first, last in entity_spans(tags)])
        return outlined


@keras.saving.register_keras_serializable(package="kerasbert")
class BertTokenClassifierPreprocessor(BertPreprocessor):
    """Words (and their tag ids) -> the encoder's inputs and per-position labels.

    Call: `x` is a string RaggedTensor `[batch, (words)]`, or a 1-D string
    tensor of sentences (split at whitespace); `y` an int RaggedTensor
    `[batch, (words)]` of tag ids. Returns `(features, labels, sample_weight)`:
    labels int32 `[batch, sequence_length]` hold each word's tag on its first
    sub-token, and sample_weight (float32, same shape) is 1 there and 0 on
    the other positions, which carry no loss and no metric. With
    `case_markers`, capitalised and all-caps words get a marker piece
    (`data.ner_alignment.align_tags`).
    """

    def __init__(self, tokenizer, case_markers=False, **kwargs):
        super().__init__(tokenizer, **kwargs)
        self.case_markers = bool(case_markers)

    def words(self, x):
        if isinstance(x, tf.RaggedTensor):
            return x
        x = tf.convert_to_tensor(x, tf.string)
        return tf.strings.split(x) if x.shape.rank == 1 else tf.RaggedTensor.from_tensor(x)

    def aligned(self, x, y=None):
        words = self.words(x)
        tags = tf.zeros_like(words, tf.int32) if y is None else tf.cast(y, tf.int32)
        return align_tags(self.tokenizer, words, tags, self.sequence_length, self.case_markers)

    def call(self, x, y=None, sample_weight=None):
        if isinstance(x, dict):
            return keras.utils.pack_x_y_sample_weight(self.features(x), y, sample_weight)
        if sample_weight is not None:
            raise ValueError("token classification weighs positions itself; no sample_weight")
        aligned = self.aligned(x, y)
        features = {name: aligned[name] for name in ("token_ids", "segment_ids", "padding_mask")}
        if y is None:
            return features
        labels = aligned["labels"]
        return features, tf.maximum(labels, 0), tf.cast(labels >= 0, tf.float32)

    def get_config(self):
        return {**super().get_config(), "case_markers": self.case_markers}


@keras.saving.register_keras_serializable(package="kerasbert")
class BertTokenClassifier(BertTask):
    """One tag per word (NER): words in, word-level tag logits out.

        model = kerasbert.BertTokenClassifier.from_preset(
            "bert_base_en", num_tags=9, labels=["O", "B-PER", ...])
        model.compile()
        model.fit(x=[["John", "lives", "in", "Paris"]], y=[[1, 0, 0, 5]], epochs=3)
        model.predict([["Mary", "visited", "Rome"]])   # [n, sequence_length, num_tags]

    Training scores each word on its first sub-token (the BERT paper's
    CoNLL-2003 set-up); `predict` gives logits per word: row i, position j
    is word j of sentence i (zeros past its last word and for words cut off
    at `sequence_length`).

    Args:
        encoder: a `BertEncoder`.
        num_tags: the number of tags.
        preprocessor: a `BertTokenClassifierPreprocessor`, or None (features in).
        labels: the tag names, optional. Others: as `BertClassifier`'s.
    """

    task_name = "ner"
    preprocessor_class = BertTokenClassifierPreprocessor
    preprocessor_arguments = ("case_markers",)
    weighted_metrics_by_default = True

    def __init__(self, encoder, num_tags, preprocessor=None, labels=None, dropout=None, **kwargs):
        kwargs.pop("pooling", None)
        super().__init__(encoder, num_tags, "sequence", preprocessor, labels, dropout, **kwargs)
        self.num_tags = int(num_tags)

    @classmethod
    def from_parts(cls, encoder, tokenizer, num_outputs, labels=None, pooling="cls",
                   task_name="ner", case_markers=False, **settings):
        return cls(encoder, num_outputs, BertTokenClassifierPreprocessor(tokenizer, case_markers),
                   labels=labels)

    def task_config(self):
        config = super().task_config()
        config.pop("pooling")
        return {**config, "num_tags": self.num_tags}

    def task_spec(self):
        from kerasbert.tasks.registry import get_task

        case_markers = getattr(self.preprocessor, "case_markers", False)
        return get_task("ner", self.labels or [str(i) for i in range(self.num_tags)],
                        case_markers=case_markers)

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight")

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def _slices(self, data):
        if not isinstance(data, tuple):
            data = (data,)
        return tf.data.Dataset.from_tensor_slices(tuple(_ragged(item) for item in data))

    def _batch(self, dataset, batch_size):
        return dataset.ragged_batch(batch_size, drop_remainder=self._static_batches)

    def predict(self, x, batch_size=None, **kwargs):
        """Word-level logits `[n, sequence_length, num_tags]` of sentences
        given as words (lists, a string RaggedTensor) or as strings."""
        if self.preprocessor is None:
            return super().predict(x, batch_size, **kwargs)
        aligned = self._slices(x).apply(
            lambda d: self._batch(d, batch_size or 32)).map(self.preprocessor.aligned)
        features = aligned.map(lambda a: {name: a[name] for name in
                                          ("token_ids", "segment_ids", "padding_mask")})
        logits = keras.Model.predict(self, features.prefetch(tf.data.AUTOTUNE), **kwargs)
        word_ids = np.concatenate([batch["word_ids"].numpy() for batch in aligned])
        return word_level(logits, word_ids)


def _ragged(item):
    """Nested Python lists (words, tags) -> a RaggedTensor; others unchanged."""
    if isinstance(item, list) and item and isinstance(item[0], (list, tuple)):
        return tf.ragged.constant([list(row) for row in item])
    return item


def word_level(logits, word_ids):
    """`[n, seq, tags]` per-position logits -> per-word logits, each word at
    its first sub-token's values (`word_ids`: word index per position, -1 none)."""
    out = np.zeros_like(logits)
    for row, (row_logits, row_words) in enumerate(zip(logits, word_ids)):
        positions = np.flatnonzero(row_words >= 0)
        words, first = np.unique(row_words[positions], return_index=True)
        out[row, words] = row_logits[positions[first]]
    return out


# -- the serving signature: raw text in, words' tags and entity spans out ---------------------
#
# Words are the text's whitespace-separated tokens (as in a CoNLL file), each
# tagged through its first sub-token. The SavedModel builds the entities in
# the graph with conlleval's chunking rules (`metrics.sequence_labeling.
# entity_spans`), vectorised: a chunk ends between two words and starts at a
# word by comparing each tag with the one before it.


class TaggingSignature(TaskSignature):
    """Input `text` (1-D strings). Outputs, per text:

    - `words` string `[batch, max_words]`, `tags` string (`""` after the
      text's words), `tag_scores` float32 (probability of each word's tag, 0
      for words cut off by max_seq_length, which are tagged `O`);
    - `num_entities` int32 `[batch]` and, `[batch, max_entities]` (padded
      with "" / -1 / 0), `entity_types`, `entity_starts` and `entity_ends`
      (word indices, end exclusive), `entity_texts` (words joined by spaces),
      `entity_scores` (mean tag probability over the entity's words).
    """

    sequence_extras = ("word_ids",)

    def model_inputs(self, inputs):
        words = tf.strings.split(inputs["text"])
        no_tags = words.with_flat_values(tf.zeros_like(words.flat_values, tf.int32))
        aligned = align_tags(self.tokenizer, words, no_tags, self.tokenizer.sequence_length,
                             self.task.case_markers)
        features = {k: aligned[k] for k in ("token_ids", "segment_ids", "padding_mask")}
        return features, {"word_ids": aligned[WORD_IDS], "words": words.to_tensor(""),
                          "num_words": tf.cast(words.row_lengths(), tf.int32)}

    # -- Python ----------------------------------------------------------------------------

    def postprocess(self, logits, extras):
        sentences = [[w.decode("utf-8") for w in row[:n]]
                     for row, n in zip(extras["words"], extras["num_words"])]
        return [{"entities": entities}
                for entities in self.task.postprocess(logits, extras["word_ids"], sentences)]

    def decode_outputs(self, outputs):
        records = []
        for i, count in enumerate(outputs["num_entities"]):
            records.append({"entities": [
                {"type": outputs["entity_types"][i, k].decode("utf-8"),
                 "start": int(outputs["entity_starts"][i, k]),
                 "end": int(outputs["entity_ends"][i, k]),
                 "text": outputs["entity_texts"][i, k].decode("utf-8"),
                 "score": float(outputs["entity_scores"][i, k])} for k in range(int(count))]})
        return records

    # -- in graph --------------------------------------------------------------------------

    def serving_outputs(self, logits, extras):
        words, num_words = extras["words"], extras["num_words"]
        tag_ids, tag_scores = self._word_predictions(logits, extras["word_ids"], tf.shape(words))
        in_text = tf.sequence_mask(num_words, tf.shape(words)[1])
        tags = tf.where(tag_ids >= 0, tf.gather(tf.constant(self.task.labels),
                                                tf.maximum(tag_ids, 0)), "O")
        entities = _entities(tf.where(in_text, tags, "O"), tag_scores, words)
        return {"words": words, "tags": tf.where(in_text, tags, ""),
                "tag_scores": tf.where(in_text, tag_scores, 0.0), **entities}

    def _word_predictions(self, logits, word_ids, shape):
        """(tag id, its probability) per word `[batch, max_words]`, read at each
        word's first sub-token; -1 and 0 for words without a position."""
        probabilities = tf.nn.softmax(logits, axis=-1)
        previous = tf.pad(word_ids[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
        first = tf.where((word_ids >= 0) & (word_ids != previous))
        rows = tf.stack([first[:, 0], tf.cast(tf.gather_nd(word_ids, first), tf.int64)], axis=1)
        ids = tf.cast(tf.gather_nd(tf.argmax(probabilities, -1), first), tf.int32)
        scores = tf.gather_nd(tf.reduce_max(probabilities, -1), first)
        shape = tf.cast(shape, tf.int64)
        return (tf.tensor_scatter_nd_update(tf.fill(shape, -1), rows, ids),
                tf.tensor_scatter_nd_update(tf.zeros(shape, tf.float32), rows, scores))


def _split_tags(tags):
    """(prefix letter, type) of tag strings as `sequence_labeling._split`:
    the first character, and what follows the first "-" ("_" when empty)."""
    prefix = tf.strings.substr(tags, 0, 1, unit="UTF8_CHAR")
    type_ = tf.strings.regex_replace(tf.strings.regex_replace(tags, "^.", ""), "^[^-]*-", "")
    return prefix, tf.where(type_ == "", "_", type_)


def _isin(tensor, values):
    return tf.reduce_any(tf.stack([tf.equal(tensor, v) for v in values]), axis=0)


def _entities(tags, scores, words):
    """Entity spans of word tags `[batch, max_words]` ("O"-padded), by
    conlleval's rules; see `TaggingSignature` for the outputs."""
    batch, width = tf.shape(tags)[0], tf.shape(tags)[1]
    tags = tf.concat([tags, tf.fill([batch, 1], "O")], axis=1)
    tag, type_ = _split_tags(tags)
    prev_tag = tf.concat([tf.fill([batch, 1], "O"), tag[:, :-1]], axis=1)
    prev_type = tf.concat([tf.fill([batch, 1], ""), type_[:, :-1]], axis=1)
    changed = prev_type != type_
    ends = (_isin(prev_tag, ("E", "S"))
            | (_isin(prev_tag, ("B", "I")) & _isin(tag, ("B", "S", "O")))
            | (~_isin(prev_tag, ("O", ".")) & changed))
    starts = (_isin(tag, ("B", "S"))
              | (_isin(prev_tag, ("E", "S", "O")) & _isin(tag, ("E", "I")))
              | (~_isin(tag, ("O", ".")) & changed))
    # The chunk ending before word i began at the last start at or before i - 1.
    positions = tf.range(width + 1)
    start_at = tf.where(starts, positions[None, :], -1)
    upto = positions[None, :, None] >= positions[None, None, :]
    last_start = tf.reduce_max(tf.where(upto, start_at[:, None, :], -1), axis=2)
    found = tf.where(ends)  # [entities, 2]: (row, i); the entity is words first..i-1
    row, end = found[:, 0], tf.cast(found[:, 1], tf.int32)
    previous = tf.stack([row, tf.cast(end - 1, tf.int64)], axis=1)
    first = tf.maximum(tf.gather_nd(last_start, previous), 0)  # as entity_spans' begin = 0
    total = tf.concat([tf.zeros([batch, 1]), tf.cumsum(scores, axis=1)], axis=1)
    score = ((tf.gather_nd(total, found) - tf.gather_nd(total, tf.stack(
        [row, tf.cast(first, tf.int64)], axis=1))) / tf.cast(end - first, tf.float32))
    row_start = tf.cast(row, tf.int32) * width  # words are read flat, row by row
    word_index = tf.ragged.range(row_start + first, row_start + end)
    text = tf.strings.reduce_join(tf.gather(tf.reshape(words, [-1]), word_index), axis=1,
                                  separator=" ")

    def per_row(values, default):
        ragged = tf.RaggedTensor.from_value_rowids(values, row, nrows=tf.cast(batch, tf.int64))
        return ragged.to_tensor(default)

    return {"num_entities": tf.math.bincount(tf.cast(row, tf.int32), minlength=batch,
                                             maxlength=batch),
            "entity_types": per_row(tf.gather_nd(prev_type, found), ""),
            "entity_starts": per_row(first, -1), "entity_ends": per_row(end, -1),
            "entity_texts": per_row(text, ""), "entity_scores": per_row(score, 0.0)}
