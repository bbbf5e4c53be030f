"""`python -m kerasbert.distill`: see kerasbert.cli.distill."""

from kerasbert.cli.flags import run_main
from kerasbert.cli.distill import main

if __name__ == "__main__":
    run_main(main)
