"""`python -m kerasbert.predict`: see kerasbert.cli.predict."""

from kerasbert.cli.flags import run_main
from kerasbert.cli.predict import main

if __name__ == "__main__":
    run_main(main)
