"""The query index: a rebuildable sqlite view of the objects. The only package that
imports sqlite3 (scratch.py gives others, e.g. the importer, a scratch database)."""

from .index import Index, open_index, rebuild_index, remove_index_files
from .schema import KNOWN_SCHEMA_VERSIONS, SCHEMA_VERSION

__all__ = ["Index", "open_index", "rebuild_index", "remove_index_files", "SCHEMA_VERSION", "KNOWN_SCHEMA_VERSIONS"]
