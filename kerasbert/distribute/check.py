"""`python -m kerasbert.distribute`: print the start-up line the distribution flags give."""

import sys

from absl import flags

from kerasbert.distribute.flags import define_flags, setup_from_flags
from kerasbert.errors import UsageError


def main(argv=None):
    fv = flags.FlagValues()  # fresh: nothing kept from an earlier call
    define_flags(fv)
    flags.DEFINE_integer("global_batch_size", 32, "Examples per step across all replicas.",
                         flag_values=fv)
    argv = sys.argv if argv is None else argv
    if any(arg in ("-h", "--help", "--helpfull") for arg in argv[1:]):
        print(__doc__, "flags:", fv.get_help(), sep="\n")
        return 0
    try:
        fv(argv)
    except flags.Error as err:
        raise UsageError(str(err)) from None
    print(setup_from_flags(fv).describe(fv.global_batch_size))
    return 0
