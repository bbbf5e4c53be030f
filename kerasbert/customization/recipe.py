"""The automatic recipe: from a data profile, measured speeds and a time budget to settings.

Each decision comes with the reason, in words, that the report shows.
"""

import dataclasses
import math

PIECES_PER_WORD_GENERAL = 1.5   # above this the vocabulary splits the user's words a lot
PRETRAIN_SHARE = 0.25           # of the budget, when continued pretraining is worth it
PRETRAIN_STEP_COST = 2.0        # a pretraining update (data preparation and masked-LM head
                                # included) against a fine-tuning one of the same batch
SEARCH_SHARE = 0.4              # of the training budget, when a search fits
OVERHEAD_SHARE = 0.15           # evaluation, checkpoints, start-up
MAX_EPOCHS = 3


@dataclasses.dataclass
class Recipe:
    """What `customize` will run, and why."""

    model: str
    max_seq_length: int
    batch_size: int
    epochs: int
    train_seconds: float
    adapter: str = None
    lora_rank: int = 8
    pretrain_seconds: float = 0.0
    pretrain_steps: int = 0
    search_trials: int = 0
    search_seconds: float = 0.0
    reasons: list = dataclasses.field(default_factory=list)


def choose_recipe(profile, budget_seconds, seconds_per_example, per_user=False,
                  has_unlabeled=False, eval_examples=0):
    """Decide the recipe.

    Args:
        profile: a `DataProfile`.
        budget_seconds: wall time left for everything that follows.
        seconds_per_example: {model: measured training seconds per example},
            ordered from the preferred (largest) model to the fastest.
        per_user: the model will serve many users (adapters over one base).
        has_unlabeled: unlabeled in-domain text was given.
        eval_examples: dev examples, evaluated after every epoch (a forward
            pass costs about a third of a training step).
    """
    reasons = []
    length = profile.suggested_max_seq_length
    reasons.append(f"max_seq_length {length}: 95% of the examples have at most "
                   f"{profile.token_lengths[95]} tokens (median {profile.token_lengths[50]}, "
                   f"longest {profile.token_lengths[100]}).")
    batch = 32 if profile.num_examples >= 2000 else 16
    reasons.append(f"batch size {batch}: " + ("the BERT recipe's 32 for a set of "
                   f"{profile.num_examples} examples." if batch == 32 else
                   f"only {profile.num_examples} examples, so smaller batches give more updates."))
    budget = max(budget_seconds * (1 - OVERHEAD_SHARE), 1.0)
    if budget_seconds <= 0:
        reasons.append("the budget was spent before training: measuring took longer than "
                       "allowed; training runs for a moment only.")
    pretrain = _pretraining_share(profile, budget, has_unlabeled, reasons)
    budget -= pretrain
    model, epoch_seconds = _pick_model(profile, budget, seconds_per_example, reasons)
    pretrain_steps = 0
    if pretrain:
        # The learning-rate schedule spans the updates that fit the time, so that it
        # warms up and decays within them (a schedule sized for more updates than
        # the time allows would stop near its start, at a learning rate near 0).
        pretrain_steps = max(1, math.floor(
            pretrain / (PRETRAIN_STEP_COST * seconds_per_example[model] * batch)))
        reasons.append(f"continued pretraining: about {pretrain_steps} updates of {batch} "
                       f"sequences fit its {pretrain:.1f} s; the learning rate warms up and "
                       f"decays over them.")
    search_trials, search_seconds = _search_share(budget, epoch_seconds, reasons)
    budget -= search_seconds
    evaluation = eval_examples * seconds_per_example[model] / 3
    epochs = max(1, min(MAX_EPOCHS, math.floor((budget - evaluation) /
                                               (epoch_seconds + evaluation))))
    train_seconds = max(budget - (epochs + 1) * evaluation, 0.1 * budget)
    reasons.append(f"{epochs} epoch(s) of about {epoch_seconds:.0f} s each, with "
                   f"{evaluation:.0f} s of evaluation after each, fit in the {budget:.0f} s left "
                   f"for the final training (training stops at {train_seconds:.0f} s if not).")
    adapter = "lora" if per_user else None
    reasons.append("LoRA adapters (rank 8) on one shared base: each user costs an adapter file "
                   "under 1% of the model." if per_user else
                   "full fine-tuning: one model for one task gives the best accuracy; adapters "
                   "pay off when many users share a base (--per_user).")
    return Recipe(model=model, max_seq_length=length, batch_size=batch, epochs=epochs,
                  train_seconds=train_seconds, adapter=adapter, pretrain_seconds=pretrain,
                  pretrain_steps=pretrain_steps,
                  search_trials=search_trials, search_seconds=search_seconds, reasons=reasons)


def _pretraining_share(profile, budget, has_unlabeled, reasons):
    """Seconds for continued pretraining on the user's text (0 when not worth it)."""
    fragmentation = profile.pieces_per_word
    if not has_unlabeled:
        reasons.append("no continued pretraining: no unlabeled text was given (--unlabeled_data).")
        return 0.0
    if fragmentation <= PIECES_PER_WORD_GENERAL:
        reasons.append(f"no continued pretraining: the vocabulary splits your text into "
                       f"{fragmentation:.2f} pieces per word, like general English "
                       f"(<= {PIECES_PER_WORD_GENERAL}); the encoder already knows this language.")
        return 0.0
    reasons.append(f"continued pretraining on your {profile.unlabeled_documents} documents for "
                   f"{PRETRAIN_SHARE:.0%} of the budget: {fragmentation:.2f} pieces per word "
                   f"(> {PIECES_PER_WORD_GENERAL}) says the text is far from the encoder's domain.")
    return budget * PRETRAIN_SHARE


def _pick_model(profile, budget, seconds_per_example, reasons):
    """The preferred model of which one epoch fits the budget, else the fastest."""
    for model, per_example in seconds_per_example.items():
        epoch = per_example * profile.num_examples
        if epoch <= budget:
            reasons.append(f"model {model}: one epoch takes about {epoch:.0f} s here "
                           f"(measured {1 / per_example:.1f} examples/s), within the budget.")
            return model, epoch
    model, per_example = min(seconds_per_example.items(), key=lambda item: item[1])
    epoch = per_example * profile.num_examples
    reasons.append(f"model {model}: the fastest measured ({1 / per_example:.1f} examples/s); "
                   f"even so one epoch ({epoch:.0f} s) exceeds the budget, so training stops "
                   f"when the budget is spent.")
    return model, epoch


def _search_share(budget, epoch_seconds, reasons):
    """(trials, seconds) of a learning-rate search, when three short trials fit."""
    trial = min(epoch_seconds, budget * SEARCH_SHARE / 3)
    if budget * SEARCH_SHARE < 3 * min(epoch_seconds, 60.0) or trial < 10:
        reasons.append("no hyperparameter search: three trials would not fit in the budget; "
                       "the BERT paper's defaults are used (learning rate 5e-5, warm-up 10%).")
        return 0, 0.0
    reasons.append(f"a short search of 3 trials ({trial:.0f} s each) over the learning rate "
                   f"and warm-up, before the final training.")
    return 3, 3 * trial
