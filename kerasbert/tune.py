"""`python -m kerasbert.tune`: see kerasbert.cli.tune."""

from kerasbert.cli.flags import run_main
from kerasbert.cli.tune import main

if __name__ == "__main__":
    run_main(main)
