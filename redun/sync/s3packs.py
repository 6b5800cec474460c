"""Whole packs to and from an S3 remote (sync/wholepacks.py does the choosing and checking).

Push: `S3PackGroup` uploads each whole pack as it is, streamed from the local file in parts
(objects/s3.S3Location.upload_chunks: about one part in memory at a time), and the upload is
completed only once the bytes sent hashed to the digest in the pack's index (the check runs
between the last part and the completion); then its index. The object path's pack (what the
remote partly holds) goes through the remote's usual PackWriter. Nothing names these packs
until transfer.sync writes the HEAD after the group, so a push killed at any point leaves at
most packs that no HEAD names (harmless; an incomplete multipart upload is not even an
object), never a HEAD naming a pack that is not all there.

Pull: `download_chunks` streams a pack's GET body, read ahead by one thread (bounded: a few
MiB) so the network wait overlaps the checking of the bytes already there; the caller stages
them (objects/packgroup.py) and checks them on the way (sync/packcheck.py).
"""

import queue
import threading
from typing import NamedTuple

from ..errors import NotFoundError
from ..objects.pack import PackIndex

READ_CHUNK = 1 << 20
READ_AHEAD = 8  # chunks buffered by the reader thread


class S3Pack(NamedTuple):
    """One pack named by an S3 remote's HEAD, with its verified index (cached locally)."""

    name: str
    index: PackIndex


class S3PackGroup:
    """Whole packs (and one written pack) uploaded to an S3 remote for one sync."""

    def __init__(self, remote):
        self.remote = remote
        self.uploaded: list = []
        self._writer = None

    def add_pack(self, name: str, chunks, idx: bytes, check=None) -> None:
        """Upload pack `name` from an iterable of its bytes, then its index bytes. check():
        called after the last chunk, before the pack exists on S3 (it raises to refuse it)."""
        loc = self.remote.loc
        loc.upload_chunks(f"packs/pack-{name}.pack", chunks, before_complete=check)
        loc.put(f"packs/pack-{name}.idx", idx)
        self.remote.cache_index(name, idx, open_now=False)  # checked already; kept for the next push
        self.uploaded.append(name)

    def stages_files(self) -> bool:
        """No: add_pack's check runs before the upload completes, with no local copy."""
        return False

    def writer(self):
        """A PackWriter whose pack is uploaded when it commits and joins the group."""
        self._writer = self.remote.begin_pack()
        return self._writer

    def commit(self) -> list:
        """The names of every pack uploaded (each complete: the HEAD may name them now)."""
        names = list(self.uploaded)
        if self._writer is not None and self._writer.name is not None:
            names.append(self._writer.name)
        return names

    def abort(self) -> None:
        """Nothing to undo: packs that no HEAD names are never read."""


_END = object()


def download_chunks(loc, rel: str, what: str):
    """The bytes at `rel`, READ_CHUNK at a time, read ahead by a thread. NotFoundError
    (naming `what`) when the key is missing; S3 failures are loc's error."""
    r = loc.get_response(rel)
    if r is None:
        raise NotFoundError(f"{what} is missing")
    body = r["Body"]
    q: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            with loc.guard("read", rel):
                for chunk in body.iter_chunks(READ_CHUNK):
                    if not put(chunk):
                        return
            put(_END)
        except BaseException as e:  # handed to the consumer, which raises it
            put(e)

    reader = threading.Thread(target=pump, name=f"s3-read {rel}", daemon=True)
    reader.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()
        body.close()
