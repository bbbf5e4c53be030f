"""Writing what a run leaves behind: whole files or none, and one run per directory.

    write_file(path, data)   bytes or text through a temporary name beside
                             `path` and a rename: a reader, a restarted process
                             or a full disk never finds half a file where the
                             last good one was (on gs:// an object appears
                             whole when it is closed)
    write_json(path, obj)    the same for JSON
    DiskFull                 the disk filled while writing: one line, "no space
                             left on DEVICE writing FILE" (a JobFailed, exit 1)
    OutputLock(directory)    one run at a time in an output directory: a lock
                             file taken atomically, naming the process; a stale
                             one whose process is gone is taken over

TensorFlow is not imported here except for remote paths.
"""

import contextlib
import errno
import json
import os
import re
import socket
import sys
import time

from kerasbert.errors import JobFailed, UsageError
from kerasbert.paths import is_remote

_FULL = (errno.ENOSPC, errno.EDQUOT)
LOCK_FILE = ".kerasbert.lock"
_HELD = {}  # lock path -> how many times this process holds it


class DiskFull(JobFailed):
    """The disk filled while writing a file (what was there before is intact)."""

    def __init__(self, path):
        super().__init__(f"no space left on {device_of(path)} writing {path}; free some space "
                         f"(or pick another output directory) and run the same command again: "
                         f"the files written before are intact")
        self.path = path

    @classmethod
    def from_error(cls, err):
        """The DiskFull of another writer's error (an OSError, TensorFlow's
        error): the file is the error's, or the first path its message names."""
        path = getattr(err, "filename", None)
        if not path:
            found = re.search(r"(?:^|\s)(/[^\s;'\"]+)", str(err))
            path = re.sub(r"\.tempstate\d+$", "", found.group(1)) if found else "a file"
        return cls(path)


def device_of(path):
    """The mount point holding `path` (e.g. `/` or `/mnt/data`)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def is_disk_full(err):
    """Whether `err` (an OSError, or TensorFlow's error) says the disk is full."""
    if isinstance(err, OSError) and err.errno in _FULL:
        return True
    return "No space left on device" in str(err) or "Disk quota exceeded" in str(err)


def write_file(path, data):
    """Write `data` (bytes or str, UTF-8) to `path` whole, or leave `path` as it was.

    Raises:
        DiskFull: the disk filled; the temporary file is removed.
    """
    path = str(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    if is_remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, mode) as f:
            f.write(data)
        return
    partial = f"{path}.{os.getpid()}.tmp"
    try:
        with open(partial, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.remove(partial)
        if is_disk_full(err):
            raise DiskFull(path) from None
        raise


def write_json(path, obj, **dump_args):
    """`write_file` of `obj` as JSON (indent 2 unless `dump_args` say otherwise)."""
    write_file(path, json.dumps(obj, **{"indent": 2, **dump_args}) + "\n")


class OutputLock:
    """Hold `directory` for this process while a run writes into it.

    The lock is a file, `.kerasbert.lock`, created with O_EXCL (atomic on a
    local disk) and holding the owner's host, pid, program and start time. A
    second run finds it and stops with UsageError naming the owner. A lock
    whose process no longer runs on this host (killed, crashed) is taken over,
    with a line on stderr that says so. Remote directories (gs://) are not
    locked: an object store has no atomic create. Use as a context manager;
    `release` is idempotent.
    """

    def __init__(self, directory, program=None):
        self.directory, self.program = str(directory), program or os.path.basename(sys.argv[0])
        self.path = os.path.join(self.directory, LOCK_FILE)
        self.held, self.created = False, False

    def acquire(self):
        if is_remote(self.directory) or self.held:
            return self
        if _HELD.get(self.path):  # this process holds it already (a program calling another)
            _HELD[self.path] += 1
            self.held = True
            return self
        self.created = not os.path.exists(self.directory)
        os.makedirs(self.directory, exist_ok=True)
        record = {"host": socket.gethostname(), "pid": os.getpid(), "program": self.program,
                  "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and (owner.get("starting") or _alive(owner)):
                    raise UsageError(
                        f"{self.directory} is in use by another run ({owner.get('program')}, "
                        f"pid {owner.get('pid')} on {owner.get('host')}, started "
                        f"{owner.get('started')}); wait for it to finish or pick another "
                        f"output directory") from None
                print(f"note: taking over the lock of {self.directory} from a run that is "
                      f"gone (pid {(owner or {}).get('pid', '?')})", file=sys.stderr)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path)
                continue
            except OSError as err:
                if is_disk_full(err):
                    raise DiskFull(self.path) from None
                raise
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(record, f)
            _HELD[self.path], self.held = 1, True
            return self
        raise UsageError(f"{self.directory}: could not take its lock {self.path}")

    def _owner(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            # Being written this instant by its owner, or empty after a crash:
            # a brand-new lock is held, an old unreadable one is stale.
            try:
                age = time.time() - os.path.getmtime(self.path)
            except OSError:
                return None
            return {"starting": True, "program": "a run", "pid": "?", "host": "this host",
                    "started": "just now"} if age < 5 else None

    def release(self):
        if not self.held:
            return
        self.held = False
        _HELD[self.path] -= 1
        if not _HELD[self.path]:
            del _HELD[self.path]
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
            if self.created:  # a run that wrote nothing leaves no directory behind
                with contextlib.suppress(OSError):
                    os.rmdir(self.directory)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _alive(owner):
    """Whether the lock's owner still runs: on another host we cannot tell, so yes."""
    if owner.get("host") != socket.gethostname():
        return True
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
