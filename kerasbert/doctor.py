"""`python -m kerasbert.doctor`: see kerasbert.cli.doctor."""

import sys

from kerasbert.cli.doctor import main

if __name__ == "__main__":
    sys.exit(main())
