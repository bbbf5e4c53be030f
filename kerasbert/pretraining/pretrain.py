"""Pretraining in one call: the Python API behind `python -m kerasbert.pretrain`.

    from kerasbert.pretraining.pretrain import pretrain
    # from scratch: a WordPiece vocabulary trained on the corpus, a chosen size
    pretrain(train_data="corpus.txt", output_dir="runs/my_bert", preset="bert_mini_en_uncased",
             vocab_size=16000)
    # continued (domain-adaptive) from any checkpoint kerasbert loads
    pretrain(PretrainConfig(train_data="corpus.txt", output_dir="runs/adapted",
                            model="all_minilm_l6_v2"))

`output_dir` ends up an encoder directory (kerasbert format, vocab.txt,
tokenizer_config.json, the pretraining heads) that `kerasbert.train
--model=output_dir` and `BertEncoder.from_preset(output_dir)` take, beside the
Trainer's checkpoints, the TFRecords (`pretraining_data/`) and `metrics.json`
(held-out MLM accuracy and perplexity before and after).
"""

import dataclasses
import json
import os

import keras
import tensorflow as tf

from kerasbert.distribute.multi_worker import worker_output_dir
from kerasbert.outputs import write_json
from kerasbert.configs.pretrain import PretrainConfig

DATA_DIR = "pretraining_data"
VOCAB_SETTINGS_FILE = "vocab_training.json"
METRICS_FILE = "metrics.json"
EVAL_SEED_OFFSET = 7919  # held-out masks: fixed, and unlike any training epoch's


