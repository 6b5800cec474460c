"""A remote at s3://bucket/prefix, through boto3 (imported only when used).

Layout under the prefix:
    HEAD                          JSON {"format", "version", "packs", "refs"}
    packs/pack-<40 hex>.pack      packs, same bytes as in a local repo
    packs/pack-<40 hex>.idx
The HEAD is the only mutable object. It is read with one GET and replaced
with a conditional PUT (If-Match its ETag; If-None-Match: * when creating);
a lost race re-reads it and merges. Packs and indexes are immutable and
named by content, so they are cached under the local cache directory and
never LISTed: a push costs 1 GET of HEAD, a GET per index not yet cached,
1 PUT of the pack, 1 PUT of its index and 1 conditional PUT of HEAD.
Client, URL parsing and error messages: objects/s3.py (the usual AWS
settings; AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for S3-compatible servers).
"""

import json
import mmap
import os
import random
import time
from typing import Optional

import blake3

from ..errors import CorruptObjectError, NotFoundError, RefConflictError, RepoFormatError, SyncError
from ..objects.ids import parse_oid, tmp_token
from ..objects.pack import PackIndex, ids_in_order, read_entry
from ..objects.packfile import PackFile, discard_abandoned
from ..objects.packwriter import PackWriter
from ..objects.s3 import S3Location
from ..refs import check_ref_name
from .haves import Haves
from .remote import Head, Remote, check_pack_name
from .s3packs import S3Pack, S3PackGroup, download_chunks

HEAD_FORMAT = "redun-repo 1.0"
HEAD_MAJOR = 1  # the repository format major this redun reads and writes
HEAD_VERSION = 1
_CAS_ATTEMPTS = 20


def head_format(obj: dict, where: str) -> str:
    """The repository format a HEAD declares ("redun-repo <major>.<minor>"; heads written
    before the field existed are 1.0). Another major is refused, as a directory's FORMAT."""
    fmt = obj.get("format", HEAD_FORMAT)
    parts = fmt.split() if isinstance(fmt, str) else []
    try:
        if len(parts) != 2 or parts[0] != "redun-repo":
            raise ValueError
        major, minor = (int(x) for x in parts[1].split("."))
    except ValueError:
        raise CorruptObjectError(f"{where} has a malformed format field {str(fmt)[:60]!r}") from None
    if major != HEAD_MAJOR:
        raise RepoFormatError(
            f"{where} uses repository format {major}.{minor}; this redun reads format {HEAD_MAJOR}.x. "
            f"Use a redun release that supports format {major} for this remote.")
    return fmt


