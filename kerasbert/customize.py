"""`python -m kerasbert.customize`: see kerasbert.cli.customize."""

from kerasbert.cli.flags import run_main
from kerasbert.cli.customize import main

if __name__ == "__main__":
    run_main(main)
