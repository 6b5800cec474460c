"""One catch-up of installed packs at a time per index file.

Ingesting a pack twice is harmless but wasted: two processes catching up at once (a
`redun log` while the background indexer works through a pull, two commands started
together) would each decode every new pack. The one that waits finds the packs already
ingested when it gets the lock. The lock is an flock on `<index file>.catchup.lock`: the
kernel drops it when its holder dies, so a killed indexer never blocks anyone.

Holders never wait on anything else while holding it (no sqlite transaction is open
across the wait), so it cannot deadlock with the index's own write lock.
"""

import fcntl
import os
from typing import Optional

LOCK_SUFFIX = ".catchup.lock"


class CatchupLock:
    def __init__(self, index_path: str):
        self.path = index_path + LOCK_SUFFIX
        self.fd: Optional[int] = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; with blocking=False, False at once if another holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def held_elsewhere(index_path: str) -> bool:
    """Whether another process (or open file) holds the catch-up lock now."""
    lock = CatchupLock(index_path)
    if lock.acquire(blocking=False):
        lock.release()
        return False
    return True
