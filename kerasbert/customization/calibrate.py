"""Measure, rather than guess, how fast a model trains on the user's data here."""


def seconds_per_example(model, examples, task, max_seq_length, batch_size, steps=3):
    """Training seconds per example of `model` (a preset or directory) on `examples`.

    Runs `steps + 1` real updates of the task model on the first examples,
    with the training pipeline (length bucketing), and times the last
    `steps` (the first one traces the step function).
    """
    from kerasbert.data.label_vocabulary import LabelVocabulary
    from kerasbert.data.pipeline import classification_dataset
    from kerasbert.configs.training import TrainingConfig
    from kerasbert.loop.trainer import DatasetCreator, TrainingRun, compile_for_run
    from kerasbert.tasks import get_task
    from kerasbert.tasks.registry import model_class
    from kerasbert.training.fine_tune import load_encoder_and_tokenizer
    from kerasbert.training.inputs import label_type_of

    sample = list(examples[: batch_size * (steps + 1)])
    label_type = label_type_of(task)
    vocabulary = (None if label_type == "regression" else
                  LabelVocabulary.from_examples(sample, label_type == "multi_label"))
    spec = get_task(task, vocabulary.labels if vocabulary else None)
    encoder, tokenizer = load_encoder_and_tokenizer(model, max_seq_length)
    dataset = classification_dataset(sample, tokenizer, batch_size=batch_size,
                                      label_vocabulary=vocabulary, label_type=label_type)
    # One update per call on every device: the first call traces alone, the
    # others each time one update (a longer loop would average the trace in).
    config = TrainingConfig(epochs=1, batch_size=batch_size, verbose=0, checkpoint_every_steps=0,
                            steps_per_loop=1)
    task_model = model_class(task).from_parts(encoder, tokenizer, spec.num_outputs,
                                              labels=spec.labels, task_name=task)
    compile_for_run(task_model, spec, config, steps + 1)
    run = TrainingRun(config, spec)  # no output directory: nothing written
    task_model.fit(DatasetCreator(lambda epoch, context: dataset.repeat()),
                   batch_size=batch_size, steps_per_epoch=steps + 1, callbacks=[run])
    timed = run.trainer.step_seconds[1:]
    return sum(timed) / (batch_size * len(timed)) if timed else float("inf")
