"""Token classification (NER) on raw strings: words are the text's
whitespace-separated tokens (as in a CoNLL file), each tagged through its
first sub-token; predictions are entity spans over words.

The SavedModel builds the entities in the graph with conlleval's chunking
rules (`metrics.sequence_labeling.entity_spans`), vectorised: a chunk ends
between two words and starts at a word by comparing each tag with the one
before it.
"""

import tensorflow as tf

from kerasbert.serving.task_io import Evaluation, TaskIO


class TaggingIO(TaskIO):
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
        from kerasbert.data.ner_alignment import WORD_IDS, align_tags

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

    def evaluate(self, model, path, columns, batch_size=32, encoding="utf-8", data_dir=None):
        """Entity precision / recall / F1 over a CoNLL file (token first, tag
        last); a tag the model was not trained on is an error naming its line."""
        from kerasbert.data.errors import DataError
        from kerasbert.data.label_vocabulary import LabelVocabulary
        from kerasbert.data.ner_alignment import tagging_dataset
        from kerasbert.training.inputs import read_tagged_sentences
        from kerasbert.training.predictions import predict_tagging

        vocabulary = LabelVocabulary(self.task.labels)
        sentences = read_tagged_sentences(path, vocabulary, encoding=encoding)
        if not sentences:
            raise DataError(path, "no sentences to evaluate")
        dataset = tagging_dataset(sentences, self.tokenizer, vocabulary, batch_size=batch_size,
                                  mode="bucket", keep_word_ids=True,
                                  case_markers=self.task.case_markers)
        logits, labels, word_ids = predict_tagging(model, dataset, self.tokenizer.sequence_length,
                                                   self.task.ignore_label)
        return Evaluation(self.task.compute_metrics(logits, labels, word_ids), len(sentences))

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
    conlleval's rules; see `TaggingIO` for the outputs."""
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
