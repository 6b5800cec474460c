"""Streaming checks of a whole pack as its bytes go by (sync/wholepacks.py).

`PackCheck(name, index, where, held)` is fed the pack's bytes in order, from wherever
they come (a local file, an S3 download) on their way to wherever they go (a staged copy,
an S3 upload), so nothing is read twice:

- always: the bytes are blake3-hashed; `finish()` compares the digest with the one in the
  pack's index (already checked against its checksum and its name).
- held given (a source this machine does not trust): the index is checked first (each id
  once, in order; its entries tile the pack from the header to the end: _layout), then the
  bytes against it as they arrive, BATCH entries at a time: each entry must be exactly
  `id | u32 length | stored` as the index lists it (so every entry a reader finds through
  the index is one checked here, and nothing else is in the pack), is decompressed (bounded)
  and hashed against its id, and its links must be held; the records the sync's new refs
  name (`strict`) are decoded field by field, so no ref moves to one that does not decode.
  `finish()` returns the links that `held` did not answer for, for the caller to prove held
  at the end of the sync.

The links are found without decoding every record (check_entries): every 32-byte msgpack
bin of the batch is a candidate (codec.link_candidates, a superset of the links). Candidates
that `held` answers for need nothing more; a record holding one it does not is decoded
field by field, and only its real links count. A record's other fields are checked when it
is read (every read decodes field by field), by the index (which skips and fsck reports what
does not decode) and by `redun fsck`: as git checks a fetch (each object's hash and the
connectivity, not each object's syntax, unless transfer.fsckObjects), so an untrusted pull
costs a few microseconds per entry, not a decode (docs/sync.md, figures).
"""

import array
import bisect
import gc
import itertools
import operator
import sys

import blake3

from ..errors import CorruptObjectError
from ..objects import codec, compress
from ..objects.ids import object_ids
from ..objects.pack import _U32, ENTRY_HEAD, PACK_MAGIC, PackIndex, ids_once_in_order
from ..objects.store import verify

BATCH = 1024  # entries per batch (an unheld candidate is searched for in its batch: keep batches small)


def check_entries(oids: list, stored: list, where: str, held, inside: set = frozenset(),
                  strict: frozenset = frozenset()) -> set:
    """Check a batch of entries (their ids and stored forms): each decompressed (bounded) and
    hashed against its id, and those in `strict` decoded field by field. Returns the links of
    the batch's records that are neither in the batch nor in `inside` (which, when given,
    holds the batch's ids) nor answered for by held(oid); CorruptObjectError names the first
    entry that fails."""
    datas = compress.decompress_many(stored, lambda i: f"{oids[i].hex()} in {where}")
    if object_ids(datas) != oids:
        for oid, data in zip(oids, datas):
            verify(oid, data, where)  # raises, naming the object
    for oid in strict.intersection(oids) if strict else ():
        try:
            codec.decode(datas[oids.index(oid)])
        except CorruptObjectError as e:
            raise CorruptObjectError(f"object {oid.hex()} in {where}: {e}") from None
    joined = b"".join(datas)
    candidates = codec.link_candidates(joined).difference(inside)  # iterates the candidates, not `inside`
    if not inside:
        candidates.difference_update(oids)
    unheld = [c for c in candidates if not held(c)]
    if not unheld:
        return set()
    # only a record holding the bytes after a header tells whether they are a link there
    starts = [0, *itertools.accumulate(map(len, datas))]
    heads = [h for h in codec.BIN32_HEADS if h in joined]
    decoded: dict = {}
    out: set = set()
    for c in unheld:
        for run in (head + c for head in heads):
            at = joined.find(run)
            while at >= 0 and c not in out:
                i = bisect.bisect_right(starts, at) - 1
                if i not in decoded:
                    try:
                        decoded[i] = set(codec.checked_links(datas[i]))
                    except CorruptObjectError as e:
                        raise CorruptObjectError(f"object {oids[i].hex()} in {where}: {e}") from None
                if c in decoded[i]:
                    out.add(c)  # a link nobody holds yet: the end of the sync must find it sent
                at = joined.find(run, at + 1)
    return out


def _layout(index: PackIndex, pack: str) -> tuple:
    """(ids, offsets, sizes, end) of the index's entries in pack order, after checking that it
    lists each id once, in order, and that its entries tile the pack from the header on
    (CorruptObjectError otherwise): the bytes can then be checked against it as they come."""
    data, n = index.data, index.count
    ids = index.id_list()
    offsets, sizes = array.array("Q"), array.array("I")
    offsets.frombytes(bytes(data[index.off_at: index.size_at]))
    sizes.frombytes(bytes(data[index.size_at: index.tail_at]))
    if sys.byteorder != "little":
        offsets.byteswap()
        sizes.byteswap()
    if not ids_once_in_order(ids):
        raise CorruptObjectError(f"pack index of {pack} does not list its ids once each, in order")
    order = sorted(range(n), key=offsets.__getitem__)
    ids = list(map(ids.__getitem__, order))
    offsets = list(map(offsets.__getitem__, order))
    sizes = list(map(sizes.__getitem__, order))
    ends = list(map(operator.add, offsets, sizes))
    if n and (offsets[0] != len(PACK_MAGIC) or ends[:-1] != offsets[1:] or min(sizes) < ENTRY_HEAD
              or max(sizes) > ENTRY_HEAD + compress.MAX_STORED_SIZE):
        raise CorruptObjectError(f"pack index of {pack} does not list the pack's entries "
                                 "as they are (ids, offsets or sizes differ)")
    return ids, offsets, sizes, ends[-1] if n else len(PACK_MAGIC)


