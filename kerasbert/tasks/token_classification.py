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
from kerasbert.metrics.sequence_labeling import (entity_chunks, entity_spans,
                                                 sequence_labeling_metrics)
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


NER_HEADS = ("softmax", "crf")


def first_positions(word_ids):
    """bool `[batch, seq]`: the positions that start a word (TF ops), given
    each position's word index `word_ids` (-1: none)."""
    word_ids = tf.convert_to_tensor(word_ids)
    previous = tf.pad(word_ids[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    return (word_ids >= 0) & (word_ids != previous)


@register_task("ner")
class TokenClassificationTask(Task):
    """Labels int32 `[batch, seq]` tag ids (-100: not scored); logits
    `[batch, seq, num_tags]`. `labels` are the tag strings, e.g. `B-PER`.
    With `case_markers`, capitalised and all-caps words get a marker piece
    (`data.ner_alignment.align_tags`) in training, evaluation and serving.

    `ner_head`: "softmax" tags each word by its own logits (cross-entropy,
    argmax); "crf" puts a linear-chain CRF over the words (`layers.crf`: the
    model's "crf" layer, read through `bind`): the loss is the tag sequence's
    negative log-likelihood, and the tags are its Viterbi decoding, in
    training's evaluation, `evaluate`, `predict` and the SavedModel alike.
    """

    head = "sequence"
    main_metric = "entity_f1"

    def __init__(self, labels=None, case_markers=False, ner_head="softmax"):
        super().__init__(labels)
        if ner_head not in NER_HEADS:
            raise ValueError(f"ner_head must be one of {', '.join(NER_HEADS)}, got {ner_head!r}")
        self.case_markers = bool(case_markers)
        self.ner_head = ner_head
        self.crf = None  # the model's CRF layer, once bound

    @property
    def uses_crf(self):
        return self.ner_head == "crf"

    def config(self):
        return {**super().config(),
                "settings": {"case_markers": self.case_markers, "ner_head": self.ner_head}}

    def bind(self, model):
        from kerasbert.tasks.heads import crf_layer

        crf = crf_layer(model)
        if self.uses_crf and crf is None:
            raise ValueError("ner_head='crf' needs a model with a CRF head (crf=True)")
        self.crf = crf if self.uses_crf else None
        return self

    def _chain(self):
        if self.crf is None:
            raise ValueError("a CRF task reads its model's transitions: call task.bind(model)")
        return self.crf

    def loss(self, labels, logits):
        """Softmax: cross-entropy summed over scored positions, and their
        count. CRF: the sentences' negative log-likelihoods summed, over the
        same count (so a sentence weighs as its words, as with softmax)."""
        valid = labels >= 0
        safe = tf.where(valid, labels, 0)
        if self.uses_crf:
            log_likelihood = self._chain().log_likelihood(logits, safe, valid)
            return -tf.reduce_sum(log_likelihood), tf.reduce_sum(tf.cast(valid, tf.float32))
        per_position = tf.nn.sparse_softmax_cross_entropy_with_logits(safe, logits)
        return masked_sum(per_position, valid)

    def predicted_tags(self, logits, word_ids):
        """int32 `[batch, seq]` tag id per position (TF ops): the argmax of
        its logits, or with a CRF the Viterbi path over the words' first
        positions (`first_positions(word_ids)`), 0 elsewhere."""
        if not self.uses_crf:
            return tf.argmax(logits, axis=-1, output_type=tf.int32)
        return self._chain().decode(logits, first_positions(word_ids))

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
        if word_ids is None:
            word_ids = word_ids_from_labels(labels)
        predicted_ids = self.predicted_tags(tf.constant(logits, tf.float32),
                                            tf.constant(word_ids, tf.int32)).numpy()
        gold, predicted = self.sentence_tags(predicted_ids, labels, word_ids)
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
        tag_ids = self.predicted_tags(tf.constant(logits, tf.float32),
                                      tf.constant(word_ids, tf.int32)).numpy()
        outlined = []
        for row_probs, row_ids, row_words, sentence in zip(probabilities, tag_ids, word_ids,
                                                           words):
            ids = word_tags(row_ids, row_words, len(sentence), fill=None)
            confidence = word_tags(np.take_along_axis(row_probs, row_ids[:, None], -1)[:, 0],
                                   row_words, len(sentence), fill=0.0)
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
    tensor of sentences (split into words as BERT's basic tokenizer splits
    them: `BertTokenizer.split_words_with_offsets`); `y` an int RaggedTensor
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
        if x.shape.rank == 1:
            return self.tokenizer.split_words_with_offsets(x)[0]
        return tf.RaggedTensor.from_tensor(x)

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

    With `head="crf"` the logits feed a linear-chain CRF (`layers.crf.CRF`,
    the layer "crf"): `compile()`'s default loss is then the tag sequences'
    negative log-likelihood, and `task_spec()` (which predict, evaluate and
    the exported SavedModel use) decodes tags with Viterbi; `predict` still
    gives the per-word logits (the CRF's emission scores).

    Args:
        encoder: a `BertEncoder`.
        num_tags: the number of tags.
        preprocessor: a `BertTokenClassifierPreprocessor`, or None (features in).
        labels: the tag names, optional.
        head: "softmax" (one softmax per word) or "crf".
        Others: as `BertClassifier`'s.
    """

    task_name = "ner"
    preprocessor_class = BertTokenClassifierPreprocessor
    preprocessor_arguments = ("case_markers",)
    weighted_metrics_by_default = True

    def __init__(self, encoder, num_tags, preprocessor=None, labels=None, dropout=None,
                 head="softmax", **kwargs):
        kwargs.pop("pooling", None)
        kwargs.pop("crf", None)
        if head not in NER_HEADS:
            raise ValueError(f"head must be one of {', '.join(NER_HEADS)}, got {head!r}")
        super().__init__(encoder, num_tags, "sequence", preprocessor, labels, dropout,
                         crf=head == "crf", **kwargs)
        self.num_tags = int(num_tags)
        self.ner_head = head

    @classmethod
    def from_parts(cls, encoder, tokenizer, num_outputs, labels=None, pooling="cls",
                   task_name="ner", case_markers=False, ner_head="softmax", **settings):
        return cls(encoder, num_outputs, BertTokenClassifierPreprocessor(tokenizer, case_markers),
                   labels=labels, head=ner_head)

    def task_config(self):
        config = super().task_config()
        config.pop("pooling")
        return {**config, "num_tags": self.num_tags, "head": self.ner_head}

    def task_spec(self):
        from kerasbert.tasks.registry import get_task

        case_markers = getattr(self.preprocessor, "case_markers", False)
        return get_task("ner", self.labels or [str(i) for i in range(self.num_tags)],
                        case_markers=case_markers, ner_head=self.ner_head).bind(self)

    def default_loss(self):
        if self.ner_head == "crf":
            return CRFLoss(self.get_layer("crf"))
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


class CRFLoss(keras.losses.Loss):
    """The Keras loss of a CRF head: the negative log-likelihood of each
    sentence's tags over the positions of nonzero sample weight (a word's first
    sub-token), summed and divided by those positions' count (the preprocessor
    gives labels with sample weights 1 on first sub-tokens, 0 elsewhere)."""

    def __init__(self, crf, name="crf_loss"):
        super().__init__(name=name, reduction="sum")
        self.crf = crf

    def __call__(self, y_true, y_pred, sample_weight=None):
        mask = (tf.ones_like(y_true, tf.bool) if sample_weight is None
                else tf.cast(sample_weight, tf.float32) > 0)
        log_likelihood = self.crf.log_likelihood(y_pred, y_true, mask)
        return -tf.reduce_sum(log_likelihood) / tf.maximum(
            tf.reduce_sum(tf.cast(mask, tf.float32)), 1.0)

    def call(self, y_true, y_pred):  # Keras' abstract method; `__call__` holds the mask
        return -self.crf.log_likelihood(y_pred, y_true, tf.ones_like(y_true, tf.bool))


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
# Words are the text's words as BERT's basic tokenizer splits it
# (`BertTokenizer.split_words_with_offsets`: whitespace, punctuation, each
# CJK character), each tagged through its first sub-token. The entities are
# chunked in the graph (`metrics.sequence_labeling.entity_chunks`) and come
# back as character spans of the text. Python prediction runs the same graph
# ops eagerly (`TaggingSignature.postprocess`), so the two agree.


class TaggingSignature(TaskSignature):
    """Input `text` (1-D strings). Outputs, per text:

    - `words` string `[batch, max_words]`, `tags` string (`""` after the
      text's words), `tag_scores` float32 (probability of each word's tag, 0
      for words cut off by max_seq_length, which are tagged `O`);
    - `num_entities` int32 `[batch]` and, `[batch, max_entities]` (padded
      with "" / -1 / 0), `entity_types`, `entity_starts` and `entity_ends`
      (character offsets in the text, end exclusive), `entity_texts`
      (`text[start:end]`), `entity_scores` (mean tag probability over the
      entity's words).
    """

    sequence_extras = ("word_ids",)

    def model_inputs(self, inputs):
        words, starts, ends = self.tokenizer.split_words_with_offsets(inputs["text"])
        no_tags = words.with_flat_values(tf.zeros_like(words.flat_values, tf.int32))
        aligned = align_tags(self.tokenizer, words, no_tags, self.tokenizer.sequence_length,
                             self.task.case_markers)
        features = {k: aligned[k] for k in ("token_ids", "segment_ids", "padding_mask")}
        return features, {"word_ids": aligned[WORD_IDS], "words": words.to_tensor(""),
                          "num_words": tf.cast(words.row_lengths(), tf.int32),
                          "text": inputs["text"], "word_starts": starts.to_tensor(-1),
                          "word_ends": ends.to_tensor(-1)}

    # -- Python: the graph's ops, run eagerly -----------------------------------------------

    def postprocess(self, logits, extras):
        names = ("word_ids", "words", "num_words", "text", "word_starts", "word_ends")
        outputs = self.serving_outputs(tf.constant(logits, tf.float32),
                                       {k: tf.constant(extras[k]) for k in names})
        return self.decode_outputs({k: v.numpy() for k, v in outputs.items()})

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
        entities = _entities(tf.where(in_text, tags, "O"), tag_scores, extras["text"],
                             extras["word_starts"], extras["word_ends"])
        return {"words": words, "tags": tf.where(in_text, tags, ""),
                "tag_scores": tf.where(in_text, tag_scores, 0.0), **entities}

    def _word_predictions(self, logits, word_ids, shape):
        """(tag id, its probability) per word `[batch, max_words]`, read at each
        word's first sub-token (`TokenClassificationTask.predicted_tags`: the
        argmax, or a CRF's Viterbi path; the probability is the softmax of
        that word's logits); -1 and 0 for words without a position."""
        probabilities = tf.nn.softmax(logits, axis=-1)
        tag_ids = self.task.predicted_tags(logits, word_ids)
        first = tf.where(first_positions(word_ids))
        rows = tf.stack([first[:, 0], tf.cast(tf.gather_nd(word_ids, first), tf.int64)], axis=1)
        ids = tf.gather_nd(tag_ids, first)
        scores = tf.gather_nd(tf.gather(probabilities, tag_ids, batch_dims=2), first)
        shape = tf.cast(shape, tf.int64)
        return (tf.tensor_scatter_nd_update(tf.fill(shape, -1), rows, ids),
                tf.tensor_scatter_nd_update(tf.zeros(shape, tf.float32), rows, scores))


def _entities(tags, scores, texts, word_starts, word_ends):
    """The entities of word tags `[batch, max_words]` ("O"-padded) as
    character spans of `texts` (`[batch]`), given each word's character span
    (`word_starts`, `word_ends`, `[batch, max_words]`); see `TaggingSignature`
    for the outputs."""
    batch = tf.shape(tags)[0]
    row, types, first, end = entity_chunks(tags)
    total = tf.concat([tf.zeros([batch, 1]), tf.cumsum(scores, axis=1)], axis=1)
    score = ((tf.gather_nd(total, tf.stack([row, tf.cast(end, tf.int64)], axis=1))
              - tf.gather_nd(total, tf.stack([row, tf.cast(first, tf.int64)], axis=1)))
             / tf.cast(end - first, tf.float32))
    char_start = tf.gather_nd(word_starts, tf.stack([row, tf.cast(first, tf.int64)], axis=1))
    char_end = tf.gather_nd(word_ends, tf.stack([row, tf.cast(end - 1, tf.int64)], axis=1))
    text = tf.strings.substr(tf.gather(texts, row), char_start, char_end - char_start,
                             unit="UTF8_CHAR")

    def per_row(values, default):
        ragged = tf.RaggedTensor.from_value_rowids(values, row, nrows=tf.cast(batch, tf.int64))
        return ragged.to_tensor(default)

    return {"num_entities": tf.math.bincount(tf.cast(row, tf.int32), minlength=batch,
                                             maxlength=batch),
            "entity_types": per_row(types, ""),
            "entity_starts": per_row(tf.cast(char_start, tf.int32), -1),
            "entity_ends": per_row(tf.cast(char_end, tf.int32), -1),
            "entity_texts": per_row(text, ""), "entity_scores": per_row(score, 0.0)}
