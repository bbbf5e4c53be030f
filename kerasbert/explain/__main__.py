"""`python -m kerasbert.explain`: see kerasbert.cli.explain."""

from kerasbert.cli.explain import main
from kerasbert.cli.flags import run_main

if __name__ == "__main__":
    run_main(main)
