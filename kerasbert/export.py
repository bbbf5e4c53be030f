"""`python -m kerasbert.export`: see kerasbert.cli.export."""

from kerasbert.cli.export import main
from kerasbert.cli.flags import run_main

if __name__ == "__main__":
    run_main(main)
