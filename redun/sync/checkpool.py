"""Entry checks of whole packs in worker processes, beside the download (sync/wholepacks.py).

A pull from a source this machine does not trust checks every entry of every pack it takes
whole (sync/packcheck.py: each entry hashed against its id, its links held): CPU work, a few
microseconds per entry, where the rest of the pull mostly waits on bytes. When a sync takes at
least PARALLEL_AT entries whole into a directory, the main process streams each pack into its
staged copy checking only the pack's digest (as for a trusted source), and the staged copy is
then checked entry by entry in one of up to WORKERS processes while the next packs download.

Why it stays safe:
- nothing is installed before every check has answered: `outside()` waits for them all and
  raises the first failure (CorruptObjectError names the entry), and the group is aborted;
- the staged copies are the pack group's own (flocked, in the repository; installed by rename
  only at commit), so a worker reads exactly the bytes that will be installed;
- a worker holds the ids of every pack of the sync (`held`), not the destination's: a link the
  destination alone holds comes back, and the caller asks the destination;
- a worker that dies (killed, out of memory) loses nothing: its packs are checked again in
  this process (`outside()`), still before anything is installed;
- a pulling process that dies (kill -9) takes its workers with it: each watches its parent
  and exits when it goes; the staged copies are debris the next open of the store removes.

Workers are spawned, not forked: the pulling process may run threads (an S3 read-ahead) whose
locks a fork would copy held. A pool of two answers its first call 0.25-0.6 s after it is
made (measured on the 2-core machine of benchmarks/results/scale.md), hence PARALLEL_AT:
200k entries are about 1.6 s of checks.
"""

import gc
import os
import signal
import threading
import time

from ..objects.pack import PackIndex
from .haves import Haves
from .packcheck import PackCheck

PARALLEL_AT = 200_000  # entries taken whole, at least, to check them in worker processes
WORKERS = 2
_CHUNK = 8 << 20
_WATCH_EVERY = 0.2  # seconds between a worker's looks at its parent

_held = None  # in a worker: Haves over the index bytes of every pack the sync takes whole


def _start(parent: int, index_datas: list) -> None:
    global _held
    gc.disable()  # as PackCheck does around each batch: here for the whole worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pull's to handle: it shuts the pool down
    # a pool's worker waits on a queue whose writing end it holds itself: it would outlive a
    # killed parent forever, so it watches for the parent to go
    threading.Thread(target=_exit_without, args=(parent,), name="parent-watch", daemon=True).start()
    _held = Haves([PackIndex(data, "the index of a pack of this sync") for data in index_datas])


def _exit_without(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_EVERY)
    os._exit(1)


def check_staged(path: str, index_data: bytes, name: str, where: str, strict: frozenset, held) -> set:
    """PackCheck (entries; `strict` ids decoded field by field) of the staged copy at path of
    pack `name` from `where`: returns the links of its entries that held(oid) does not answer for."""
    check = PackCheck(name, PackIndex(index_data, f"{where}/packs/pack-{name}.idx"), where, held=held,
                      strict=strict)
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            check.feed(chunk)
    return check.finish()


def _check_in_worker(path: str, index_data: bytes, name: str, where: str, strict: frozenset) -> set:
    return check_staged(path, index_data, name, where, strict, _held.__contains__)


def workers_for(entries: int) -> int:
    """How many worker processes to check this many entries with (0: check in process)."""
    if entries < PARALLEL_AT:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(WORKERS, cores) if cores > 1 else 0


class CheckPool:
    """Entry checks of staged packs in `workers` spawned processes. `indexes`: the PackIndex
    of every pack the sync takes whole (a worker's `held`)."""

    def __init__(self, indexes: list, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        datas = [bytes(index.data) for index in indexes]
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(os.getpid(), datas))
        self._jobs: list = []  # (future, the arguments to check again in process)

    def submit(self, path: str, index_data: bytes, name: str, where: str, strict: frozenset = frozenset()) -> None:
        args = (path, index_data, name, where, strict)
        self._jobs.append((self._pool.submit(_check_in_worker, *args), args))

    def outside(self, held) -> set:
        """Wait for every check: the links their entries hold that no pack of the sync does
        (the first failure raises). A check whose worker died runs here, with held(oid)."""
        from concurrent.futures.process import BrokenProcessPool

        out: set = set()
        for future, args in self._jobs:
            try:
                out |= future.result()
            except BrokenProcessPool:
                out |= check_staged(*args, held)
        self._jobs = []
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
