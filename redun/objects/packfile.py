"""Where a PackWriter's bytes go: a pack file being written, and how it is installed.

`PackFile(directory)` is the local sink: `tmp-<token>.pack` in the directory,
appended to with O_APPEND writes (a kill -9 leaves a valid prefix) and
flocked from creation until its index is installed, which tells
`recover()` (objects/maintenance.py) that a live writer owns it. It is
created and locked as `tmp-<token>.creating` and only then renamed, so a
concurrent recover() never sees an unlocked tmp pack.

`install(name, index)` makes the pack durable and visible: fsync, rename to
`pack-<name>.pack`, then the index through a temp file named after the pack
(`pack-<name>.idx.tmp-*`, removed by recover() only once the pack's lock is
free), fsync, rename, fsync of the directory. The index comes last: a pack
without an index is never read. Other sinks (the S3 upload in
sync/s3remote.py) stage in a PackFile and override install().
"""

import fcntl
import os
from typing import Optional

from .fileio import remove_if_unlocked
from .ids import tmp_token
from .origins import write_origin


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def discard_abandoned(directory: str) -> int:
    """Delete the tmp packs a killed writer left in `directory` (their flock is free; a
    live writer holds its own). For staging directories whose packs are worth nothing
    once their writer is gone (the S3 upload cache); a store salvages them instead
    (DirectoryStore.recover). Returns how many were removed."""
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return 0
    return sum(remove_if_unlocked(os.path.join(directory, e)) for e in entries
               if e.startswith("tmp-") and e.endswith(".pack"))


DISCARD_PREFIX = "tmp-discard-"  # staging of an all-or-nothing writer: never salvaged nor indexed


class PackFile:
    """A tmp pack in `directory`, appended to and installed there. all_or_nothing: named
    with DISCARD_PREFIX, so that if its writer dies, recover() deletes it instead of
    salvaging its prefix, and the index never reads it while it is written (an import:
    a killed one must leave nothing visible)."""

    def __init__(self, directory: str, all_or_nothing: bool = False, origin: Optional[dict] = None):
        """origin: where the objects come from (objects/origins.py), written beside the pack
        before it is installed; such staging is always all-or-nothing (a salvaged prefix
        would look local)."""
        self.directory = directory
        self.origin = origin
        token = ("discard-" if all_or_nothing or origin is not None else "") + tmp_token()
        self.path = os.path.join(directory, f"tmp-{token}.pack")
        creating = os.path.join(directory, f"tmp-{token}.creating")
        self.fd = os.open(creating, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(creating, self.path)
        except BaseException:
            os.close(self.fd)
            os.unlink(creating)
            raise

    def write(self, data) -> None:
        """Append; one write() for data of any size on a regular file."""
        write_all(self.fd, data)

    def writev(self, parts: list, size: int) -> None:
        """Append parts (a large entry) without joining them in memory."""
        written = os.writev(self.fd, parts)
        if written != size:  # short write: finish it (rare on regular files)
            write_all(self.fd, b"".join(parts)[written:])

    def pread(self, size: int, offset: int) -> bytes:
        return os.pread(self.fd, size, offset)

    def install(self, name: str, index: list) -> None:
        """Make the pack durable and visible as pack-<name> (index parts last).
        The flock stays held until close()."""
        os.fsync(self.fd)
        final = os.path.join(self.directory, f"pack-{name}.pack")
        idx_final = os.path.join(self.directory, f"pack-{name}.idx")
        if os.path.exists(idx_final) and os.path.exists(final):
            os.unlink(self.path)  # an identical pack (same ids) is installed already
            return
        if self.origin is not None:
            write_origin(self.directory, name, self.origin)  # before the pack can be seen
        os.replace(self.path, final)
        self.path = final
        idx_tmp = f"{idx_final}.tmp-{tmp_token()}"
        with open(idx_tmp, "wb") as f:
            for part in index:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(idx_tmp, idx_final)
        except FileNotFoundError:
            if not os.path.exists(idx_final):  # an identical pack's writer raced us
                raise
        fsync_dir(self.directory)

    def discard(self) -> None:
        """Throw the pack away (unlinked while still locked, so recover() never takes it)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.close()

    def close(self) -> None:
        """Release the file and its lock (after install, or leaving a crash-like tmp pack)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
