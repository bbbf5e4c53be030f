"""`python -m kerasbert.distribute`: print the start-up line the distribution flags give."""

import sys

from absl import app, flags

from kerasbert.distribute.flags import define_flags, setup_from_flags
from kerasbert.errors import UsageError

FLAGS = flags.FLAGS


def main(argv=None):
    define_flags()
    if "global_batch_size" not in FLAGS:
        flags.DEFINE_integer("global_batch_size", 32, "Examples per step across all replicas.")
    app.define_help_flags()
    try:
        FLAGS(sys.argv if argv is None else argv)
    except flags.Error as err:
        raise UsageError(str(err)) from None
    print(setup_from_flags(FLAGS).describe(FLAGS.global_batch_size))
    return 0