def pretrain(config=None, strategy=None, jit_compile=False, **settings):
    """Pretrain with masked-LM (+ next-sentence prediction) on a text corpus
    (one sentence per line, blank lines between documents); returns the
    metrics written to `metrics.json`.

    Args:
        config: a `PretrainConfig` (every setting of `python -m kerasbert.pretrain`,
            under its flag's name; see their help there). In short:
            `model` is a preset, checkpoint or model directory to continue
            from; None pretrains from scratch: a vocabulary of `vocab_size`
            tokens (`lowercase`) is trained on the corpus and an encoder of
            `preset`'s shape (changed by `num_layers`, `hidden_size`, ...) is
            initialised. `train_data` None reads the finished preparation in
            `data_dir` without its corpus. The TFRecords are prepared per input
            shard of about `shard_size_mb` of text, in `num_workers` processes
            or a Beam pipeline (`beam_runner`); `prepare_only` stops there and
            returns the data's description. `train_encoder` False trains the
            heads only.
        strategy: the tf.distribute strategy (default: TensorFlow's current one).
        jit_compile: compile the train step with XLA.
        **settings: settings of `config` to change, or, without `config`, to
            set: `pretrain(train_data="corpus.txt", output_dir="runs/b", epochs=3)`.
    """
    from kerasbert.tasks.masking import BertMasker
    from kerasbert.tasks.pretraining_model import BertPretrainingModel, load_heads
    from kerasbert.pretraining.task import Evaluator, PretrainingTask
    from kerasbert.loop.trainer import DatasetCreator, TrainingRun, compile_for_run

    config = (PretrainConfig(**settings) if config is None
              else dataclasses.replace(config, **settings)).validate()
    keras.utils.set_random_seed(config.seed)
    strategy = strategy or tf.distribute.get_strategy()
    run_dir, output_dir = config.output_dir, worker_output_dir(config.output_dir, strategy)
    log = print if config.verbose else (lambda *args, **kwargs: None)
    tf.io.gfile.makedirs(output_dir)
    c = config
    if c.train_data is None:  # data prepared earlier (perhaps elsewhere), read without its corpus
        if not c.data_dir or c.prepare_only or c.beam_runner or c.eval_data:
            raise ValueError("without train_data, give data_dir: a finished preparation to "
                             "train on (it cannot be prepared, nor given eval_data, without "
                             "its corpus)")
        with strategy.scope():
            encoder, tokenizer, data = _prepared(c.data_dir, c.model, c.preset, c.encoder_config,
                                                 c.max_seq_length, c.next_sentence, c.dropout)
    else:
        with strategy.scope():
            encoder, tokenizer = _encoder_and_tokenizer(
                c.model, c.train_data, output_dir, c.preset, c.encoder_config, c.vocab_size,
                c.lowercase, c.max_seq_length, c.eval_data, c.eval_fraction, c.dropout,
                c.encoding, log, shard_size_mb=c.shard_size_mb, build_encoder=not c.prepare_only,
                chinese_characters=c.chinese_characters)
        data = _prepare(c.train_data, c.data_dir or os.path.join(output_dir, DATA_DIR),
                        tokenizer, c.max_seq_length, c.eval_data, c.eval_fraction,
                        c.next_sentence, c.short_seq_prob, c.dupe_factor, c.seed,
                        c.shard_size_mb, c.num_workers, c.encoding, c.overwrite, c.beam_runner,
                        c.beam_options, log, c.whole_word_masking)
    if config.prepare_only:
        return {"prepared_only": True, "train_files": data.train_files,
                "eval_files": data.eval_files, "train_instances": data.num_train,
                "eval_instances": data.num_eval}
    steps_per_epoch = _check_sizes(data, config.batch_size)
    masker = BertMasker.from_tokenizer(tokenizer, masked_lm_prob=config.masked_lm_prob,
                                       max_predictions=config.max_predictions_per_seq,
                                       whole_word=config.whole_word_masking)
    encoder.trainable = bool(config.train_encoder)
    task = PretrainingTask(config.next_sentence,
                           _expected_predictions(masker, config.max_seq_length))
    with strategy.scope():
        pretraining_model = BertPretrainingModel(encoder, config.next_sentence)
        # A preset without weights (randomly initialised) has no heads to load either.
        checkpoint = _checkpoint_dir(config.model) if config.model else None
        heads = load_heads(pretraining_model, checkpoint) if checkpoint else []
        compile_for_run(pretraining_model, task, config,
                        config.max_steps or steps_per_epoch * config.epochs, jit_compile)
    log("pretraining heads: " + ("loaded from the checkpoint" if heads else "initialised fresh"))

    evaluate_fn = Evaluator(_dataset(
        data.eval_files, config.max_seq_length, min(config.batch_size, data.num_eval), masker,
        config.next_sentence, config.seed + EVAL_SEED_OFFSET, shuffle=False,
        drop_remainder=False,
        max_examples=config.max_eval_examples))

    def train_dataset_fn(epoch, input_context):
        return _dataset(data.train_files, config.max_seq_length,
                        input_context.get_per_replica_batch_size(config.batch_size), masker,
                        config.next_sentence, config.seed, epoch=epoch,
                        input_context=input_context)

    before = evaluate_fn(pretraining_model)
    log("held-out before: " + _describe(before))
    run = TrainingRun(config, task, run_dir, evaluate_fn)
    pretraining_model.fit(DatasetCreator(train_dataset_fn), batch_size=config.batch_size,
                          epochs=config.epochs, steps_per_epoch=steps_per_epoch, callbacks=[run])
    trainer = run.trainer
    after = evaluate_fn(pretraining_model)
    log("held-out after:  " + _describe(after))
    metrics = {"before": before, "after": after, "steps": int(trainer.state.step),
               "train_seconds": round(trainer.train_seconds, 1),
               "train_instances": data.num_train, "eval_instances": data.num_eval,
               "eval_sequences": min(data.num_eval, config.max_eval_examples or data.num_eval),
               "heads_from_checkpoint": bool(heads), "from_scratch": not config.model,
               "masking": masker.config(), "next_sentence": config.next_sentence}
    _save(output_dir, pretraining_model, tokenizer, metrics)
    return metrics


def _prepare(train_data, data_dir, tokenizer, max_seq_length, eval_data, eval_fraction,
             next_sentence, short_seq_prob, dupe_factor, seed, shard_size_mb, num_workers,
             encoding, overwrite, beam_runner, beam_options, log, chinese_words=False):
    """Prepare (or reuse, or resume) the TFRecords of `train_data` in `data_dir`:
    in local processes, or an Apache Beam pipeline on `beam_runner`;
    `chinese_words` marks jieba's words in Chinese text, for whole-word masking."""
    if beam_runner:
        from kerasbert.pretraining.beam_pipeline import prepare_with_beam

        return prepare_with_beam(
            data_dir, train_data, tokenizer, max_seq_length, eval_data, eval_fraction,
            next_sentence, short_seq_prob, dupe_factor, seed, shard_size_mb, encoding,
            overwrite, beam_runner, beam_options, log, chinese_words)
    from kerasbert.pretraining.pretraining_data import prepare_pretraining_data

    return prepare_pretraining_data(
        data_dir, train_data, tokenizer, max_seq_length, eval_data, eval_fraction,
        next_sentence, short_seq_prob, dupe_factor, seed, shard_size_mb, num_workers, encoding,
        overwrite, log, chinese_words)


