"""A repository in PostgreSQL (`[backend] db_uri = postgresql://...`): the same attributes
as the local Repo (store, refs, index, values, config, root = the config dir), with its
objects, refs and index in the database (redun/pg)."""

import os

from ..config import Config
from .repository import Repo


class PgRepo(Repo):
    """Inherits what does not depend on where records live (values, trust); overrides the
    storage (store, refs, index) and opening."""

    kind = "postgresql"
    # index rows are written with their objects (pg/store.py): a run hands none over
    indexes_on_write = True
    index_path = None

    def __init__(self, root: str, config: Config, location):
        from ..pg import PgDatabase
        from ..pg.refs import PgRefs
        from ..pg.store import PgStore

        self.root = root
        self.config = config
        self.location = location
        self.db = PgDatabase(location.conninfo, location.display)
        self.store = PgStore(self.db)
        self.refs = PgRefs(self.db)
        self._index = None
        self._values = None
        self._trust = None

    @classmethod
    def open(cls, root: str, config: Config, location, create: bool = False) -> "PgRepo":
        repo = cls(root, config, location)
        try:
            repo.db.ensure_repository(create)
        except BaseException:
            repo.db.close()
            raise
        return repo

    @classmethod
    def init(cls, root: str, config: Config, location) -> "PgRepo":
        """Create the repository's tables (the config dir keeps only redun.ini)."""
        os.makedirs(root, exist_ok=True)
        return cls.open(root, config, location, create=True)

    @property
    def description(self) -> str:
        return f"PostgreSQL database {self.location.display} (config dir {self.root})"

    @property
    def index(self):
        if self._index is None:
            from ..pg.queries import PgIndex

            self._index = PgIndex(self, self.db)
        return self._index

    def open_index(self, progress=None, defer_over=None):
        """The PostgreSQL index is written with the records: there is nothing to catch up."""
        return self.index

    def close(self):
        if self._index is not None:
            self._index.close()
            self._index = None
        self.db.close()
