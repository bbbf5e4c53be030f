"""Integrated gradients on the embedding output of a task model.

    from kerasbert.tasks.integrated_gradients import explain
    explain(model, ["a gripping film"])           # model: a Keras task model
    # [{"text": ..., "label": "positive", "score": 0.93, "baseline_score": 0.41,
    #   "tokens": ["[CLS]", "a", "gripping", "film", "[SEP]"], "attributions": [...],
    #   "words": ["a", "gripping", "film"], "word_attributions": [...],
    #   "word_offsets": [[0, 1], [2, 10], [11, 15]], "convergence_delta": -0.01}]

What is attributed is the output of the encoder's embeddings layer (word +
position + segment embeddings after LayerNorm and dropout, i.e. what
captum's `LayerIntegratedGradients` on Hugging Face's `model.bert.embeddings`
attributes to), against the embedding output of a baseline whose token ids
are `[PAD]` everywhere except `[CLS]` and `[SEP]` (segment ids, positions
and padding mask those of the input). The path integral is captum's
`method="riemann_trapezoid"`: `alphas = linspace(0, 1, steps)`, step sizes
`1 / steps` with the two ends halved (so they sum to `(steps - 1) / steps`,
as captum's do). All steps of a batch of rows run as one batch through the
model, in graph (`tf.function`):

    attribution[token] = sum over hidden of
        (input_emb - baseline_emb) * sum_k step_k * d score / d emb (baseline_emb
                                            + alpha_k (input_emb - baseline_emb))

The score is the explained output: the softmax probability of the target
class (classification), the sigmoid of the target label (multi-label), the
raw output (regression). `convergence_delta = sum(attributions) - (score -
baseline_score)`, as captum's `compute_convergence_delta`.

NER and QA models (sequence heads) are explained per predicted entity and
for the answer's start and end, with scores of the logits given to
`integrated_gradients` as functions: see kerasbert.tasks.explain_ner_qa
for their records.

`Explainer` is the one implementation: `explain` here, the Keras task models'
`explain`, `kerasbert.serving.Predictor.explain`, `python -m
kerasbert.explain` and the SavedModel's `explain` signature (classification,
multi-label and regression only) all run its graph.
"""

import re

import numpy as np
import tensorflow as tf

# How each task's score is read from its logits.
SCORE_KINDS = {"classification": "softmax", "multilabel": "sigmoid", "regression": "identity"}
# Sequence heads, explained by kerasbert.tasks.explain_ner_qa.
SEQUENCE_TASKS = ("ner", "qa")
DEFAULT_STEPS = 32
DEFAULT_BATCH_SIZE = 4  # rows per model call; each row runs `steps` + 2 sequences

_CJK_RANGES = ("\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\U0002a700-\U0002b73f"
               "\U0002b740-\U0002b81f\U0002b820-\U0002ceaf\uf900-\ufaff\U0002f800-\U0002fa1f")
_WORD = re.compile(f"[{_CJK_RANGES}]|[^\\s{_CJK_RANGES}]+")


def supports(task_name):
    """Whether rows of task `task_name` can be explained by `Explainer`."""
    return task_name in SCORE_KINDS or task_name in SEQUENCE_TASKS


def supports_signature(task_name):
    """Whether `Explainer.serving_outputs` (the SavedModel's `explain`
    signature) covers task `task_name`: classification, multi-label and
    regression; NER and QA records (an entity list, two scores) are Python's."""
    return task_name in SCORE_KINDS


def trapezoid(steps):
    """(alphas, step sizes) of captum's `riemann_trapezoid` rule, float32 numpy."""
    steps = int(steps)
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the trapezoid rule's two ends), got {steps}")
    sizes = np.full(steps, 1.0 / steps)
    sizes[0] /= 2
    sizes[-1] /= 2
    return np.linspace(0.0, 1.0, steps).astype(np.float32), sizes.astype(np.float32)


def baseline_token_ids(token_ids, pad_id, cls_id, sep_id):
    """`token_ids` with every token but `[CLS]` and `[SEP]` replaced by `[PAD]`."""
    keep = tf.logical_or(tf.equal(token_ids, cls_id), tf.equal(token_ids, sep_id))
    return tf.where(keep, token_ids, tf.cast(pad_id, token_ids.dtype))


