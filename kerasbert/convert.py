"""`python -m kerasbert.convert`: see kerasbert.cli.convert."""

from kerasbert.cli.convert import main
from kerasbert.cli.flags import run_main

if __name__ == "__main__":
    run_main(main)
