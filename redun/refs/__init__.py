"""Mutable names pointing at object ids, updated only by compare-and-swap.

contract.py: the contract, name rules and the RefStore base; memory.py:
MemoryRefs; directory.py: DirectoryRefs (loose files + packed.py's refs/.packed).
"""

from .contract import ANY, RefStore, check_ref_name
from .directory import DirectoryRefs
from .memory import MemoryRefs

__all__ = ["ANY", "DirectoryRefs", "MemoryRefs", "RefStore", "check_ref_name"]
