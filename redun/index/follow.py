"""The index follower: a helper process that writes a large run's index rows.

Writing index rows (sqlite b-tree inserts of random ids) costs a large run
about as much CPU as everything else it records. The run builds the rows (a
tuple per record, cheap) and hands them to a follower process, which writes
them on the other core while the run goes on. One pipe each way:

    run -> follower (stdin), frames of [u32 length][u8 kind][payload]:
        R  marshal((offset, [rows of each rows.ORDER table], count)): rows of the
           records written to the run's tmp pack before `offset`
        C  the tmp pack was committed as pack <payload>
        S  the run ends without committing it
        (EOF without C or S: the run is gone)
    follower -> run: exit status 0 (and EOF on stdout) once every row is committed

The follower commits rows with the tmp pack's offset in `tmp_packs`, as a
catch-up does: every few thousand records, and whenever the pipe has been quiet for
IDLE_COMMIT_AFTER (a run waiting on long jobs shows its finished ones to `redun log` at
once). Into a big index (beyond the follower's page cache) it commits every
BIG_COMMIT_RECORDS records or BIG_COMMIT_EVERY seconds instead: there random-key inserts
touch a page each, and every commit writes each page it touched again; its page cache is
BIG_CACHE there, since a smaller one spills dirty pages to the WAL before the commit writes
them again (a run of 5,000 jobs dirties about 100 MB of a big index). Between those
commits it still writes rows every few thousand records, into the open transaction
(Index.write_held), so that its work stays beside the run's instead of after it.
On C it records the pack in `ingested_packs`; a `redun log` meanwhile sees a consistent
index. Everything is idempotent: if the follower dies, the run (or the next index open)
catches up from the pack itself.
Writes to the pipe never block the run: what the pipe cannot take yet waits in
an outbox until the next send.
"""

import marshal
import os
import select
import struct
import subprocess
import sys
import time
from typing import Optional

_HEAD = struct.Struct("<IB")
COMMIT_RECORDS = 4_000  # records per follower transaction
BIG_INDEX = 64 << 20  # index bytes beyond the follower's page cache (files.connect's cache_size)
BIG_COMMIT_RECORDS = 50_000  # records per transaction into a big index at most
BIG_CACHE = 128 << 20  # page cache into a big index: holds the pages a transaction dirties
BIG_COMMIT_EVERY = 2.0  # seconds between commits into a big index at most while rows keep coming
IDLE_COMMIT_AFTER = 0.2  # seconds of a quiet pipe after which held rows are committed
PIPE_BYTES = 1 << 20  # pipe capacity asked for (Linux), so sends rarely wait in the outbox


def frame(kind: bytes, payload: bytes) -> bytes:
    return _HEAD.pack(len(payload), kind[0]) + payload


