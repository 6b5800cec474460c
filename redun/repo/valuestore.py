"""Where a repository's large value payloads live, from `[backend]` config.

Keys (upstream's names, same meaning):
    value_store_min_size   payloads of at least this many bytes become Blob
                           records (default 1024, upstream's default)
    value_store_path       optional: keep blobs outside .redun, in a directory
                           (relative paths resolve against the config dir) or
                           at s3://bucket/prefix
    max_value_size         larger payloads are refused (default 1e9)

Unlike upstream, blobs are always content-addressed objects (deduplicated,
verified on read); value_store_path only moves them. Records stay in the repo.
A Value whose blobs are elsewhere still links to them by id, so its payload is
read with `repo.values.read(value)` (the external store first, then the
repo's own), never from `repo.store` alone.
"""

import os
from typing import Iterator, Optional

from ..errors import ConfigError, NotFoundError, ValueTooLargeError
from ..objects import blobs
from ..objects.directory import DirectoryStore
from ..objects.store import ObjectStore

DEFAULT_MIN_SIZE = 1024
DEFAULT_MAX_SIZE = 1_000_000_000


class ChainStore(ObjectStore):
    """Reads from several stores in order; writes go to the first.
    Used to read blobs wherever they are (value store, then repo)."""

    def __init__(self, stores: list):
        self.stores = [s for s in stores if s is not None]
        self.name = " + ".join(getattr(s, "name", "store") for s in self.stores)

    def _first_with(self, oid: bytes):
        for s in self.stores:
            if s.has(oid):
                return s
        return None

    def get_bytes(self, oid: bytes) -> bytes:
        s = self._first_with(oid)
        if s is None:
            raise NotFoundError(f"No object {oid.hex()} in {self.name}.")
        return s.get_bytes(oid)

    def get_stored(self, oid: bytes) -> tuple:
        s = self._first_with(oid)
        if s is None:
            raise NotFoundError(f"No object {oid.hex()} in {self.name}.")
        if hasattr(s, "get_stored"):
            return s.get_stored(oid)
        return b"\x00" + s.get_bytes(oid), s.name

    def packs(self) -> list:
        out = []
        for s in self.stores:
            if hasattr(s, "packs"):
                out.extend(s.packs())
        return out

    def put_bytes(self, canonical: bytes) -> bytes:
        return self.stores[0].put_bytes(canonical)

    def has(self, oid: bytes) -> bool:
        return any(s.has(oid) for s in self.stores)

    def iter_ids(self) -> Iterator[bytes]:
        first, rest = self.stores[0], self.stores[1:]
        yield from first.iter_ids()
        for i, s in enumerate(rest):
            before = self.stores[: i + 1]
            for oid in s.iter_ids():
                if not any(b.has(oid) for b in before):
                    yield oid

    def prefix_candidates(self, prefix: str, limit: int = 21) -> list:
        out = []
        for s in self.stores:
            for oid in s.prefix_candidates(prefix, limit):
                if oid not in out:
                    out.append(oid)
        return out[:limit]

    def flush(self) -> None:
        for s in self.stores:
            s.flush()


class ValueStore:
    """A repo's value-store settings and the store blobs go to."""

    def __init__(self, repo_store: ObjectStore, config=None, config_dir: Optional[str] = None):
        self.repo_store = repo_store
        get = (lambda k: config.get("backend", k)) if config is not None else (lambda k: None)
        self.min_size = _int(get("value_store_min_size"), DEFAULT_MIN_SIZE, "value_store_min_size")
        self.max_size = _int(get("max_value_size"), DEFAULT_MAX_SIZE, "max_value_size")
        path = (get("value_store_path") or "").strip() or None
        if path and "://" not in path and not os.path.isabs(path):
            path = os.path.normpath(os.path.join(config_dir or os.getcwd(), path))
        self.path = path
        self._external = None

    @classmethod
    def for_repo(cls, repo) -> "ValueStore":
        return cls(repo.store, repo.config, repo.root)

    @property
    def external(self) -> Optional[ObjectStore]:
        """The store at value_store_path (None when blobs stay in the repo)."""
        if self.path is None:
            return None
        if self._external is None:
            self._external = open_blob_store(self.path)
        return self._external

    def target(self, run_writer=None):
        """Where put_payload writes: the value store, else the run's PackWriter
        (or the repo store when no run is writing)."""
        ext = self.external
        if ext is not None:
            return ext
        return run_writer if run_writer is not None else self.repo_store  # (an empty PackWriter is falsy)

    def reader(self) -> ObjectStore:
        """A store that finds blobs wherever they are."""
        ext = self.external
        return self.repo_store if ext is None else ChainStore([ext, self.repo_store])

    def fields(self, payload, run_writer=None, spans=(), what: str = "value") -> dict:
        """Value fields {data, blobs, size} for a serialized payload."""
        n = len(payload)
        if n > self.max_size:
            raise ValueTooLargeError(
                f"{what} is {n} bytes serialized, over max_value_size={self.max_size}. "
                "Raise [backend] max_value_size in redun.ini, or return a File instead."
            )
        return blobs.payload_fields(self.target(run_writer), payload, self.min_size, spans=spans)

    def read(self, value):
        """The payload of a Value (bytes-like): its inline data, or its blobs read
        from the value store, then the repo. Every reader of values (export, the
        repl, `redun log --format json`, the engine's cache) goes through here."""
        if not value.blobs:
            return value.data
        return blobs.read_payload(self.reader(), value)


def _int(raw, default: int, key: str) -> int:
    if raw is None or str(raw).strip() == "":
        return default
    try:
        v = int(float(raw))
    except ValueError:
        raise ConfigError(f"[backend] {key} must be a number of bytes, not {raw!r}") from None
    if v < 0:
        raise ConfigError(f"[backend] {key} must not be negative ({raw!r})")
    return v


def open_blob_store(path: str) -> ObjectStore:
    """The ObjectStore at a value_store_path: a directory, or s3://bucket/prefix."""
    if path.startswith("s3://"):
        from ..objects.s3store import S3BlobStore  # lazy: boto3 only when configured

        return S3BlobStore(path)
    if "://" in path:
        if path.startswith("file://"):
            return open_blob_store(path[len("file://") :])
        raise ConfigError(
            f"value_store_path {path!r}: only a directory or s3://bucket/prefix is supported."
        )
    try:
        # durable: a run's records (fsynced with its pack) may point at these blobs
        return DirectoryStore(path, durable=True)
    except OSError as e:
        raise ConfigError(f"value_store_path {path!r} cannot be used: {e.strerror}") from None


def blob_store_for(repo) -> ObjectStore:
    """The ObjectStore a repo's blobs go to (its own store unless value_store_path is set)."""
    ext = repo.values.external
    return repo.store if ext is None else ext


def blob_reader_for(repo) -> ObjectStore:
    """A store that reads a repo's blobs wherever they are (for display, sync, fsck)."""
    return repo.values.reader()


class _LinkView:
    """The repo store, except that has() also finds blobs at value_store_path
    (so fsck does not report them as missing links)."""

    def __init__(self, store, reader):
        self._store, self._reader = store, reader

    def __getattr__(self, name):
        return getattr(self._store, name)

    def has(self, oid: bytes) -> bool:
        return self._store.has(oid) or self._reader.has(oid)


def link_view(repo):
    """repo.store for checking links: with value_store_path, blobs there count as present."""
    vs = repo.values
    return repo.store if vs.path is None else _LinkView(repo.store, vs.reader())
