"""QA serving (the SavedModel's graph) windows and answers, on odd contexts:
those of run_squad.py written out in plain Python (tests/reference.py), from
one tokenizer with offsets (transformers' tokens and character offsets)."""

import numpy as np
import pytest
import tensorflow as tf

from kerasbert import BertTokenizer
from kerasbert.checkpoints.sources import vocabulary_file
from kerasbert.data.qa_features import squad_features
from kerasbert.data.squad import SquadExample, read_squad
from kerasbert.tasks.question_answering import QuestionAnsweringSignature
from kerasbert.tasks import get_task
from reference import run_squad_answers, run_squad_windows

# Where normalisation changes a word's length (decomposed accents, "İ", controls
# removed, final sigma), an over-long word, CJK.
ODD_CONTEXTS = ["İstanbul is a cafe\u0301 in the ΟΔΟΣ ΣΟΦΟΣ street, na\u0308ive x\u00adyz.",
                "北京欢迎你，上海也是。 a\u200bb zero\ufffdwidth " + "w" * 120 + " end",
                "Ｆｕｌｌｗｉｄｔｈ ﬁne\ttab\u00a0nbsp 😀 emoji Ǆ ǅ ǆ"]


@pytest.fixture(scope="module")
def examples(test_data):
    dev = read_squad(test_data / "squad" / "dev-v1.1.json")
    first = {}
    for example in dev:  # the first question of each of the first 50 contexts
        first.setdefault(example.context, example)
        if len(first) == 50:
            break
    odd = [SquadExample(f"odd{i}", "What is there?", context, ())
           for i, context in enumerate(ODD_CONTEXTS)]
    return list(first.values()) + odd


@pytest.mark.parametrize("lowercase", [True, False])
def test_serving_windows_are_run_squads(examples, lowercase):
    tokenizer = BertTokenizer(str(vocabulary_file("all_minilm_l6_v2")), lowercase=lowercase,
                              sequence_length=128)
    task = get_task("qa", doc_stride=48, max_query_length=24)
    reference = run_squad_windows(examples, tokenizer, 128, task.doc_stride,
                                  task.max_query_length)
    io = QuestionAnsweringSignature(task, tokenizer, {})
    spec = tf.TensorSpec([None], tf.string)
    # In a graph, as the SavedModel runs it.
    serve = tf.function(lambda q, c: io.model_inputs({"question": q, "context": c}),
                        input_signature=[spec, spec])
    features, extras = serve(tf.constant([e.question for e in examples]),
                             tf.constant([e.context for e in examples]))
    assert len(reference["token_ids"]) > len(examples)  # long contexts make several windows
    for name in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(features[name].numpy(), reference[name], name)
    for name in ("char_starts", "char_ends", "max_context"):
        np.testing.assert_array_equal(extras[name].numpy(), reference[name], name)
    np.testing.assert_array_equal(extras["example"].numpy(), reference["example_index"])


def test_one_tokenizer_with_offsets_for_str_batches_and_graphs(examples):
    from transformers import BertTokenizerFast

    vocab = str(vocabulary_file("all_minilm_l6_v2"))
    tokenizer = BertTokenizer(vocab)
    reference = BertTokenizerFast(vocab=vocab)
    contexts = [e.context for e in examples]
    batched = {}
    for i in range(0, len(contexts), 16):
        pieces = (x.to_list() for x in tokenizer.tokenize_with_offsets(contexts[i:i + 16]))
        batched.update(zip(contexts[i:i + 16], zip(*pieces)))
    ids = tokenizer.tokenize(contexts).to_list()
    for i, context in enumerate(contexts):
        want = reference(context, add_special_tokens=False, return_offsets_mapping=True)
        pieces, starts, ends = batched[context]
        assert pieces == want["input_ids"] == ids[i], context[:40]
        assert list(zip(starts, ends)) == [tuple(o) for o in want["offset_mapping"]]
        assert tokenizer.tokenize_with_offsets(context) == batched[context]
    scalar = tokenizer.tokenize_with_offsets(tf.constant(contexts[-1]))
    assert [x.numpy().tolist() for x in scalar] == list(batched[contexts[-1]])


def test_serving_answers_are_run_squads_on_the_same_logits(examples):
    """Random logits: the graph's answers (sliced by character offsets from the
    original context) are run_squad.py's, and `QuestionAnsweringTask.postprocess`
    (the same search, eagerly, on `squad_features`) gives them too."""
    tokenizer = BertTokenizer(str(vocabulary_file("all_minilm_l6_v2")), sequence_length=128)
    task = get_task("qa", doc_stride=48, max_query_length=24, max_answer_length=8)
    training = squad_features(examples, tokenizer, sequence_length=128,
                              doc_stride=task.doc_stride, max_query_length=task.max_query_length)
    logits = np.random.default_rng(0).normal(size=training.token_ids.shape + (2,))
    logits = logits.astype("float32")
    reference = run_squad_answers(
        examples, run_squad_windows(examples, tokenizer, 128, task.doc_stride,
                                    task.max_query_length),
        logits[..., 0], logits[..., 1], task.n_best_size, task.max_answer_length)
    expected = [{"answer": text, "score": score} for text, score in reference.values()]
    records = task.postprocess(logits, training)
    assert [r["id"] for r in records] == [e.qas_id for e in examples]
    _assert_close(records, expected)
    io = QuestionAnsweringSignature(task, tokenizer, {})
    _, extras = io.model_inputs({"question": tf.constant([e.question for e in examples]),
                                 "context": tf.constant([e.context for e in examples])})
    outputs = io.decode_outputs({k: v.numpy() for k, v in io.serving_outputs(
        tf.constant(logits), extras).items()})
    _assert_close(outputs, expected)
    assert any(r["answer"] for r in expected)
    # The signature's Python records (numpy in, as the adapter bank calls it) are the graph's.
    assert io.postprocess(logits, {k: v.numpy() for k, v in extras.items()}) == outputs


def test_a_chinese_answer_is_a_span_of_the_context(examples):
    """Logits pointing at 上 (start) and 海 (end) of a Chinese context: the
    SavedModel's graph answers 上海, the characters of the context."""
    tokenizer = BertTokenizer(str(vocabulary_file("all_minilm_l6_v2")), sequence_length=128)
    task = get_task("qa", doc_stride=48, max_query_length=24, max_answer_length=8)
    chinese = [e for e in examples if e.context.startswith("北京")]
    io = QuestionAnsweringSignature(task, tokenizer, {})
    _, extras = io.model_inputs({"question": tf.constant([e.question for e in chinese]),
                                 "context": tf.constant([e.context for e in chinese])})
    start = chinese[0].context.index("上海")
    char_starts = extras["char_starts"].numpy()
    logits = np.zeros(char_starts.shape + (2,), "float32")
    logits[..., 0] = np.where(char_starts == start, 10.0, 0.0)
    logits[..., 1] = np.where(char_starts == start + 1, 10.0, 0.0)
    outputs = io.decode_outputs({k: v.numpy() for k, v in io.serving_outputs(
        tf.constant(logits), extras).items()})
    assert [o["answer"] for o in outputs] == ["上海"]


def _assert_close(records, expected):
    """Same answers, and scores within float32 rounding (None: no valid span)."""
    assert [r["answer"] for r in records] == [r["answer"] for r in expected]
    np.testing.assert_allclose([np.nan if r["score"] is None else r["score"] for r in records],
                               [np.nan if r["score"] is None else r["score"] for r in expected],
                               rtol=1e-5)
