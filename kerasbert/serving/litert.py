"""A fine-tuned model as one LiteRT (TensorFlow Lite) file: raw strings in.

    export_litert("runs/sentiment", "exported/sentiment.tflite", quantize="int8")

    # anywhere, with only ai-edge-litert and tensorflow-text installed:
    from ai_edge_litert.interpreter import InterpreterWithCustomOps
    from tensorflow_text import tflite_registrar
    interpreter = InterpreterWithCustomOps(
        model_path="exported/sentiment.tflite",
        custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS)
    serve = interpreter.get_signature_runner("serving_default")
    serve(text=np.array([b"a gripping film"]))
    # {"labels": [b"pos"], "scores": [0.93], "probabilities": [[0.07, 0.93]]}

The `.tflite` file holds the tokenizer, the task model and its
postprocessing, as the SavedModel does (`serving_model.ServingModel`), with
its `serving_default` signature's inputs and outputs:

- `serving_default`: 1-D string inputs (`text`, plus `text_pair` for pair
  models), the task's outputs (classification: `labels`, `scores`,
  `probabilities`; multi-label: `labels` `[n, num_labels]` ("" after the
  predicted ones), `scores`, `probabilities`; regression: `scores`).
- the file's metadata entry `kerasbert_task`: the model directory's task
  config (`kerasbert_task.json`: task, labels in the order of the
  `probabilities` columns, sequence length) as JSON, plus `litert_quantize`;
  `model_info.read_litert_info` reads it (the flatbuffers schema that
  ai-edge-litert ships; no TensorFlow). The file alone runs the model.

Tokenization is tensorflow-text's: `FastBertNormalize` (lower case, NFD,
accents stripped, control characters dropped) and `FastWordpieceTokenize`
(split on whitespace and punctuation, CJK characters apart, then WordPiece),
whose LiteRT kernels `tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`
registers with the interpreter, with `RaggedTensorToTensor`. Every other op
is a LiteRT builtin: no Select TF ops (Flex) are needed. It gives the ids
of `BertTokenizer` (kerasbert's in-graph tokenizer, regular expressions,
which LiteRT has no kernels for) on ordinary text; the differences are at
the edges: a word longer than `max_chars_per_word` *bytes* (not
characters) becomes [UNK], and a NUL character separates words.

Each request is padded to its longest row, not to `max_seq_length`.

`quantize`:
- "none": float32 weights;
- "float16": float16 weights (half the size), computed in float32;
- "int8": dynamic-range quantization: int8 weights (a quarter of their
  float32 size; the file, with the tokenizer's tables, 28% of float32's for
  all-MiniLM-L6-v2),
  activations quantized on the fly for the matrix products, in float32
  elsewhere. No calibration data is needed (full-integer int8 is not built).

NER and QA models are not exported to LiteRT: their inputs need word and
character offsets (`BertTokenizer.tokenize_with_offsets`), which the LiteRT
tokenizer ops do not give in the same form.
"""

import json
import tempfile

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from kerasbert.outputs import write_file
from kerasbert.serving.model_info import LITERT_METADATA, LITERT_TASKS, read_litert_info

QUANTIZE = ("none", "float16", "int8")
LITERT_FILE = "model.tflite"  # the file name kerasbert.export --format=litert writes


def check_litert_task(info):
    """Raise ValueError unless the model of task config `info` can be exported
    to LiteRT."""
    if info["task"] not in LITERT_TASKS:
        raise ValueError(f"LiteRT export serves {', '.join(LITERT_TASKS)} models, not "
                         f"{info['task']} (export a SavedModel instead)")


