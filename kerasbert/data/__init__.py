"""kerasbert.data: reading task data and turning it into `tf.data` pipelines.

Readers (each returns Python records, raises `errors.DataError` naming file,
line or record, and field; `skip_bad_records=True` skips and counts instead):
`delimited.read_delimited` (CSV / TSV), `jsonl.read_jsonl`, `conll.read_conll`,
`squad.read_squad`, `text_corpus.read_text_corpus`, `tfds_source.read_tfds`.

Streaming (sentence-level tasks): `streaming.TextSource` reads a CSV / TSV /
JSONL file (`delimited.iter_delimited`, `jsonl.iter_jsonl`, line by line through
`files.stream_decoded_lines`) or a TFDS split record by record; `scan` checks,
counts and collects labels in constant memory, `columns` is a `tf.data` source.

Labels: `label_vocabulary.LabelVocabulary`, saved next to the model.

Pipelines: `pipeline.classification_dataset` (of a list or a TextSource;
static or bucketed batches, sharding, seeded shuffling in a buffer of at most
`pipeline.SHUFFLE_BUFFER` examples),
`ner_alignment.tagging_dataset`, `qa_features.squad_features` / `qa_dataset`,
`long_text.window_features` / `aggregate_windows`.
"""
