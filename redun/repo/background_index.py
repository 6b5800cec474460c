"""The background indexer: after a big pull (or import, or copy of packs), `redun log` lists
executions at once and leaves ingesting the new packs to this process.

    python -m redun.repo.background_index CONFIG_DIR

`listing_index(repo)` opens the index for an execution listing. Its catch-up defers the
packs when more than DEFER_BYTES of them await ingesting (index/catchup.py): it ingests the
executions named by refs and their root jobs only, and starts this process, detached (its
own session, no terminal), which catches the index up in full. The catch-up lock
(index/catchup_lock.py) keeps it to one at a time; any command that needs the whole index
waits for it (with a progress line) and then ingests whatever is left itself.

Nothing depends on it finishing: every transaction it commits is whole, and if it is
killed, the next command catches up the rest. Its errors go to `<index file>.background.log`.
"""

import os
import sys

# Installed packs larger than this in total are left to the background indexer by an
# execution listing (about 50,000 records: what a catch-up ingests in a second or two).
DEFER_BYTES = 16 << 20
LOG_SUFFIX = ".background.log"


def listing_index(repo, defer_over: int = None):
    """repo.index for a command that lists executions: a big backlog of packs is left to a
    background indexer (started here). `index.deferred` says how many bytes it has left."""
    opened = repo._index is None
    index = repo.open_index(defer_over=DEFER_BYTES if defer_over is None else defer_over)
    if opened and index.deferred:
        start(repo)
    return index


def start(repo) -> None:
    """Start a detached background indexer for repo, unless one is running."""
    import subprocess  # lazy: `redun log` start-up time

    from ..index.catchup_lock import held_elsewhere

    if held_elsewhere(repo.index_path):
        return
    with open(repo.index_path + LOG_SUFFIX, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "redun.repo.background_index", repo.root],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True, close_fds=True,
        )


def main(argv: list) -> int:
    from ..index.catchup_lock import held_elsewhere
    from .repository import Repo

    if len(argv) != 1:
        print("usage: python -m redun.repo.background_index CONFIG_DIR", file=sys.stderr)
        return 2
    root = os.path.abspath(argv[0])
    repo = Repo.open(root)
    try:
        if held_elsewhere(repo.index_path):
            return 0  # another indexer started first: it does the work
        from ..index import Index

        index = Index.open(repo, catch_up=False)
        index.parallel = True  # this process has the machine's attention: use a second core
        try:
            index.catch_up()  # in full, under the catch-up lock
        finally:
            index.close()
    finally:
        repo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
