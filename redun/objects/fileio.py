"""Opening repository files we may not have written: regular files only, bounded reads.

A copied or pulled repository can hold anything where a pack, index, ref or FORMAT
should be: a FIFO (a blocking open waits forever for a writer), a symlink to
/dev/zero (reads never end), a directory. Every reader of such a file opens it
here: without blocking, then refuses whatever fstat does not call a regular file,
and reads at most what the caller expects.
"""

import fcntl
import os
import stat

from ..errors import CorruptObjectError

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


class NotRegularFileError(CorruptObjectError):
    """A repository path holds a FIFO, device, socket or directory instead of a file."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str) -> int:
    """A read-only fd of `path`, which must be a regular file (symlinks to one are fine).
    Never blocks on a FIFO. Raises FileNotFoundError (and other OSErrors) as os.open,
    NotRegularFileError for anything but a regular file."""
    fd = os.open(path, _FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"{path} is {_kind(mode)}, not a file; remove it (`redun fsck` lists such files)")
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular_file(path: str):
    """`open_regular` as a buffered binary file object."""
    return os.fdopen(open_regular(path), "rb")


def read_regular(path: str, limit: int) -> bytes:
    """The whole content of a regular file of at most `limit` bytes (CorruptObjectError if larger)."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise CorruptObjectError(f"{path} is {size} bytes; at most {limit} expected (corrupt?)")
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise CorruptObjectError(f"{path} grew beyond {limit} bytes while read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def hold_lock(path: str) -> int:
    """Create (if needed) and flock `path` exclusively; the returned fd holds the lock until
    closed (or the process dies): how a scratch file says its writer is alive."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_if_unlocked(path: str) -> bool:
    """Delete `path` if no live process holds an flock on it (its writer died). True if deleted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a live writer
    finally:
        os.close(fd)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
