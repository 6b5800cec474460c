"""Mutable names pointing at object ids, updated only by compare-and-swap."""

from .store import ANY, DirectoryRefs, MemoryRefs, RefStore, check_ref_name

__all__ = ["ANY", "DirectoryRefs", "MemoryRefs", "RefStore", "check_ref_name"]
