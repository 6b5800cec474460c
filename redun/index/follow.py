"""The index follower: a helper process that ingests a run's tmp pack as it grows.

A large run spends a fifth of its time turning records into index rows. The
records are already in the run's tmp pack (one write() per finished job), so a
second process can read them back from there and write the rows on the other
core while the run goes on. The run talks to it through one pipe:

    run -> follower (stdin):  "commit <pack name>\n"  the tmp pack is now that pack
                              "stop\n" or EOF         the run is over or gone
    follower -> run:          exit status 0 once every entry is in the index

The follower keeps its own descriptor of the tmp pack, so the rename done by
commit does not disturb it; it records its offset in `tmp_packs` like any
catch-up, so a `redun log` meanwhile does not ingest the same bytes again.
Everything it does is idempotent: if it dies, the next index open catches up.
"""

import os
import select
import subprocess
import sys
import time
from typing import Optional

POLL_SECONDS = 0.02  # how long the follower waits for more bytes before looking again
READ_LIMIT = 8 << 20  # bytes read per pass
# Rows are written in big transactions: each commit rewrites every index page it touched,
# and with random keys that is most of them.
COMMIT_RECORDS = 4_000
COMMIT_SECONDS = 0.1


class Follower:
    """The run's side: start() the helper, finish() when the pack is committed."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc

    @classmethod
    def start(cls, index_path: str, tmp_path: str) -> Optional["Follower"]:
        """Start a follower of tmp_path; None if it cannot be started (the run then
        leaves the rows to the next catch-up)."""
        import redun

        # -S: no site start-up (~half of the follower's start), with this process's own
        # import path instead (plus the package's root, for editable installs' import hooks).
        root = os.path.dirname(os.path.dirname(os.path.abspath(redun.__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in sys.path if p]))
        try:
            proc = subprocess.Popen(
                [sys.executable, "-S", "-m", "redun.index.follow", index_path, tmp_path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                close_fds=True,
            )
        except OSError:
            return None
        return cls(proc)

    def finish(self, pack_name: Optional[str], timeout: float = 600.0) -> bool:
        """Tell the follower how the tmp pack ended and wait for it; whether it ingested
        everything (False: the caller must catch the index up itself)."""
        proc = self.proc
        try:
            proc.stdin.write(f"commit {pack_name}\n".encode() if pack_name else b"stop\n")
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        # Its stdout closes when it exits: select() wakes at once (Popen.wait(timeout)
        # would poll in sleeps of up to 50 ms).
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            proc.kill()
        proc.stdout.close()
        proc.wait()
        return bool(ready) and proc.returncode == 0


def _read_new(fd: int, offset: int) -> bytes:
    size = os.fstat(fd).st_size
    if size <= offset:
        return b""
    return os.pread(fd, min(size - offset, READ_LIMIT), offset)


def follow(index, fd: int, tmp_name: str, control) -> tuple:
    """Ingest complete entries of the tmp pack open at fd until the run says how it
    ended. Returns (name of the pack it became or None, whether every byte of the
    file was ingested)."""
    from ..objects.pack import PACK_MAGIC
    from .packread import pack_entries

    index.batch = 1 << 62  # commits are ours: the offset must go with the rows
    offset = len(PACK_MAGIC)
    ended, name = False, None
    last_commit = time.monotonic()
    while True:
        data = _read_new(fd, offset)
        if data:
            end = 0
            chunk = []
            for oid, canonical, end in pack_entries(data, 0, tmp_name, trusted=False, live=True):
                if canonical is not None:
                    chunk.append((oid, canonical))
            index.add_canonical(chunk)
            offset += end
            if end and len(data) == READ_LIMIT:
                continue
        now = time.monotonic()
        if len(index.buffer) and (ended or len(index.buffer) >= COMMIT_RECORDS or now - last_commit >= COMMIT_SECONDS):
            index.commit(lambda c, o=offset: c.execute("INSERT OR REPLACE INTO tmp_packs VALUES (?, ?)", (tmp_name, o)))
            last_commit = now
        if ended:
            return name, offset == os.fstat(fd).st_size
        ready, _, _ = select.select([control], [], [], POLL_SECONDS)
        if ready:
            line = control.readline()
            ended = True  # read the rest once more: the run wrote it before saying so
            if line.startswith(b"commit "):
                name = line[7:].strip().decode()


def main(argv: list) -> int:
    """Exit 0: the index holds every entry (and knows the pack, if it was committed);
    3: an entry did not verify, so the run must leave the pack to a full catch-up."""
    from .index import Index

    index_path, tmp_path = argv
    fd = os.open(tmp_path, os.O_RDONLY)
    tmp_name = os.path.basename(tmp_path)
    index = Index.open(None, catch_up=False, path=index_path)
    try:
        name, complete = follow(index, fd, tmp_name, sys.stdin.buffer)
        if name and complete:
            def done(conn):
                conn.execute("DELETE FROM tmp_packs WHERE name=?", (tmp_name,))
                conn.execute("INSERT OR IGNORE INTO ingested_packs VALUES (?)", (name,))

            index.commit(done)
        else:
            index.commit()
    finally:
        os.close(fd)
        index.close()
    return 0 if complete else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