def _prepared(data_dir, model, preset, encoder_config, max_seq_length, next_sentence, dropout):
    """(encoder, tokenizer, PreparedData) for a finished preparation in
    `data_dir` read without its corpus: `model`'s encoder and tokenizer (whose
    vocabulary must be the data's), or from scratch the vocabulary stored with
    the data and a fresh encoder of `preset`'s shape. The data's sequence
    length and next-sentence setting must be the run's."""
    from kerasbert.pretraining.sharded_data import read_prepared, tokenizer_config
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer

    data, settings = read_prepared(data_dir)
    for name, value in (("max_seq_length", max_seq_length), ("next_sentence", next_sentence)):
        if settings[name] != value:
            raise ValueError(f"{data_dir} was prepared with {name}={json.dumps(settings[name])}"
                             f", not {json.dumps(value)}: pretrain with its setting")
    if model:
        from kerasbert.training.fine_tune import load_encoder_and_tokenizer

        encoder, tokenizer = load_encoder_and_tokenizer(model, max_seq_length, dropout)
    else:
        try:
            tokenizer = BertTokenizer.from_preset(data_dir, sequence_length=max_seq_length)
        except (OSError, ValueError, tf.errors.NotFoundError):
            raise ValueError(f"{data_dir} has no vocab.txt beside its data (prepared by an "
                             "older kerasbert): give the corpus again to prepare it") from None
        encoder = _scratch_encoder(preset, encoder_config, tokenizer.vocabulary_size,
                                   max_seq_length, dropout)
    if (tokenizer_config(tokenizer)["hash"], tokenizer.lowercase) != (
            settings["vocabulary"], settings["lowercase"]):
        raise ValueError(f"{data_dir} was tokenized with another vocabulary or casing than "
                         f"{model}'s: prepare the corpus with this model")
    return encoder, tokenizer, data


def _encoder_and_tokenizer(model, train_data, output_dir, preset, encoder_config, vocab_size,
                           lowercase, max_seq_length, eval_data, eval_fraction, dropout,
                           encoding, log, shard_size_mb=8.0, build_encoder=True,
                           chinese_characters=False):
    """`model`'s encoder and tokenizer, or from scratch a trained vocabulary and
    a fresh encoder of `preset`'s shape (None without `build_encoder`)."""
    if model:
        from kerasbert.training.fine_tune import load_encoder_and_tokenizer

        return load_encoder_and_tokenizer(model, max_seq_length, dropout)
    tokenizer = _scratch_tokenizer(train_data, output_dir, vocab_size, lowercase, max_seq_length,
                                   eval_data, eval_fraction, encoding, log, shard_size_mb,
                                   chinese_characters)
    if not build_encoder:
        return None, tokenizer
    encoder = _scratch_encoder(preset, encoder_config, tokenizer.vocabulary_size, max_seq_length,
                               dropout)
    return encoder, tokenizer


def _check_sizes(data, batch_size):
    """Updates per epoch; a clear error when a split is too small to use."""
    if not data.num_eval:
        raise ValueError("the held-out text gave no sequences: give more (eval_data or "
                         "eval_fraction)")
    if data.num_train < batch_size:
        raise ValueError(f"{data.num_train} training instances do not fill one batch of "
                         f"{batch_size}: lower batch_size or give more text")
    return data.num_train // batch_size


def _save(output_dir, pretraining_model, tokenizer, metrics):
    """The encoder directory: weights, vocabulary, heads, metrics."""
    from kerasbert.checkpoints.loading import save_encoder
    from kerasbert.tasks.pretraining_model import save_heads

    save_encoder(pretraining_model.encoder, output_dir)
    tokenizer.save_to_dir(output_dir)
    save_heads(pretraining_model, output_dir)
    write_json(os.path.join(output_dir, METRICS_FILE), metrics)


