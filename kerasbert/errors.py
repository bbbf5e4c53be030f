"""Errors every layer may raise, with how the programs report them.

    UsageError   a bad flag, setting or input: one line on stderr, exit code 2,
                 no traceback (`kerasbert.cli.flags.run_main` prints it)
    JobFailed    the run could not go on (a worker died, no trial of a search
                 completed): one line, exit code 1

This module imports nothing of kerasbert, so that any layer (data, distribute,
training, tuning, ...) can raise these without importing the command-line
programs (`kerasbert.cli`); `kerasbert.cli.flags` re-exports both. Errors in
the user's data files are `kerasbert.data.errors.DataError` (a ValueError that
names the file, line and field), which the programs report the same way.
"""


class UsageError(Exception):
    """A bad flag or input: printed as one line, exit code 2, no traceback."""


class JobFailed(Exception):
    """The run could not go on (e.g. a worker died): one line, exit code 1."""
