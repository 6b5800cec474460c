"""RepoLookup: records an import finds in the repository instead of its input.

A line may refer to a record the repository already holds (an earlier import,
or our own runs). Executions are found by their ref, everything else through
the query index by upstream id; an empty repository answers without opening
the index.
"""

from typing import Optional

from ..errors import RedunError


class RepoLookup:
    def __init__(self, repo):
        self.repo = repo
        self.store = repo.store
        self.index = None
        self._empty: Optional[bool] = None

    def open_index(self) -> bool:
        """Open (and catch up) the index now; False if this build has none."""
        if self.index is None:
            try:
                self.index = self.repo.index
            except ImportError:
                return False
        return True

    def find(self, key: str) -> tuple:
        """(object id or None, whether it is a Task) of upstream key `key`
        ("e:<uuid>", "j:<uuid>", "c:<hash>", or "v:<hash>" for a value or task)."""
        kind, ident = key[0], key[2:]
        if kind == "e":
            return self.repo.refs.get(f"execs/{ident}"), False
        if self._empty is None:
            if hasattr(self.store, "pack_names"):
                self._empty = not (self.store.pack_names() or any(True for _ in self.store.iter_loose()))
            else:
                self._empty = next(iter(self.store.iter_ids()), None) is None
        if self._empty:
            return None, False
        if self.index is None:
            try:
                self.index = self.repo.index
            except (ImportError, RedunError):
                return None, False
        idx, is_task = self.index, False
        if kind == "j":
            row = idx.job(bytes.fromhex(ident.replace("-", "")))
        elif kind == "c":
            row = idx.call_node_by_hash(bytes.fromhex(ident))
        else:
            row = idx.task_by_hash(bytes.fromhex(ident))
            if row is not None:
                is_task = True
            else:
                row = idx.value_by_hash(bytes.fromhex(ident))
        return (row["oid"] if row else None), is_task
