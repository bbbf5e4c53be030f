"""`python -m kerasbert.pretrain`: see kerasbert.cli.pretrain."""

from kerasbert.cli.flags import run_main
from kerasbert.cli.pretrain import main

if __name__ == "__main__":
    run_main(main)
