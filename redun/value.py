"""User-facing base class for custom values (upstream `redun.Value`).

Subclass it to control how a value is hashed (`get_hash`) and when a cached
value is still usable (`is_valid`). The scheduler only relies on the
`__redun_hash__` hook and `is_valid()`; everything else is plain pickling.
"""

from typing import Optional

from .hashing import hash_tag_bytes, pickle_dumps


class Value:
    """A value with its own hash and validity. Default hash: upstream's pickle-based value hash."""

    type_name: Optional[str] = None

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return hash_tag_bytes("Value", data if data is not None else pickle_dumps(self))

    def __redun_hash__(self) -> str:
        return self.get_hash()

    def is_valid(self) -> bool:
        return True

    def __getstate__(self) -> dict:
        return dict(self.__dict__)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