class PackCheck:
    def __init__(self, name: str, index: PackIndex, where: str, held=None, strict: frozenset = frozenset()):
        """held(oid): whether an object is held (at the destination, or in a pack of this
        sync); None checks the pack's digest only (a trusted source). strict: ids whose records
        are decoded field by field too (what the sync's new refs name)."""
        self.name, self.index, self.where, self.held, self.strict = name, index, where, held, strict
        self.entries = held is not None
        self._path = f"{where}/packs/pack-{name}.pack"
        self.hasher = blake3.blake3()
        if self.entries:
            self._ids, self._offsets, self._sizes, self._end = _layout(index, self._path)
            self._inside = set(self._ids)  # the pack's own ids, and the links found held so far
        self._buf = b""
        self._pos = 0  # file offset of self._buf[0]
        self._used = 0  # bytes of self._buf checked (dropped when the next chunk comes)
        self._next = 0  # the first entry not checked yet
        self._outside: set = set()

    def chunks(self, chunks):
        """Pass chunks through, checking each."""
        for chunk in chunks:
            self.feed(chunk)
            yield chunk

    def feed(self, chunk) -> None:
        self.hasher.update(chunk)
        if not self.entries:
            return
        self._pos += self._used
        self._buf = self._buf[self._used:] + bytes(chunk) if self._used < len(self._buf) else bytes(chunk)
        self._used = 0
        if self._pos == 0 and len(self._buf) >= len(PACK_MAGIC):
            if self._buf[: len(PACK_MAGIC)] != PACK_MAGIC:
                raise CorruptObjectError(f"pack {self._path} has a bad header")
        self._check_entries(BATCH)

    def _check_entries(self, batch: int) -> None:
        """Check the entries wholly in the buffer, `batch` at a time (fewer only at the end)."""
        was_on = gc.isenabled()
        gc.disable()  # many short-lived lists and sets, never a cycle: the collector's passes find nothing
        try:
            self._check_ready(batch)
        finally:
            if was_on:
                gc.enable()

    def _check_ready(self, batch: int) -> None:
        buf, base = self._buf, self._pos  # file offset of buf[0]
        upto = base + len(buf)
        offsets, sizes = self._offsets, self._sizes
        add, sub, repeat = operator.add, operator.sub, itertools.repeat
        while True:
            a = self._next
            b = min(a + batch, len(offsets))
            if a == b or offsets[b - 1] + sizes[b - 1] > upto:
                return
            rel = list(map(sub, offsets[a:b], repeat(base)))
            data_at = list(map(add, rel, repeat(ENTRY_HEAD)))
            after = list(map(add, rel, sizes[a:b]))
            ids = self._ids[a:b]
            stored = list(map(buf.__getitem__, map(slice, data_at, after)))
            # the entries as the index says they are (id | u32 length | stored), byte for byte
            lengths = map(_U32.pack, map(sub, sizes[a:b], repeat(ENTRY_HEAD)))
            if b"".join(itertools.chain.from_iterable(zip(ids, lengths, stored))) != buf[rel[0]: after[-1]]:
                raise CorruptObjectError(f"pack index of {self._path} does not list the pack's entries "
                                         "as they are (ids, offsets or sizes differ)")
            self._outside |= check_entries(ids, stored, self._path, self._held, self._inside, self.strict)
            self._next = b
            self._used = after[-1]

    def _held(self, oid: bytes) -> bool:
        if self.held(oid):
            self._inside.add(oid)  # asked once per pack: many records link to the same task
            return True
        return False

    def finish(self) -> set:
        """Raise CorruptObjectError unless the bytes fed are the pack its index describes;
        returns the links of its entries that `held` did not answer for (none if trusted)."""
        if self.hasher.digest() != self.index.pack_digest:
            raise CorruptObjectError(f"pack {self._path} does not match its index digest "
                                     "(damaged or replaced); nothing was changed")
        if not self.entries:
            return set()
        self._check_entries(len(self._offsets))
        if self._next != len(self._offsets) or self._pos + len(self._buf) != self._end or (
                self._offsets and self._used != len(self._buf)):
            raise CorruptObjectError(f"pack {self._path} does not end where its index's last entry does")
        outside = self._outside
        self._outside, self._inside, self._buf = set(), None, b""
        return outside
