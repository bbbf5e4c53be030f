"""Data of token classification (NER) for `fine_tune`: CoNLL files, the tag
vocabulary inferred from train, and dev evaluation on words.

Sentences are aligned to WordPieces once per run (`ner_alignment.align_tags`,
run eagerly), and each epoch only shuffles and batches the aligned sentences:
building `ner_alignment.tagging_dataset` anew every epoch would trace the
tokenizer's graph every time.
"""

import collections

import tensorflow as tf

from kerasbert.data.errors import DataError
from kerasbert.data.label_vocabulary import LabelVocabulary
from kerasbert.data.ner_alignment import WORD_IDS, align_tags
from kerasbert.data.pipeline import batch_sequences, distribute
from kerasbert.tasks import get_task
from kerasbert.training.inputs import read_tagged_sentences
from kerasbert.training.predictions import predict_tagging
from kerasbert.training.task_data import Evaluation, TaskData, TaskInputs

_ALIGN_BATCH = 256


def aligned_sentences(sentences, tokenizer, vocabulary, case_markers=False):
    """Every sentence's aligned sequences, without padding.

    Args:
        sentences: TaggedSentences.
        tokenizer: a BertTokenizer; sentences longer than its `sequence_length`
            in sub-tokens are cut.
        vocabulary: the tag LabelVocabulary (an unknown tag is a DataError
            naming the sentence's line).
        case_markers: see `ner_alignment.align_tags`.

    Returns:
        Dict of int32 RaggedTensors `[num_sentences, (length)]`: `token_ids`,
        `segment_ids`, `padding_mask`, `labels` and `word_ids` (see `align_tags`).
    """
    parts = collections.defaultdict(list)
    for start in range(0, len(sentences), _ALIGN_BATCH):
        batch = sentences[start:start + _ALIGN_BATCH]
        words = tf.ragged.constant([list(s.words) for s in batch], dtype=tf.string)
        tags = tf.ragged.constant(
            [[vocabulary.encode(t, line=s.line, field="tag") for t in s.tags] for s in batch],
            dtype=tf.int32, ragged_rank=1)
        aligned = align_tags(tokenizer, words, tags, tokenizer.sequence_length, case_markers)
        lengths = tf.reduce_sum(aligned["padding_mask"], axis=1)
        for name, values in aligned.items():
            parts[name].append(tf.RaggedTensor.from_tensor(values, lengths=lengths))
    return {name: tf.concat(values, axis=0) for name, values in parts.items()}


def sentence_batches(aligned, tokenizer, *, batch_size, mode, shuffle=False, seed=0,
                     input_context=None, keep_word_ids=False):
    """`(features, labels)` batches of aligned sentences (see `aligned_sentences`),
    shuffled by `seed` and sharded as `pipeline.distribute` does, batched as
    `pipeline.batch_sequences` does (per-replica batches under `input_context`)."""
    names = [name for name in aligned if keep_word_ids or name != WORD_IDS]
    dataset = tf.data.Dataset.from_tensor_slices({name: aligned[name] for name in names})
    dataset = dataset.map(lambda e: {k: tf.convert_to_tensor(v) for k, v in e.items()})
    dataset = distribute(dataset, shuffle=shuffle, seed=seed,
                         num_examples=int(aligned["token_ids"].nrows()),
                         input_context=input_context)
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    dataset = batch_sequences(dataset, batch_size=batch_size, mode=mode,
                              sequence_length=tokenizer.sequence_length,
                              pad_token_id=tokenizer.pad_token_id)
    return dataset.prefetch(tf.data.AUTOTUNE)


class TaggingData(TaskData):
    """TaggedSentences of a train and an optional dev CoNLL file."""

    task_name = "ner"  # the task read by default (`read`)

    def __init__(self, train, dev, vocabulary, task_name=None, **settings):
        self.train, self.dev, self.vocabulary = train, dev, vocabulary
        self.task = get_task(task_name or self.task_name, vocabulary.labels, **settings)

    @classmethod
    def read(cls, train_data, eval_data=None, *, encoding="utf-8", task_name=None, **settings):
        """Read train, infer its tags, and read dev checking every tag against them;
        `settings` are the task's (NER: `case_markers`)."""
        train = read_tagged_sentences(train_data, encoding=encoding)
        vocabulary = LabelVocabulary.from_examples(train)
        dev = (read_tagged_sentences(eval_data, vocabulary, encoding=encoding)
               if eval_data else None)
        return cls(train, dev, vocabulary, task_name, **settings)

    def _aligned(self, sentences, tokenizer):
        return aligned_sentences(sentences, tokenizer, self.vocabulary, self.task.case_markers)

    def inputs(self, tokenizer, *, batch_size, seed, batch_mode):
        train = self._aligned(self.train, tokenizer)

        def train_dataset_fn(epoch, input_context):
            return sentence_batches(train, tokenizer, batch_size=batch_size, mode=batch_mode,
                                    shuffle=True, seed=seed + epoch, input_context=input_context)

        evaluate_fn = None
        if self.dev:
            dev = sentence_batches(self._aligned(self.dev, tokenizer), tokenizer,
                                   batch_size=batch_size, mode="bucket", keep_word_ids=True)

            def evaluate_fn(model):
                self.task.bind(model)  # a CRF head decodes with the model's transitions
                logits, labels, word_ids = predict_tagging(
                    model, dev, tokenizer.sequence_length, self.task.ignore_label)
                return self.task.compute_metrics(logits, labels, word_ids)

        return TaskInputs(train_dataset_fn, len(self.train), evaluate_fn)

    @classmethod
    def evaluate_file(cls, signature, model, path, columns=None, batch_size=32, encoding="utf-8",
                      data_dir=None):
        """Entity precision / recall / F1 over a CoNLL file (token first, tag
        last), as the dev file in training; a tag the model was not trained
        on is an error naming its line."""
        task, tokenizer = signature.task.bind(model), signature.tokenizer
        vocabulary = LabelVocabulary(task.labels)
        sentences = read_tagged_sentences(path, vocabulary, encoding=encoding)
        if not sentences:
            raise DataError(path, "no sentences to evaluate")
        batches = sentence_batches(
            aligned_sentences(sentences, tokenizer, vocabulary, task.case_markers), tokenizer,
            batch_size=batch_size, mode="bucket", keep_word_ids=True)
        logits, labels, word_ids = predict_tagging(model, batches, tokenizer.sequence_length,
                                                   task.ignore_label)
        return Evaluation(task.compute_metrics(logits, labels, word_ids), len(sentences))