class LiteRTTokenizer:
    """`BertTokenizer`'s features of a batch of strings from ops that LiteRT
    runs: tensorflow-text's FastBertNormalizer and FastWordpieceTokenizer,
    and dense ops for truncation, special tokens and padding. Rows are padded
    to the batch's longest (at most `sequence_length`).

    Args:
        tokenizer: the model's `BertTokenizer` (vocabulary, casing, length).
    """

    def __init__(self, tokenizer):
        if tokenizer.lowercase != tokenizer.strip_accents:
            raise ValueError("LiteRT's BERT normalizer lower-cases and strips accents together; "
                             f"this tokenizer has lowercase={tokenizer.lowercase}, "
                             f"strip_accents={tokenizer.strip_accents}")
        self.sequence_length = tokenizer.sequence_length
        self.cls_token_id, self.sep_token_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.pad_token_id = tokenizer.pad_token_id
        self.normalizer = tf_text.FastBertNormalizer(
            lower_case_nfd_strip_accents=tokenizer.lowercase)
        self.wordpiece = tf_text.FastWordpieceTokenizer(
            tokenizer.vocabulary, suffix_indicator="##",
            max_bytes_per_word=tokenizer.max_chars_per_word, token_out_type=tf.int32,
            unknown_token="[UNK]", no_pretokenization=False)

    def tokenize(self, texts):
        """WordPiece ids without special tokens, RaggedTensor int32 `[batch, (tokens)]`."""
        return self.wordpiece.tokenize(self.normalizer.normalize(texts))

    def __call__(self, texts, pairs=None):
        """`{"token_ids", "segment_ids", "padding_mask"}`, int32 `[batch, length]`:
        `[CLS] text [SEP] (pair [SEP])`, the longer segment cut first."""
        budget = self.sequence_length - (2 if pairs is None else 3)
        first, n1 = self._dense(texts, budget)
        if pairs is None:
            second, n2 = tf.zeros_like(first[:, :1]), tf.zeros_like(n1)
        else:
            second, l2 = self._dense(pairs, budget)
            n2 = tf.minimum(l2, tf.maximum(budget // 2, budget - n1))  # as _truncate_longest_first
            n1 = tf.minimum(n1, budget - n2)
        total = n1 + n2 + (2 if pairs is None else 3)
        n1, n2, total = n1[:, None], n2[:, None], total[:, None]
        positions = tf.range(tf.reduce_max(total))[None, :] + tf.zeros_like(total)  # [batch, len]

        def take(ids, start):
            index = tf.clip_by_value(positions - start, 0, tf.shape(ids)[1] - 1)
            return tf.gather(ids, index, batch_dims=1)

        in_second = (positions >= n1 + 2) & (positions < total)
        token_ids = tf.where(positions <= n1, take(first, 1), take(second, n1 + 2))
        token_ids = tf.where((positions == n1 + 1) | (positions == total - 1),
                             self.sep_token_id, token_ids)
        token_ids = tf.where(positions == 0, self.cls_token_id, token_ids)
        token_ids = tf.where(positions < total, token_ids, self.pad_token_id)
        return {"token_ids": token_ids,
                "segment_ids": tf.cast(in_second, tf.int32) if pairs is not None
                else tf.zeros_like(token_ids),
                "padding_mask": tf.cast(positions < total, tf.int32)}

    def _dense(self, texts, budget):
        """(ids int32 `[batch, <= budget + 1]`, padded; row lengths int32
        `[batch]`, at most `budget`)."""
        ids = self.tokenize(texts)
        lengths = tf.cast(ids.row_splits[1:] - ids.row_splits[:-1], tf.int32)
        dense = ids.to_tensor(default_value=self.pad_token_id, shape=[None, budget])
        return tf.concat([dense, tf.fill([tf.shape(dense)[0], 1], self.pad_token_id)], axis=1), \
            tf.minimum(lengths, budget)


class LiteRTModule(tf.Module):
    """The `serving_default` and `metadata` functions that the `.tflite` file
    holds, over a `Predictor`'s model and task."""

    def __init__(self, predictor):
        from kerasbert.serving.task_io import get_task_io

        super().__init__(name="kerasbert_litert")
        check_litert_task(predictor.info)
        object.__setattr__(self, "model", predictor.model)  # untracked, as ServingModel's
        # The tf.Variables under Keras' variables: the converter freezes those
        # (it leaves Keras' own as variables that LiteRT never sets).
        self.model_variables = [v.value for v in predictor.model.variables]
        self.io = get_task_io(predictor.task, LiteRTTokenizer(predictor.tokenizer),
                              predictor.info)
        names = self.io.input_names
        # A LiteRT signature is named after its function.
        def serving_default(*inputs):
            return self._serve(*inputs)

        self.serve = tf.function(serving_default, input_signature=self.io.input_signature(),
                                 autograph=False)
        self.input_names = names

    def _serve(self, *inputs):
        io = self.io
        logits, extras = io.logits(self.model, dict(zip(io.input_names, inputs)))
        return io.serving_outputs(logits, extras)


def convert(predictor, quantize="none"):
    """The `.tflite` file's bytes of a `Predictor`'s model (see the module doc)."""
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZE)}, got {quantize!r}")
    module = LiteRTModule(predictor)
    with tempfile.TemporaryDirectory(prefix="kerasbert-litert-") as saved:
        # Through a SavedModel: the converter freezes its weights.
        # The function, not a concrete function: the save traces it once, itself.
        tf.saved_model.save(module, saved, signatures=module.serve)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = True  # tensorflow-text's ops, with their LiteRT kernels
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        data = converter.convert()
    return with_metadata(data, json.dumps({**predictor.info, "litert_quantize": quantize}))