def embedding_output(model, token_ids, segment_ids):
    """The encoder's embeddings layer output (inference: no dropout), float32."""
    out = model.encoder.embeddings(token_ids, segment_ids, training=False)
    return tf.cast(out, tf.float32)


def logits_from_embeddings(model, embedded, padding_mask):
    """The task model's float32 logits from its embeddings layer's output: the
    rest of `model`'s forward pass (transformer layers, pooling, head), at
    inference. `model` is a Keras task model (a `BertTask`)."""
    encoder = model.encoder
    hidden = tf.cast(embedded, encoder.embeddings.compute_dtype)
    bias = encoder.get_layer("attention_bias")(padding_mask)
    for block in encoder.transformer_layers:
        hidden = block(hidden, bias, training=False)
    if model.head == "sequence":
        x = hidden
    elif model.pooling == "mean":
        x = model.get_layer("mean_pooling")(hidden, padding_mask)
    else:
        x = encoder.pooler(hidden[:, 0, :])
    return tf.cast(model.get_layer("logits")(x), tf.float32)


def target_scores(logits, targets, kind):
    """The explained score of each row: `logits` `[batch, n]`, `targets` int `[batch]`;
    `kind` a name of `SCORE_KINDS` or a function `(logits, targets) -> [batch]`."""
    if callable(kind):
        return kind(logits, targets)
    if kind == "softmax":
        values = tf.nn.softmax(logits, axis=-1)
    elif kind == "sigmoid":
        values = tf.sigmoid(logits)
    elif kind == "identity":
        values = logits
    else:
        raise ValueError(f"unknown score kind {kind!r}")
    return tf.gather(values, targets, batch_dims=1)


def integrated_gradients(model, features, targets, steps=DEFAULT_STEPS, kind="softmax",
                         special_ids=None):
    """Integrated gradients of a batch, as TF ops (run it in a `tf.function`).

    Args:
        model: the task model (a `BertTask`: `.encoder`, a pooled head).
        features: int32 `[batch, seq]` `token_ids`, `segment_ids`, `padding_mask`.
        targets: int32 `[batch]`: the output explained per row; a negative
            target is the predicted one (argmax of the logits; 0 for regression).
        steps: points of the trapezoid rule (>= 2).
        kind: "softmax", "sigmoid" or "identity" (`SCORE_KINDS`), or a function
            `(logits, targets) -> float32 [batch]` of the model's logits (any
            head, e.g. a sequence head's `[batch, seq, n]`) and `targets` (then
            any tensor with the batch first, passed through unresolved).
        special_ids: (pad, cls, sep) token ids (default: the model's preprocessor's).

    Returns:
        A dict of tensors: `attributions` float32 `[batch, seq]` (0 at padding),
        `score`, `baseline_score` `[batch]`, `target` int32 `[batch]`, `logits`.
    """
    if special_ids is None:
        tokenizer = model.preprocessor.tokenizer
        special_ids = (tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id)
    alphas, sizes = trapezoid(steps)
    token_ids = tf.cast(features["token_ids"], tf.int32)
    segment_ids = tf.cast(features["segment_ids"], tf.int32)
    padding_mask = tf.cast(features["padding_mask"], tf.int32)
    batch, length = tf.shape(token_ids)[0], tf.shape(token_ids)[1]

    inputs = embedding_output(model, token_ids, segment_ids)
    baseline = embedding_output(model, baseline_token_ids(token_ids, *special_ids), segment_ids)
    ends = logits_from_embeddings(model, tf.concat([inputs, baseline], 0),
                                  tf.concat([padding_mask, padding_mask], 0))
    logits, baseline_logits = ends[:batch], ends[batch:]
    if not callable(kind):
        targets = tf.cast(targets, tf.int32)
        predicted = tf.cast(tf.argmax(logits, axis=-1), tf.int32)
        if kind == "identity":
            predicted = tf.zeros_like(predicted)
        targets = tf.where(targets < 0, predicted, targets)

    difference = inputs - baseline  # [batch, seq, hidden]
    hidden = tf.shape(inputs)[2]
    path = (baseline[:, None] + alphas[None, :, None, None] * difference[:, None])
    path = tf.reshape(path, [batch * steps, length, hidden])
    with tf.GradientTape() as tape:
        tape.watch(path)
        path_logits = logits_from_embeddings(model, path, tf.repeat(padding_mask, steps, axis=0))
        path_scores = target_scores(path_logits, tf.repeat(targets, steps, axis=0), kind)
    gradients = tf.reshape(tape.gradient(path_scores, path), [batch, steps, length, hidden])
    mean_gradient = tf.reduce_sum(gradients * sizes[None, :, None, None], axis=1)
    attributions = tf.reduce_sum(difference * mean_gradient, axis=-1)
    attributions *= tf.cast(padding_mask, tf.float32)
    return {"attributions": attributions, "score": target_scores(logits, targets, kind),
            "baseline_score": target_scores(baseline_logits, targets, kind),
            "target": targets, "logits": logits}