class Follower:
    """The run's side: start(), send() rows as records are written, finish() at the end."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.fd = proc.stdin.fileno()
        self.outbox = bytearray()
        self.broken = False
        try:
            import fcntl

            fcntl.fcntl(self.fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
        except OSError:
            pass
        os.set_blocking(self.fd, False)

    @classmethod
    def start(cls, index_path: str, tmp_path: str) -> Optional["Follower"]:
        """Start a follower for the run writing tmp_path; None if it cannot be started."""
        import redun

        # -S: no site start-up (~half of the follower's start), with this process's own
        # import path instead (plus the package's root, for editable installs' import hooks).
        root = os.path.dirname(os.path.dirname(os.path.abspath(redun.__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in sys.path if p]))
        try:
            proc = subprocess.Popen(
                [sys.executable, "-S", "-m", "redun.index.follow", index_path, os.path.basename(tmp_path)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                close_fds=True,
            )
        except OSError:
            return None
        return cls(proc)

    def send(self, offset: int, rows: list, count: int) -> None:
        """Queue rows of records written before `offset` of the tmp pack (never blocks)."""
        self.outbox += frame(b"R", marshal.dumps((offset, rows, count)))
        self._push()

    def _push(self) -> None:
        if self.broken:
            self.outbox.clear()
            return
        try:
            while self.outbox:
                n = os.write(self.fd, self.outbox)
                del self.outbox[:n]
        except BlockingIOError:
            pass
        except OSError:  # the follower died: finish() reports it, the run catches up
            self.broken = True
            self.outbox.clear()

    def finish(self, pack_name: Optional[str], timeout: float = 600.0) -> bool:
        """Send the rest and how the run ended, and wait for the follower; whether every
        row is in the index (False: the caller must catch the index up itself)."""
        proc = self.proc
        self.outbox += frame(b"C", pack_name.encode()) if pack_name else frame(b"S", b"")
        ok = self._drain(timeout)
        try:
            proc.stdin.close()
        except OSError:
            ok = False
        # Its stdout closes when it exits: select() wakes at once (Popen.wait(timeout)
        # would poll in sleeps of up to 50 ms).
        ready = ok and select.select([proc.stdout], [], [], timeout)[0]
        if not ready:
            proc.kill()
        proc.stdout.close()
        proc.wait()
        return bool(ready) and proc.returncode == 0

    def _drain(self, timeout: float) -> bool:
        while self.outbox and not self.broken:
            if not select.select([], [self.fd], [], timeout)[1]:
                return False
            self._push()
        return not self.broken


# -- the follower process -----------------------------------------------------------


class FrameReader:
    """Reads the run's pipe through its own buffer, so that quiet() can ask select()
    whether more is coming (a BufferedReader may hold bytes select() cannot see)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = bytearray()

    def quiet(self, seconds: float) -> bool:
        """Nothing arrived within `seconds` (EOF counts as something: read() then says it)."""
        return not self.buf and not select.select([self.fd], [], [], seconds)[0]

    def read(self, n: int) -> Optional[bytes]:
        """Exactly n bytes, or None at EOF before they all came."""
        buf = self.buf
        while len(buf) < n:
            chunk = os.read(self.fd, max(1 << 16, n - len(buf)))
            if not chunk:
                return None
            buf += chunk
        data = bytes(buf[:n])
        del buf[:n]
        return data


def follow(index, tmp_name: str, stream: FrameReader, big: bool = False) -> Optional[str]:
    """Apply frames from stream until C, S or EOF; returns the committed pack's name
    if the run said C (every row is then written). big: the index is beyond BIG_INDEX."""
    buffer = index.buffer
    offset = None
    held = 0  # records written into the open transaction (a big index's), not yet committed
    last = time.monotonic()

    def commit():
        nonlocal last, held
        index.commit(lambda c, o=offset: c.execute("INSERT OR REPLACE INTO tmp_packs VALUES (?, ?)", (tmp_name, o)))
        last, held = time.monotonic(), 0

    while True:
        if (len(buffer) or held) and stream.quiet(IDLE_COMMIT_AFTER):
            commit()
        head = stream.read(_HEAD.size)
        if head is None:  # the run is gone: keep what came whole
            if len(buffer) or held:
                commit()
            return None
        size, kind = _HEAD.unpack(head)
        payload = stream.read(size)
        if payload is None:
            if len(buffer) or held:
                commit()
            return None
        if kind == ord("R"):
            offset, parts, count = marshal.loads(payload)
            buffer.merge(parts, count)
            if big:
                if held + buffer.count >= BIG_COMMIT_RECORDS or time.monotonic() - last >= BIG_COMMIT_EVERY:
                    commit()
                elif buffer.count >= COMMIT_RECORDS:
                    held += buffer.count
                    index.write_held()
            elif buffer.count >= COMMIT_RECORDS:
                commit()
            continue
        if len(buffer) or held:
            commit()
        return payload.decode() if kind == ord("C") else None


def main(argv: list) -> int:
    from .index import Index

    index_path, tmp_name = argv
    index = Index.open(None, catch_up=False, path=index_path)  # commits are follow()'s: with the offset
    big = os.path.getsize(index_path) > BIG_INDEX
    if big:
        index.conn.execute(f"PRAGMA cache_size=-{BIG_CACHE >> 10}")
    try:
        name = follow(index, tmp_name, FrameReader(sys.stdin.fileno()), big=big)
        if name:
            def done(conn):
                conn.execute("DELETE FROM tmp_packs WHERE name=?", (tmp_name,))
                conn.execute("INSERT OR IGNORE INTO ingested_packs VALUES (?)", (name,))

            index.commit(done)
    finally:
        index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
