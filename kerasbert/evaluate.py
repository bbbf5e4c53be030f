"""`python -m kerasbert.evaluate`: see kerasbert.cli.evaluate."""

from kerasbert.cli.evaluate import main
from kerasbert.cli.flags import run_main

if __name__ == "__main__":
    run_main(main)
