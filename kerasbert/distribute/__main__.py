"""Show the distribution setup the flags give on this machine, or why there is none.

    python -m kerasbert.distribute --tpu=local --global_batch_size=64
    python -m kerasbert.distribute --cpu_replicas=4 --global_batch_size=32

Prints the start-up line of a training run (strategy, replicas, precision,
XLA, global and per-replica batch); a missing TPU or an impossible setting
is one line on stderr and exit code 2. --helpfull lists the flags.
"""

from kerasbert.cli.flags import run_main
from kerasbert.distribute.check import main

if __name__ == "__main__":
    run_main(main)