def _dataset(files, max_seq_length, batch_size, masker, next_sentence, seed, **kwargs):
    from kerasbert.pretraining.pretraining_data import pretraining_dataset

    return pretraining_dataset(files, max_seq_length, batch_size, masker,
                               next_sentence=next_sentence, seed=seed, **kwargs)


def _checkpoint_dir(model):
    """The directory holding `model`'s weights (a preset's or handle's files, a
    model directory's encoder/), where pretraining heads may also be."""
    from kerasbert.checkpoints.sources import resolve
    from kerasbert.tasks.model_directory import ENCODER_DIR, is_model_directory

    if is_model_directory(model):
        return os.path.join(model, ENCODER_DIR)
    return resolve(model)


def _scratch_tokenizer(train_data, output_dir, vocab_size, lowercase, max_seq_length, eval_data,
                       eval_fraction, encoding, log, shard_size_mb=8.0, chinese_characters=False):
    """A WordPiece vocabulary trained on the training documents (read a shard
    at a time), or the one a previous run with the same corpus files and
    settings left in `output_dir`."""
    from kerasbert.pretraining.sharded_data import (input_fingerprint, iter_training_sentences,
                                                    list_input_files)
    from kerasbert.tokenizers.bert_tokenizer import BertTokenizer
    from kerasbert.tokenizers.wordpiece_trainer import train_wordpiece_tokenizer

    settings = {"train_data": input_fingerprint(list_input_files(train_data)),
                "vocab_size": vocab_size, "lowercase": lowercase, "eval_data": bool(eval_data),
                "eval_fraction": None if eval_data else eval_fraction,
                "shard_size_mb": None if eval_data else shard_size_mb}
    characters = []
    if chinese_characters:  # recorded only when set: earlier settings stay valid
        from kerasbert.tokenizers.wordpiece_trainer import common_chinese_characters

        characters = common_chinese_characters()
        settings["chinese_characters"] = "gb2312"
    settings_path = os.path.join(output_dir, VOCAB_SETTINGS_FILE)
    if tf.io.gfile.exists(settings_path) and tf.io.gfile.exists(
            os.path.join(output_dir, "vocab.txt")):
        with tf.io.gfile.GFile(settings_path) as f:
            if json.load(f) == settings:
                log(f"reusing the vocabulary in {output_dir}/vocab.txt")
                return BertTokenizer.from_preset(output_dir, sequence_length=max_seq_length)
    sentences = iter_training_sentences(train_data, eval_data, eval_fraction, encoding,
                                        shard_size_mb)
    tokenizer = train_wordpiece_tokenizer(vocab_size + len(characters), texts=sentences,
                                          lowercase=lowercase, sequence_length=max_seq_length,
                                          characters=characters)
    tokenizer.save_to_dir(output_dir)
    write_json(settings_path, settings)
    log(f"trained a WordPiece vocabulary of {tokenizer.vocabulary_size} tokens")
    return tokenizer


def _scratch_encoder(preset, encoder_config, vocab_size, max_seq_length, dropout):
    """A freshly initialised encoder of `preset`'s shape with `encoder_config` changes."""
    from kerasbert import presets
    from kerasbert.encoder.bert_encoder import BertEncoder

    config = {**presets.get_preset(preset)["config"],
              **{k: v for k, v in (encoder_config or {}).items() if v is not None},
              "vocab_size": vocab_size}
    if dropout is not None:
        config.update(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    encoder = BertEncoder(**config)
    if max_seq_length > encoder.bert_config["max_position_embeddings"]:
        raise ValueError(f"max_seq_length {max_seq_length} is above max_position_embeddings "
                         f"{encoder.bert_config['max_position_embeddings']}")
    return encoder


def _expected_predictions(masker, max_seq_length):
    """Masked tokens in a full-length sequence: the next-sentence loss weight."""
    return float(min(masker.max_predictions,
                     max(1, round(max_seq_length * masker.masked_lm_prob))))


def _describe(metrics):
    text = (f"MLM accuracy {metrics['mlm_accuracy']:.4f}, loss {metrics['mlm_loss']:.4f}, "
            f"perplexity {metrics['perplexity']:.2f}")
    if "nsp_accuracy" in metrics:
        text += f", NSP accuracy {metrics['nsp_accuracy']:.4f}"
    return text
