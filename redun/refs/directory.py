"""DirectoryRefs: refs as files under `<repo>/refs/`, loose and packed (packed.py)."""

import bisect
import fcntl
import os
from typing import Optional

from ..errors import CorruptObjectError, InvalidIdError, RefConflictError
from ..objects.fileio import NotRegularFileError, open_regular
from ..objects.ids import parse_oid, tmp_token
from .contract import ANY, RefStore, check_ref_value, conflict_error, check_ref_name
from .packed import PACKED_FILENAME, decode_packed, encode_packed


class DirectoryRefs(RefStore):
    """Loose refs are files refs/<name> holding '<64 hex>\\n'; packed refs are
    lines of refs/.packed (see packed.py). A loose file wins over a packed line.

    Locks (flock, never left behind by a crash): refs/<name>.lock guards one
    ref, refs/.packed.lock guards the packed file. Order: a ref lock, then the
    packed lock; pack_refs (packed lock first) only *tries* ref locks, so no
    deadlock. Lock files are unlinked by their holder before it lets go (set,
    delete, pack_refs; a killed holder's is tidied by pack_refs), so a locker
    checks after flock that the path still names its file.

    - set: under the ref lock, read loose-or-packed, compare, write the loose
      file (temp + rename). The packed line, if any, is shadowed.
    - delete: under the ref lock and the packed lock, compare, drop the packed
      line (rewrite), then unlink the loose file: never a moment where an old
      packed value shows through.
    - pack_refs: under the packed lock, write packed = packed + loose values,
      then for each loose ref whose lock is free and value unchanged, unlink
      it. Readers read loose first, then packed: a ref is never missing.
    - list: lists loose names first, then reads packed, then loose files, so a
      concurrent pack_refs cannot hide a ref.
    - After a CAS from an existing value (a run ending swaps its execs/ ref),
      refs are packed when that directory holds more than PACK_THRESHOLD loose
      refs (skipped if someone else is packing).
    """

    PACK_THRESHOLD = 256

    def __init__(self, root: str):
        self.dir = os.path.join(root, "refs")
        os.makedirs(self.dir, exist_ok=True)
        self.packed_path = os.path.join(self.dir, PACKED_FILENAME)
        self._cache = None  # (stat key, {name: oid}, sorted names or None)

    def _path(self, name):
        return os.path.join(self.dir, *check_ref_name(name).split("/"))

    def _read(self, path) -> Optional[bytes]:
        try:
            fd = open_regular(path)  # never blocks: a FIFO here hung every command
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except NotRegularFileError as e:
            if os.path.isdir(path):
                return None  # a prefix directory, not a ref
            raise CorruptObjectError(f"ref file {e}") from None
        try:
            data = os.read(fd, 256)
        except IsADirectoryError:
            return None
        finally:
            os.close(fd)
        try:
            return parse_oid(data.decode("ascii").strip())
        except (InvalidIdError, UnicodeDecodeError):
            raise CorruptObjectError(f"ref file {path} does not hold an object id") from None

    # -- packed file ----------------------------------------------------------
    def _packed(self) -> dict:
        """{name: oid} of refs/.packed, parsed once per version of the file."""
        try:
            fd = open_regular(self.packed_path)
        except FileNotFoundError:
            return {}
        except NotRegularFileError as e:
            raise CorruptObjectError(f"packed refs file {e}") from None
        try:
            st = os.fstat(fd)
            key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            cache = self._cache
            if cache is not None and cache[0] == key:
                return cache[1]
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(fd)
        refs = decode_packed(b"".join(chunks), self.packed_path)
        self._cache = (key, refs, None)
        return refs

    def _packed_sorted(self, packed: dict) -> list:
        cache = self._cache
        if cache is not None and cache[1] is packed:
            if cache[2] is None:
                self._cache = cache = (cache[0], packed, sorted(packed))
            return cache[2]
        return sorted(packed)

    def _write_packed(self, refs: dict) -> None:
        tmp = f"{self.packed_path}.tmp-{tmp_token()}"
        with open(tmp, "wb") as f:
            f.write(encode_packed(refs))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.packed_path)

    def _lock_packed(self, wait: bool = True):
        return self._flock(self.packed_path + ".lock", wait)

    # -- locks ----------------------------------------------------------------
    @staticmethod
    def _flock(lock_path: str, wait: bool = True):
        """An fd holding an exclusive flock on lock_path, or None (wait=False, busy)."""
        while True:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)  # the holder unlinked it: lock the new file

    def _locked(self, path, name, wait: bool = True):
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.isdir(path):
                raise NotADirectoryError
            return self._flock(path + ".lock", wait)
        except (NotADirectoryError, FileExistsError):
            raise InvalidIdError(
                f"ref '{name}' clashes with an existing ref (a name cannot be both a ref and a "
                "prefix of other refs)"
            ) from None

    def _check_packed_clash(self, name: str, packed: dict) -> None:
        if not packed:
            return
        parts = name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in packed:
                raise InvalidIdError(f"ref '{name}' clashes with existing ref '{'/'.join(parts[:i])}'")
        names = self._packed_sorted(packed)
        j = bisect.bisect_left(names, name + "/")
        if j < len(names) and names[j].startswith(name + "/"):
            raise InvalidIdError(f"ref '{name}' clashes with existing ref '{names[j]}'")

    # -- contract -------------------------------------------------------------
    def get(self, name):
        oid = self._read(self._path(name))
        return oid if oid is not None else self._packed().get(name)

    def _current(self, name: str, path: str, packed: dict) -> Optional[bytes]:
        """A ref's value: its loose file wins over its packed line (caller holds the lock)."""
        cur = self._read(path)
        return packed.get(name) if cur is None else cur

    def _check_current(self, name: str, path: str, packed: dict, expected) -> None:
        cur = self._current(name, path, packed)
        if expected is not ANY and cur != expected:
            raise conflict_error(name, expected, cur)

    def set(self, name, new, expected=ANY):
        path = self._path(name)
        check_ref_value(name, new)
        fd = self._locked(path, name)
        try:
            packed = self._packed()
            self._check_current(name, path, packed, expected)
            self._check_packed_clash(name, packed)
            tmp = f"{path}.tmp-{tmp_token()}"
            with open(tmp, "w") as f:
                f.write(new.hex() + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _unlink_quiet(path + ".lock")  # while held (lockers re-check the inode): no lock files pile up
        finally:
            os.close(fd)
        if type(expected) is bytes:
            self.maybe_pack(os.path.dirname(path))

    SET_MANY_CHUNK = 1000  # refs per packed-file rewrite (each holds its ref locks meanwhile)

    def set_many(self, updates: dict) -> list:
        """Many CAS updates with one packed-file write per chunk instead of a
        temp file + fsync + rename per ref: under the packed lock, take each
        ref's lock, compare, then write packed with the new values and unlink
        the loose files they replace (as pack_refs does), then release."""
        names = sorted(updates)
        for name in names:
            check_ref_name(name)
            check_ref_value(name, updates[name][1])
        conflicts, busy = [], []
        for i in range(0, len(names), self.SET_MANY_CHUNK):
            conflicts += self._set_chunk(names[i:i + self.SET_MANY_CHUNK], updates, busy)
        for name in busy:  # locked by someone else: one by one, waiting (no packed lock held)
            expected, new = updates[name]
            try:
                self.set(name, new, expected)
            except RefConflictError:
                conflicts.append(name)
        return sorted(conflicts)

    def _set_chunk(self, names: list, updates: dict, busy: list) -> list:
        """Ref locks are only tried (the packed lock is held: see the lock order)."""
        conflicts, held = [], []  # held: (name, path, lock fd)
        pfd = self._lock_packed()
        try:
            packed = self._packed()
            for name in names:
                path = self._path(name)
                fd = self._locked(path, name, wait=False)
                if fd is None:
                    busy.append(name)
                    continue
                held.append((name, path, fd))
                expected = updates[name][0]
                cur = self._current(name, path, packed)
                if expected is not ANY and cur != expected:
                    conflicts.append(name)
                    continue
                self._check_packed_clash(name, packed)
            failed = set(conflicts)
            done = {name: updates[name][1] for name, _, _ in held if name not in failed}
            if done:
                merged = dict(packed)
                merged.update(done)
                self._write_packed(merged)  # now the packed value is the new one...
                for name, path, _fd in held:
                    if name in done:
                        try:
                            os.unlink(path)  # ...and no stale loose file shadows it
                        except FileNotFoundError:
                            pass
            return conflicts
        finally:
            for _name, path, fd in held:
                try:
                    os.unlink(path + ".lock")  # while held: lockers re-check the inode
                except FileNotFoundError:
                    pass
                os.close(fd)
            os.close(pfd)

    def delete(self, name, expected=ANY):
        path = self._path(name)
        if expected is ANY and not os.path.exists(path) and name not in self._packed():
            return
        fd = self._locked(path, name)
        try:
            pfd = self._lock_packed()
            try:
                packed = self._packed()
                self._check_current(name, path, packed, expected)
                if name in packed:
                    self._write_packed({n: o for n, o in packed.items() if n != name})
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            finally:
                os.close(pfd)
            _unlink_quiet(path + ".lock")
        finally:
            os.close(fd)

    def _loose(self, prefix: str = "") -> tuple:
        """(sorted loose ref names under prefix, lock file paths) from the directories."""
        top = self.dir
        if "/" in prefix:
            sub = prefix.rsplit("/", 1)[0]
            try:
                top = os.path.join(self.dir, *check_ref_name(sub).split("/"))
            except InvalidIdError:
                return [], []  # no ref can start with a malformed directory part
        names, locks = [], []
        for dirpath, _dirs, files in os.walk(top):
            rel = os.path.relpath(dirpath, self.dir)
            base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            for f in files:
                if f.startswith(".") or ".tmp-" in f:
                    continue
                if f.endswith(".lock"):
                    locks.append(os.path.join(dirpath, f))
                    continue
                name = base + f
                if name.startswith(prefix):
                    names.append(name)
        names.sort()
        return names, locks

    def loose_names(self, prefix: str = "") -> list:
        """Sorted names of loose ref files only (fsck's listing when refs/.packed is unreadable)."""
        return self._loose(prefix)[0]

    def names(self, prefix=""):
        loose, _ = self._loose(prefix)
        packed = [n for n in self._packed() if n.startswith(prefix)]
        return sorted(set(loose).union(packed))

    def list(self, prefix=""):
        loose, _ = self._loose(prefix)  # before reading packed: see pack_refs
        packed = self._packed()
        if not loose:  # the common case once packed: no merge, packed is sorted
            if prefix:
                yield from [(n, o) for n, o in packed.items() if n.startswith(prefix)]
            else:
                yield from packed.items()
            return
        merged = dict.fromkeys(loose)
        for name in packed:
            if name.startswith(prefix):
                merged[name] = None
        read = self._read
        is_loose = set(loose)
        for name in sorted(merged):
            oid = None
            if name in is_loose:
                oid = read(os.path.join(self.dir, *name.split("/")))
            if oid is None:
                oid = packed.get(name)
            if oid is None and name in is_loose:
                # its loose file went after our packed snapshot: pack_refs moved it (it writes
                # the packed file before unlinking), so a fresh read has it (or it was deleted)
                packed = self._packed()
                oid = packed.get(name)
            if oid is not None:
                yield name, oid

    def maybe_pack(self, directory: Optional[str] = None) -> int:
        """pack_refs() if `directory` (default refs/execs) holds more than
        PACK_THRESHOLD loose refs and nobody else is packing; else 0."""
        directory = directory or os.path.join(self.dir, "execs")
        count = 0
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    if not entry.name.endswith(".lock"):
                        count += 1
                        if count > self.PACK_THRESHOLD:
                            return self.pack_refs(wait=False)
        except (FileNotFoundError, NotADirectoryError):
            pass
        return 0

    def pack_refs(self, wait: bool = True) -> int:
        """Move every loose ref into refs/.packed (see the class docstring);
        returns how many moved. wait=False: return 0 if another packer runs."""
        pfd = self._lock_packed(wait)
        if pfd is None:
            return 0
        try:
            loose, locks = self._loose()
            values = {}
            for name in loose:
                try:
                    oid = self._read(os.path.join(self.dir, *name.split("/")))
                except CorruptObjectError:
                    continue  # left loose for fsck to name
                if oid is not None:
                    values[name] = oid
            if values:
                merged = dict(self._packed())
                merged.update(values)
                self._write_packed(merged)
            moved = 0
            for name, oid in values.items():
                path = os.path.join(self.dir, *name.split("/"))
                fd = self._flock(path + ".lock", wait=False)
                if fd is None:
                    continue  # being updated: stays loose (and wins over packed)
                try:
                    if self._read(path) == oid:
                        os.unlink(path)
                        moved += 1
                    os.unlink(path + ".lock")
                finally:
                    os.close(fd)
            for lock in locks:  # tidy lock files left by earlier updates
                fd = self._flock(lock, wait=False)
                if fd is None:
                    continue
                try:
                    if not os.path.exists(lock[: -len(".lock")]):
                        os.unlink(lock)
                except FileNotFoundError:
                    pass
                finally:
                    os.close(fd)
            return moved
        finally:
            os.close(pfd)


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