class Explainer:
    """Integrated gradients of raw strings for one model, in graph.

    Args:
        model: the task model (a `BertTask`).
        tokenizer: its `BertTokenizer` (sequence length = the model's).
        task_name: "classification", "multilabel", "regression", "ner" or "qa".
        labels: the label names (the outputs' order; NER: the tags), or None.
        steps: points of the trapezoid rule.
        settings: NER / QA: the task's settings (`Task.config()["settings"]`:
            case markers; doc stride, max query length, the answer search).
    """

    def __init__(self, model, tokenizer, task_name, labels=None, steps=DEFAULT_STEPS,
                 settings=None):
        if not supports(task_name):
            raise ValueError(f"explanations cover {', '.join([*SCORE_KINDS, *SEQUENCE_TASKS])} "
                             f"models, not {task_name}")
        trapezoid(steps)  # checks steps
        self.model, self.tokenizer, self.task_name = model, tokenizer, task_name
        self.labels = None if labels is None else [str(label) for label in labels]
        self.steps, self.kind = int(steps), SCORE_KINDS.get(task_name)
        self.special_ids = (tokenizer.pad_token_id, tokenizer.cls_token_id,
                            tokenizer.sep_token_id)
        self.task = None
        if task_name in SEQUENCE_TASKS:
            from kerasbert.tasks.registry import get_task

            labels = self.labels
            if task_name == "ner" and labels is None:
                labels = [str(i) for i in range(self.num_outputs)]
            self.task = get_task(task_name, labels, **(settings or {})).bind(self.model)
        self._functions = {}

    def sequence_functions(self, cls):
        """The compiled graphs of a sequence head (`explain_ner_qa.NerFunctions`
        or `QaFunctions`), built once."""
        if cls not in self._functions:
            self._functions[cls] = cls(self)
        return self._functions[cls]

    @property
    def num_outputs(self):
        return self.model.get_layer("logits").units

    # -- in graph ------------------------------------------------------------------------------

    def explain_strings(self, texts, pairs, targets):
        """Tensors of a batch of raw strings (`pairs` None for single texts):
        the model's features trimmed to the batch's longest row and what
        `integrated_gradients` returns."""
        from kerasbert.tasks.signature import trim_padding

        features, _ = trim_padding(self.tokenizer(texts, pairs))
        tokenizer = self.tokenizer
        out = integrated_gradients(
            self.model, features, targets, self.steps, self.kind,
            (tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id))
        return {**features, **out}

    def serving_outputs(self, texts, pairs=None):
        """The SavedModel `explain` signature's outputs (predicted targets):
        `tokens` string `[n, seq]` ("" at padding), `attributions` float32
        `[n, seq]`, `score`, `baseline_score` `[n]`, `label` string `[n]` ("" for
        regression)."""
        out = self.explain_strings(texts, pairs, tf.fill(tf.shape(texts), -1))
        mask = out["padding_mask"] > 0
        vocabulary = tf.constant(self.tokenizer.vocabulary, tf.string)
        tokens = tf.where(mask, tf.gather(vocabulary, out["token_ids"]), "")
        if self.labels and self.kind != "identity":
            label = tf.gather(tf.constant(self.labels, tf.string), out["target"])
        else:
            label = tf.fill(tf.shape(texts), "")
        return {"tokens": tokens, "attributions": out["attributions"], "score": out["score"],
                "baseline_score": out["baseline_score"], "label": label}

    def function(self, pair):
        """The compiled `explain_strings` (1-D strings, [pairs], int32 targets)."""
        if pair not in self._functions:
            strings = tf.TensorSpec([None], tf.string)
            targets = tf.TensorSpec([None], tf.int32)
            if pair:
                fn = tf.function(lambda t, p, k: self.explain_strings(t, p, k),
                                 input_signature=[strings, strings, targets], autograph=False)
            else:
                fn = tf.function(lambda t, k: self.explain_strings(t, None, k),
                                 input_signature=[strings, targets], autograph=False)
            self._functions[pair] = fn
        return self._functions[pair]

    # -- in Python -----------------------------------------------------------------------------

    def target_index(self, target):
        """A label name or index -> the output index; None -> -1 (the predicted one)."""
        if target is None:
            return -1
        if self.kind == "identity":
            if str(target) not in ("0",) and not (self.labels and str(target) in self.labels):
                raise ValueError(f"target: a regression model has one output, got {target!r}")
            return 0
        if self.labels and str(target) in self.labels:
            return self.labels.index(str(target))
        if isinstance(target, (int, np.integer)) or str(target).lstrip("-").isdigit():
            index = int(target)
            if 0 <= index < self.num_outputs:
                return index
        known = ", ".join(self.labels) if self.labels else f"0..{self.num_outputs - 1}"
        raise ValueError(f"target: unknown label {target!r}; the model's labels are {known}")

    def explain(self, texts, pairs=None, target=None, batch_size=DEFAULT_BATCH_SIZE):
        """One record per row (see the module doc); `target`: a label name or
        index for every row (None: each row's predicted one). NER rows (texts
        of whitespace-separated words) and QA rows (questions `texts`,
        contexts `pairs`) explain their predictions, with no `target`
        (kerasbert.tasks.explain_ner_qa)."""
        texts = [str(t) for t in texts]
        if pairs is not None:
            pairs = [str(p) for p in pairs]
            if len(pairs) != len(texts):
                raise ValueError(f"{len(texts)} texts and {len(pairs)} pairs")
        if self.task is not None:
            return self._explain_sequences(texts, pairs, target, max(int(batch_size), 1))
        index = self.target_index(target)
        fn = self.function(pairs is not None)
        records = []
        for start in range(0, len(texts), max(int(batch_size), 1)):
            batch = texts[start:start + batch_size]
            args = [tf.constant(batch, tf.string)]
            if pairs is not None:
                args.append(tf.constant(pairs[start:start + batch_size], tf.string))
            args.append(tf.fill([len(batch)], index))
            out = {k: v.numpy() for k, v in fn(*args).items()}
            for i, text in enumerate(batch):
                pair = None if pairs is None else pairs[start + i]
                records.append(self._record(text, pair, {k: v[i] for k, v in out.items()}))
        return records

    def _explain_sequences(self, texts, pairs, target, batch_size):
        from kerasbert.tasks import explain_ner_qa

        if target is not None:
            raise ValueError(f"target: {self.task_name} explanations explain the predicted "
                             f"{'entities' if self.task_name == 'ner' else 'answer'}; "
                             f"there is no target to choose")
        if self.task_name == "ner":
            if pairs is not None:
                raise ValueError("NER models read single texts, not pairs")
            return explain_ner_qa.explain_ner(self, texts, batch_size)
        if pairs is None:
            raise ValueError("QA models read (questions, contexts): give the contexts as pairs")
        return explain_ner_qa.explain_qa(self, texts, pairs, batch_size)

    def _record(self, text, pair, row):
        length = int(row["padding_mask"].sum())
        ids = row["token_ids"][:length]
        attributions = [float(a) for a in row["attributions"][:length]]
        target = int(row["target"])
        score, baseline = float(row["score"]), float(row["baseline_score"])
        if self.kind == "identity":
            label = None
        else:
            label = self.labels[target] if self.labels else str(target)
        record = {"text": text}
        if pair is not None:
            record["text_pair"] = pair
        record.update({
            "label": label, "score": score, "baseline_score": baseline,
            "tokens": [self.tokenizer.id_to_token(i) for i in ids],
            "attributions": attributions})
        segments = row["segment_ids"][:length]
        first = int((segments == 0).sum()) - 2  # [CLS] ... [SEP]
        spans = [(text, 1, first, 0)]
        if pair is not None:
            spans.append((pair, first + 2, length - first - 3, 1))
        words, word_attributions, offsets, word_segments = [], [], [], []
        for segment_text, position, count, segment in spans:
            for word, value, span in group_words(self.tokenizer, segment_text,
                                                 ids[position:position + count],
                                                 attributions[position:position + count]):
                words.append(word)
                word_attributions.append(value)
                offsets.append(span)
                word_segments.append(segment)
        record.update({"words": words, "word_attributions": word_attributions,
                       "word_offsets": offsets})
        if pair is not None:
            record["word_segments"] = word_segments
        record["convergence_delta"] = float(sum(attributions) - (score - baseline))
        return record


