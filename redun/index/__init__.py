"""The query index: a rebuildable sqlite view of the objects (the only sqlite3 user)."""

from .index import Index, open_index, rebuild_index, remove_index_files
from .schema import KNOWN_SCHEMA_VERSIONS, SCHEMA_VERSION

__all__ = ["Index", "open_index", "rebuild_index", "remove_index_files", "SCHEMA_VERSION", "KNOWN_SCHEMA_VERSIONS"]
