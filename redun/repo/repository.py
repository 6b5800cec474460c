"""A local repository: the `.redun` directory, its FORMAT, objects, refs, index.

    .redun/FORMAT         "redun-repo <major>.<minor>"; unknown major refused
    .redun/redun.ini      configuration (upstream-compatible keys)
    .redun/objects/       loose objects (staging)
    .redun/packs/         packs + indexes
    .redun/refs/          execs/<uuid>, remotes/<name>/...
    .redun/index.sqlite3  derived, disposable query index
"""

import os
from typing import Optional

from ..config import CONFIG_FILENAME, DEFAULT_CONFIG, Config
from ..errors import CorruptObjectError, NotFoundError, RepoFormatError
from ..objects.directory import DirectoryStore
from ..objects.fileio import read_regular
from ..refs import DirectoryRefs
from .dburi import location_of

FORMAT_NAME = "redun-repo"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
INDEX_FILENAME = "index.sqlite3"


def read_format(root: str) -> Optional[tuple]:
    path = os.path.join(root, "FORMAT")
    try:
        raw = read_regular(path, 4096)  # never a FIFO, a device or a huge file
    except FileNotFoundError:
        return None
    except (OSError, CorruptObjectError) as e:
        raise RepoFormatError(f"{path} cannot be read as a FORMAT file: {e}") from None
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise RepoFormatError(f"{path} is not a redun FORMAT file (found {raw[:60]!r}); it should hold "
                              f"'{FORMAT_NAME} {FORMAT_MAJOR}.{FORMAT_MINOR}'.") from None
    parts = text.split()
    try:
        assert len(parts) == 2 and parts[0] == FORMAT_NAME
        major, minor = (int(x) for x in parts[1].split("."))
    except (AssertionError, ValueError):
        raise RepoFormatError(f"{path} is not a redun FORMAT file (found {text[:60]!r}).") from None
    return major, minor


def _holds_repository(root: str) -> bool:
    """Whether root already holds objects, packs or refs (so it is not a fresh directory)."""
    for sub in ("packs", "refs", "objects"):
        try:
            if os.listdir(os.path.join(root, sub)):
                return True
        except (FileNotFoundError, NotADirectoryError):
            continue
    return False


def write_format(root: str, version: tuple) -> None:
    """Write FORMAT as "redun-repo <major>.<minor>": temp file, fsync, rename."""
    tmp = os.path.join(root, "FORMAT.tmp")
    with open(tmp, "w") as f:
        f.write(f"{FORMAT_NAME} {version[0]}.{version[1]}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(root, "FORMAT"))


def check_format(root: str) -> tuple:
    fmt = read_format(root)
    if fmt is None:
        if os.path.exists(os.path.join(root, "redun.db")):
            raise RepoFormatError(
                f"{root} holds an upstream redun database (redun.db), not a redun repository.\n"
                "Move its history, and its cache, here with `redun db import-upstream` (it reads "
                "redun.db and creates the repository beside it; upstream need not be installed)."
            )
        raise NotFoundError(f"No redun repository at {root}. Run `redun init` to create one.")
    if fmt[0] != FORMAT_MAJOR:
        raise RepoFormatError(
            f"{root} uses repository format {fmt[0]}.{fmt[1]}; this redun reads format "
            f"{FORMAT_MAJOR}.x. Use a redun release that supports format {fmt[0]}, "
            "or `redun db downgrade` with the newer release."
        )
    return fmt


class Repo:
    """Opened local repository. Cheap to open: nothing is read until used.
    `Repo.open` / `Repo.init` return a PgRepo (pgrepo.py) for a config whose db_uri names
    a PostgreSQL database: the same attributes, its records in the database."""

    kind = "local"
    indexes_on_write = False  # a run hands its index rows over (index/follow.py, rows.py)

    def __init__(self, root: str, config: Config):
        self.root = root
        self.config = config
        self.store = DirectoryStore(root, durable=True)  # loose puts are rare: fsync them (refs point at them)
        self.refs = DirectoryRefs(root)
        self._index = None
        self._trust = None
        self._values = None

    @classmethod
    def init(cls, root: str, beside_upstream: bool = False) -> "Repo":
        root = os.path.abspath(root)
        config = Config.load(root)
        location = location_of(config, root)  # refuse an unsupported db_uri before creating anything
        if location.is_postgresql:
            from .pgrepo import PgRepo

            return PgRepo.init(root, config, location)
        fmt = read_format(root)
        if fmt is None and os.path.exists(os.path.join(root, "redun.db")) and not beside_upstream:
            check_format(root)  # says how to migrate instead of creating a repository beside it
        os.makedirs(root, exist_ok=True)
        if fmt is None:
            ini = os.path.join(root, CONFIG_FILENAME)
            if not os.path.exists(ini):
                with open(ini, "w") as f:
                    f.write(DEFAULT_CONFIG)
            for sub in ("objects", "packs", "refs"):
                os.makedirs(os.path.join(root, sub), exist_ok=True)
            write_format(root, (FORMAT_MAJOR, FORMAT_MINOR))
            from .settle import write_origin

            write_origin(root)
        return cls.open(root)

    @classmethod
    def open(cls, root: str, create: bool = False, beside_upstream: bool = False) -> "Repo":
        """create: initialize a missing repository (not next to an upstream redun.db, unless
        beside_upstream: `redun db import-upstream` moving that database in)."""
        root = os.path.abspath(root)
        config = Config.load(root)
        location = location_of(config, root)  # a db_uri naming a database is never ignored (dburi.py)
        if location.is_postgresql:
            from .pgrepo import PgRepo

            return PgRepo.open(root, config, location, create=create)
        upstream_here = os.path.exists(os.path.join(root, "redun.db")) and not beside_upstream
        if create and read_format(root) is None and not upstream_here:
            if _holds_repository(root):
                raise RepoFormatError(
                    f"{root} holds a repository (packs, refs) but its FORMAT file is missing, so it is "
                    f"not recreated silently. If it is a redun repository, restore it: "
                    f"echo '{FORMAT_NAME} {FORMAT_MAJOR}.{FORMAT_MINOR}' > {os.path.join(root, 'FORMAT')}")
            return cls.init(root, beside_upstream=beside_upstream)
        check_format(root)
        repo = cls(root, config)
        from .settle import settle_if_copied  # a `cp -r` copy taken mid-run is settled once

        settle_if_copied(repo)
        return repo

    @property
    def index_path(self) -> str:
        return os.path.join(self.root, INDEX_FILENAME)

    @property
    def index(self):
        """The query index, caught up with the objects on first use."""
        return self.open_index()

    def open_index(self, progress=None, defer_over=None):
        """repo.index, opened now with a Progress for its catch-up (a command about to query);
        defer_over: see index/catchup.py (background_index.listing_index)."""
        if self._index is None:
            from ..index import Index  # lazy: sqlite only when queried

            self._index = Index.open(self, progress=progress, defer_over=defer_over)
        return self._index

    @property
    def values(self):
        """The repo's ValueStore ([backend] value_store_*): where large payloads go, and
        `repo.values.read(value)`, the one way to read a Value's payload."""
        if self._values is None:
            from .valuestore import ValueStore

            self._values = ValueStore.for_repo(self)
        return self._values

    @property
    def trust(self):
        """Which recorded pickles `redun run` may unpickle (repo/trust.py)."""
        if self._trust is None:
            from .trust import Trust

            self._trust = Trust(self.store, self.config)
        return self._trust

    def close(self):
        if self._index is not None:
            self._index.close()
            self._index = None
        self.store.close()
