"""Graph walk over links: what fsck, gc and export use to find a closure.

Records only link to records written before them, so the graph is a DAG and a
walk terminates even when its visited set is bounded (it may then yield an
object more than once). The sync engineer's have/want planner is separate.
"""

from typing import Callable, Iterable, Iterator, Optional

from ..errors import NotFoundError


def walk(
    store,
    roots: Iterable[bytes],
    stop: Callable[[bytes], bool] = lambda oid: False,
    max_visited: Optional[int] = None,
    on_missing: Optional[Callable[[bytes, Optional[bytes]], None]] = None,
) -> Iterator[tuple]:
    """Yield (oid, record) for every object reachable from `roots`, parents first.

    - stop(oid) -> True: neither yield oid nor descend into it (e.g. "the
      remote has it", "already exported").
    - max_visited: bound the visited set (32-byte ids, ~100 bytes each in
      CPython); when full it is cleared, so shared objects may be yielded
      again. None = unbounded (each object yielded once).
    - on_missing(oid, parent): called for a linked object the store lacks,
      and the walk goes on; without it NotFoundError names both ids.
    Corrupt objects raise CorruptObjectError from store.get.
    """
    visited: set = set()
    stack = [(oid, None) for oid in reversed(list(roots))]
    while stack:
        oid, parent = stack.pop()
        if oid in visited:
            continue
        if max_visited is not None and len(visited) >= max_visited:
            visited.clear()
        visited.add(oid)
        if stop(oid):
            continue
        try:
            record = store.get(oid)
        except NotFoundError:
            if on_missing is None:
                via = f" (linked from {parent.hex()})" if parent is not None else ""
                raise NotFoundError(
                    f"object {oid.hex()}{via} is missing from {getattr(store, 'name', 'the store')}; "
                    "the store is not closed under links — run `redun fsck`"
                ) from None
            on_missing(oid, parent)
            continue
        yield oid, record
        for child in reversed(record.links()):
            if child not in visited:
                stack.append((child, oid))