def decode_head(data: bytes, where: str) -> tuple:
    """(refs, packs, format) from HEAD bytes; everything validated."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptObjectError(f"{where} is not JSON: {e}") from None
    fmt = head_format(obj, where) if isinstance(obj, dict) else HEAD_FORMAT
    if not isinstance(obj, dict) or obj.get("version") != HEAD_VERSION:
        raise CorruptObjectError(
            f"{where} has head version {obj.get('version') if isinstance(obj, dict) else '?'}; "
            f"this redun reads version {HEAD_VERSION}. Use a newer redun for this remote."
        )
    packs, refs = obj.get("packs"), obj.get("refs")
    if not isinstance(packs, list) or not isinstance(refs, dict):
        raise CorruptObjectError(f"{where} lacks its packs list or refs map")
    packs = tuple(check_pack_name(p) for p in packs)
    out = {}
    for name, value in refs.items():
        out[check_ref_name(name)] = parse_oid(value)
    return out, packs, fmt


def encode_head(refs: dict, packs, fmt: str = HEAD_FORMAT) -> bytes:
    """HEAD bytes; `fmt` is kept as the remote declared it (a newer minor stays)."""
    body = {
        "format": fmt,
        "version": HEAD_VERSION,
        "packs": sorted(set(packs)),
        "refs": {n: refs[n].hex() for n in sorted(refs)},
    }
    return json.dumps(body, indent=0, sort_keys=True).encode()


class _S3Upload(PackFile):
    """The PackWriter sink of a push: the pack is staged in the cache directory,
    then uploaded (pack, then index; multipart above 1 GiB) and its index cached."""

    def __init__(self, remote: "S3Remote"):
        super().__init__(remote.cache_dir)
        self.remote = remote

    def install(self, name: str, index: list) -> None:
        idx = b"".join(index)
        self.remote.loc.upload_file(f"packs/pack-{name}.pack", self.path)
        self.remote.loc.put(f"packs/pack-{name}.idx", idx)
        self.remote.cache_index(name, idx)

    def close(self) -> None:
        super().close()
        try:
            os.unlink(self.path)  # uploaded or given up: the staging copy is not kept
        except FileNotFoundError:
            pass


class S3Remote(Remote):
    kind = "s3"

    def __init__(self, url: str, cache_dir: str, client=None):
        self.loc = S3Location(url, "remote", SyncError, client)
        self.location = url
        self.cache_dir = cache_dir
        os.makedirs(cache_dir, exist_ok=True)
        self.calls = self.loc.calls  # S3 operations made, by API name (tests and benchmarks)
        self._indexes: dict = {}  # pack name -> PackIndex (cached on disk)
        self._packs: dict = {}  # pack name -> mmap of a downloaded pack
        self._head_packs: tuple = ()
        self._haves = None
        self._loaded = True

    # -- head ---------------------------------------------------------------
    def _read_head_raw(self) -> Head:
        r = self.loc.get_response("HEAD")
        if r is None:
            return Head()
        with self.loc.guard("read", "HEAD"):
            data = r["Body"].read()
        refs, packs, fmt = decode_head(data, f"{self.location}/HEAD")
        return Head(refs=refs, packs=packs, token=r["ETag"], format=fmt)

    def read_head(self) -> Head:
        head = self._read_head_raw()
        self._head_packs = head.packs
        self._haves = None
        self._loaded = False  # indexes are fetched on the first has/get_stored, not for a no-op
        return head

    def _head_indexes(self) -> list:
        if not self._loaded:
            for name in self._head_packs:
                self.pack_index(name)
            self._loaded = True
        return [(name, self._indexes[name]) for name in self._head_packs]

    def update_head(self, head: Head, updates: dict, packs: list) -> None:
        token, cur_refs, cur_packs, fmt = head.token, dict(head.refs), tuple(head.packs), head.format
        todo = dict(updates)
        conflicts = []
        for attempt in range(_CAS_ATTEMPTS):
            for name, (old, new) in list(todo.items()):
                now = cur_refs.get(name)
                if now != old and now != new:
                    conflicts.append(name)  # another writer moved this ref: leave it
                    del todo[name]
            refs = dict(cur_refs)
            refs.update({n: new for n, (_, new) in todo.items()})
            body = encode_head(refs, cur_packs + tuple(packs), fmt or HEAD_FORMAT)
            if self.loc.put("HEAD", body, if_match=token, if_absent=not token):
                break
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # spread out racing writers
            fresh = self._read_head_raw()  # lost the race: merge onto the new head
            cur_refs, cur_packs, token, fmt = dict(fresh.refs), tuple(fresh.packs), fresh.token, fresh.format
        else:
            raise SyncError(f"Could not update HEAD of {self.location}: too many concurrent writers; retry.")
        if conflicts:
            raise RefConflictError(
                f"{len(conflicts)} ref(s) in {self.location} were changed by another writer during the sync: "
                + ", ".join(conflicts[:5])
            )

    # -- objects ------------------------------------------------------------
    def _cache_path(self, name: str, ext: str) -> str:
        return os.path.join(self.cache_dir, f"pack-{check_pack_name(name)}.{ext}")

    def cache_index(self, name: str, data: bytes, open_now: bool = True) -> None:
        """Keep the index of a pack this remote holds (written or fetched) in the cache;
        open_now=False leaves it to be opened (and checked again) when first needed."""
        path = self._cache_path(name, "idx")
        tmp = f"{path}.tmp-{tmp_token()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        if open_now:
            self._indexes[name] = self._open_index(path, name)

    def _open_index(self, path: str, name: str) -> PackIndex:
        idx = PackIndex.open(path)
        try:
            idx.verify_checksum()
            if idx.ids_name() != name or not ids_in_order(idx):
                raise CorruptObjectError(f"pack index {name} from {self.location} does not match its name")
        except CorruptObjectError:
            idx.close()
            os.unlink(path)
            raise
        return idx

    def pack_index(self, name: str) -> PackIndex:
        """The verified index of pack `name` (cached locally; packs are immutable)."""
        idx = self._indexes.get(name)
        if idx is not None:
            return idx
        path = self._cache_path(name, "idx")
        if os.path.exists(path):
            try:
                idx = self._open_index(path, name)
                self._indexes[name] = idx
                return idx
            except CorruptObjectError:
                pass  # damaged cache: fetch again
        data = self.loc.get(f"packs/pack-{name}.idx")
        if data is None:
            raise CorruptObjectError(f"{self.location} lists pack {name} but its index is missing")
        self.cache_index(name, data)
        return self._indexes[name]

    def has(self, oid: bytes) -> bool:
        if self._haves is None:
            self._haves = Haves([idx for _, idx in self._head_indexes()])
        return oid in self._haves

    def _pack_buf(self, name: str):
        buf = self._packs.get(name)
        if buf is not None:
            return buf
        r = self.loc.get_response(f"packs/pack-{name}.pack")
        if r is None:
            raise NotFoundError(f"{self.location} lists pack {name} but the pack file is missing")
        path = self._cache_path(name, "pack")
        tmp = f"{path}.tmp-{tmp_token()}"
        h = blake3.blake3()
        def download():
            with open(tmp, "wb") as f:
                for chunk in r["Body"].iter_chunks(1 << 20):
                    h.update(chunk)
                    f.write(chunk)

        try:
            with self.loc.guard("read", f"packs/pack-{name}.pack"):
                download()
        except BaseException:
            os.unlink(tmp)
            raise
        if h.digest() != self._indexes[name].pack_digest:
            os.unlink(tmp)
            raise CorruptObjectError(f"pack {name} from {self.location} does not match its index")
        os.replace(tmp, path)
        with open(path, "rb") as f:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._packs[name] = buf
        return buf

    def get_stored(self, oid: bytes) -> bytes:
        for name, idx in self._head_indexes():
            hit = idx.find(oid)
            if hit is not None:
                return read_entry(self._pack_buf(name), hit[0], hit[1], oid, f"{self.location} pack {name}")
        raise NotFoundError(f"No object {oid.hex()} in {self.location}.")

    # -- whole packs (sync/wholepacks.py, sync/s3packs.py) --------------------
    def pack_files(self) -> list:
        """The packs the last read_head named, each with its verified index."""
        return [S3Pack(name, self.pack_index(name)) for name in self._head_packs]

    def has_any(self, oids) -> bool:
        if not self._head_packs:
            return False  # an empty remote (the first push): no object to look up
        return super().has_any(oids)

    def pack_chunks(self, pack):
        rel = f"packs/pack-{check_pack_name(pack.name)}.pack"
        return download_chunks(self.loc, rel, f"{self.location}/{rel}, named by its HEAD,")

    def index_bytes(self, pack) -> bytes:
        return bytes(pack.index.data)

    def installs_pack_groups(self) -> bool:
        return True

    def begin_group(self, origin: Optional[dict] = None) -> S3PackGroup:
        """Whole packs uploaded as they are; only the HEAD written after them names them.
        origin is not kept on S3 (see begin_pack)."""
        return S3PackGroup(self)

    def begin_pack(self, origin: Optional[dict] = None) -> PackWriter:
        """origin is not kept on S3: nothing runs there, and whoever pulls from it marks the
        pack with this remote as its origin."""
        discard_abandoned(self.cache_dir)  # staging left by a killed push: never uploaded whole
        return PackWriter(_S3Upload(self))

    def close(self) -> None:
        for name, buf in list(self._packs.items()):
            try:
                buf.close()
            except BufferError:
                pass
            try:
                os.unlink(self._cache_path(name, "pack"))  # packs are only needed during a pull
            except FileNotFoundError:
                pass
        self._packs.clear()
        for idx in self._indexes.values():
            idx.close()
        self._indexes.clear()
