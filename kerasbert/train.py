"""`python -m kerasbert.train`: see kerasbert.cli.train."""

from kerasbert.cli.flags import run_main
from kerasbert.cli.train import main

if __name__ == "__main__":
    run_main(main)