def with_metadata(data, text):
    """`.tflite` bytes with `text` as their `kerasbert_task` metadata entry."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.python.util import (_convert_model_from_bytearray_to_object,
                                             _convert_model_from_object_to_bytearray)

    model = _convert_model_from_bytearray_to_object(data)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(text.encode("utf-8"), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = LITERT_METADATA.encode(), len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != entry.name] + [entry]
    return _convert_model_from_object_to_bytearray(model)


def export_litert(model_dir, path, quantize="none", predictor=None):
    """Write the `.tflite` file of the model directory `model_dir` to `path`.

    Args:
        model_dir: what `kerasbert.train` wrote (`--output_dir`).
        path: the file to write (replaced whole).
        quantize: "none", "float16" or "int8" (dynamic range: int8 weights).
        predictor: an already loaded `Predictor` of `model_dir` (saves a reload).

    Returns:
        The file's size in bytes.
    """
    from kerasbert.serving.predictor import Predictor

    data = convert(predictor or Predictor.from_directory(model_dir), quantize)
    write_file(str(path), data)
    return len(data)


def litert_interpreter(path, num_threads=None):
    """A LiteRT interpreter of a `.tflite` file with tensorflow-text's kernels
    registered (`ai_edge_litert`'s `InterpreterWithCustomOps`)."""
    from ai_edge_litert.interpreter import InterpreterWithCustomOps
    from tensorflow_text import tflite_registrar

    return InterpreterWithCustomOps(model_path=str(path), num_threads=num_threads,
                                    custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS)


class LiteRTRunner:
    """The `serving_default` signature of a `.tflite` file written by
    `export_litert`, through the LiteRT interpreter, and its task config
    (`info`, from the file's metadata)."""

    def __init__(self, path, num_threads=None):
        self.path = str(path)
        self.info = read_litert_info(self.path, "LiteRT file")
        self.interpreter = litert_interpreter(path, num_threads)
        self.serve = self.interpreter.get_signature_runner("serving_default")

    def __call__(self, inputs):
        """The `serving_default` outputs (numpy) of `{input name: [str]}`."""
        return self.serve(**{name: np.array([t.encode("utf-8") for t in values], dtype=object)
                             for name, values in inputs.items()})


class LiteRTPredictor:
    """`Predictor.predict` over a `.tflite` file (`Predictor.from_litert`):
    the same records, from the LiteRT interpreter.

    Args:
        path: the `.tflite` file (`python -m kerasbert.export --format=litert`).
        num_threads: the interpreter's CPU threads (None: its default).
    """

    def __init__(self, path, num_threads=None):
        from kerasbert.serving.task_io import get_task_io
        from kerasbert.tasks.registry import get_task

        self.runner = LiteRTRunner(path, num_threads)
        self.info = self.runner.info
        self.task = get_task(self.info["task"], self.info["labels"],
                             **self.info.get("settings", {}))
        self.io = get_task_io(self.task, None, self.info)  # no tokenizer: the file has it
        self.signature = self.io.signature

    @property
    def input_names(self):
        """The raw inputs a row has, e.g. ("text",) or ("text", "text_pair")."""
        return self.signature.input_names

    def predict(self, inputs, batch_size=32, stride=None):
        """One prediction record per row of `inputs` (`{input name: [str]}`), as
        `Predictor.predict` gives them (`stride` is not supported)."""
        from kerasbert.serving.task_io import check_inputs

        if stride is not None:
            raise ValueError("windows over long texts (stride) are not supported by LiteRT files")
        count = check_inputs(inputs, self.input_names)
        records = []
        for start in range(0, count, batch_size):
            outputs = self.runner({name: inputs[name][start:start + batch_size]
                                   for name in self.input_names})
            records.extend(self.signature.decode_outputs(outputs))
        return records

    def read_inputs(self, path, columns=None, encoding="utf-8"):
        """`{input name: [str]}` from a CSV / TSV / JSONL file."""
        from kerasbert.serving.task_io import Columns

        return self.io.read_inputs(path, columns or Columns(), encoding)