def word_spans(text):
    """[(start, end)] of the words of `text`: runs of non-space characters,
    each CJK character a word of its own."""
    return [m.span() for m in _WORD.finditer(text)]


def group_words(tokenizer, text, piece_ids, piece_attributions):
    """[(word, summed attribution, [start, end])] of the words of `text` that
    have pieces among its first WordPiece pieces, the ones the model saw
    (`piece_ids`, with their attributions); each piece counts toward the word
    its first character is in."""
    ids, starts, _ = tokenizer.tokenize_with_offsets(text)
    if [int(i) for i in ids[:len(piece_ids)]] != [int(i) for i in piece_ids]:
        raise ValueError(f"the pieces of {text!r} with offsets differ from the model's")
    spans = word_spans(text)
    if not spans:
        return []
    begins = [s for s, _ in spans]
    totals = {}
    for start, value in zip(starts, piece_attributions):
        word = max(np.searchsorted(begins, start, side="right") - 1, 0)
        totals[word] = totals.get(word, 0.0) + float(value)
    return [(text[spans[w][0]:spans[w][1]], totals[w], list(spans[w])) for w in sorted(totals)]


def explain(model, texts, target=None, steps=DEFAULT_STEPS, batch_size=DEFAULT_BATCH_SIZE,
            pairs=None, tokenizer=None, task_name=None, labels=None, settings=None):
    """Integrated-gradients records of `texts` (a list of strings, or a tuple
    `(texts, pairs)` for sentence pairs; QA: `(questions, contexts)`) for a
    Keras task model.

    `target`: a label name or index (default: each row's predicted label;
    NER and QA take none). `tokenizer`, `task_name`, `labels` and the NER /
    QA `settings` default to the model's (its preprocessor's tokenizer,
    `task_name`, `labels`, `task_spec()`'s settings)."""
    if isinstance(texts, tuple):
        if len(texts) != 2:
            raise ValueError(f"texts as a tuple must be (texts, pairs), got {len(texts)} items")
        texts, pairs = texts
    if isinstance(texts, str):
        texts = [texts]
    if tokenizer is None:
        preprocessor = getattr(model, "preprocessor", None)
        if preprocessor is None:
            raise ValueError("explaining raw text needs the model's preprocessor (tokenizer)")
        tokenizer = preprocessor.tokenizer
    task_name = task_name or model.task_name
    if labels is None:
        labels = getattr(model, "labels", None)
    if settings is None and task_name in SEQUENCE_TASKS and hasattr(model, "task_spec"):
        spec = model.task_spec()
        settings = spec.config().get("settings")
        labels = labels if labels is not None else spec.labels
    return cached_explainer(model, tokenizer, task_name, labels, steps, settings).explain(
        texts, pairs, target, batch_size)


def cached_explainer(model, tokenizer, task_name, labels, steps, settings=None):
    """The `Explainer` of `model` for these settings, kept on the model so that
    its graph is traced once."""
    cache = model.__dict__.setdefault("_kerasbert_explainers", {})
    key = (id(tokenizer), task_name, tuple(labels or ()), int(steps),
           tuple(sorted((settings or {}).items())))
    if key not in cache:
        cache[key] = Explainer(model, tokenizer, task_name, labels, steps, settings)
    return cache[key]
