"""Errors for bad input data, and the tally of records skipped on request.

Every problem found in an input file is a `DataError` that names the file, the
line (or record) and the field. Readers that take `skip_bad_records=True` count
the problem in a `BadRecords` tally instead and log one summary line at the end,
so nothing is ever dropped silently.
"""

import collections
import logging

logger = logging.getLogger("kerasbert.data")


class DataError(ValueError):
    """A problem in input data, located by file, line (or record) and field.

    Args:
        path: the file the problem is in.
        reason: what is wrong, in words.
        line: 1-based line number, or None when the problem is not on a line.
        record: a record name (a SQuAD question id, a TFDS example index) used
            where line numbers do not apply.
        field: the column, key or field that is wrong, or None for the whole record.
    """

    def __init__(self, path, reason, line=None, record=None, field=None):
        self.path, self.reason, self.line, self.record, self.field = (
            str(path), reason, line, record, field)
        where = self.path
        if line is not None:
            where += f", line {line}"
        if record is not None:
            where += f", record {record}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {reason}")


class MissingFileError(DataError, FileNotFoundError):
    """The input file does not exist (also a FileNotFoundError)."""

    def __init__(self, path):
        super().__init__(path, "file does not exist")


class BadRecords:
    """Raises each DataError, or, when `skip` is true, counts it by reason.

    Args:
        path: the file being read, for the summary line.
        skip: count and skip bad records instead of raising.
    """

    def __init__(self, path, skip=False):
        self.path, self.skip = str(path), skip
        self.counts = collections.Counter()
        self.first = {}

    def report(self, error):
        """Raise `error`, or count it when skipping."""
        if not self.skip:
            raise error
        kind = error.reason.split(":")[0]
        self.counts[kind] += 1
        self.first.setdefault(kind, error)

    @property
    def total(self):
        return sum(self.counts.values())

    def summary(self):
        """One line: how many records were skipped, why, and the first of each."""
        if not self.total:
            return f"{self.path}: no bad records"
        parts = [f"{n} x {kind} (first at {self._where(self.first[kind])})"
                 for kind, n in self.counts.most_common()]
        return f"{self.path}: skipped {self.total} bad records: " + "; ".join(parts)

    def log_summary(self):
        """Log the summary as a warning when anything was skipped."""
        if self.total:
            logger.warning(self.summary())

    @staticmethod
    def _where(error):
        if error.line is not None:
            return f"line {error.line}"
        return f"record {error.record}"
