"""The order gc removes garbage in: parents before children, so a killed sweep leaves
the store closed (every object present has everything it links to).

gc removes garbage one unit at a time: a whole pack (rewritten without its
garbage, or removed; the old index goes in one unlink) or one loose object. A
unit may go only after every other unit holding garbage that links into it.
Links between objects of the same pack need no order (they go together). An
object can have copies in several packs; a garbage link to a child that has a
live copy somewhere needs no order either, and otherwise it binds the parent's
unit to one holder of the child (the oldest pack, else the loose copy): while
that holder remains the child remains, whatever happens to other copies.

The units are then taken in topological order (Kahn), newest first among the
ready ones. A cycle between packs (possible only when earlier rewrites moved
old objects into newer packs) is broken newest first: a kill inside it can
leave unreachable garbage with dangling links, which fsck reports as garbage
and the next gc removes.

Cost: each garbage record is read once (blobs are not); a link is looked up in
its own pack first (one binary search) and in the other packs only when it
leaves the pack.
"""

import heapq

from ..errors import CorruptObjectError, NotFoundError
from ..objects.packentries import find_position
from .packio import links_at


def sweep_order(m) -> tuple:
    """([unit, ...], cycles) for Marker m after marking: a unit is a pack number or a
    loose oid (bytes) holding old unmarked objects; cycles = units ordered despite a cycle."""
    packs = [i for i, p in enumerate(m.packs) if not p.young and p.bits.find(0) >= 0]
    loose = [oid for oid in m.store.iter_loose()
             if oid not in m.loose_marked and 0 < m._loose_mtime(oid) < m.cutoff]
    units = packs + loose
    edges: dict = {u: set() for u in units}
    loose_set = set(loose)
    holders: dict = {}  # oid -> holder unit: shared children (tasks, cached values) are looked up once

    def holder(oid):
        if oid not in holders:
            holders[oid] = _holder(m, oid, loose_set)
        return holders[oid]

    for i in packs:
        p = m.packs[i]
        pos = p.bits.find(0)
        while pos >= 0:
            try:
                children, _blobs = links_at(p, pos)
            except CorruptObjectError:
                children = ()  # unreadable garbage: it links to nothing we can name
            for c in children:
                if find_position(p.index, c) < 0:
                    h = holder(c)
                    if h is not None and h != i:
                        edges[i].add(h)
            pos = p.bits.find(0, pos + 1)
    for oid in loose:
        try:
            children = m.store.get(oid).links()
        except (CorruptObjectError, NotFoundError):
            children = ()
        for c in children:
            h = holder(c)
            if h is not None and h != oid:
                edges[oid].add(h)
    return _toposort(m, units, edges)


def _holder(m, oid: bytes, loose_set: set):
    """The unit whose removal would remove oid's last needed copy: None if oid has a live
    (marked) copy or no copy at all; else the oldest pack holding it, else its loose copy."""
    holders = []
    for i, p in enumerate(m.packs):
        pos = find_position(p.index, oid)
        if pos >= 0:
            if p.bits[pos] or p.young:
                return None
            holders.append(i)
    if oid in m.loose_marked:
        return None
    if holders:
        return min(holders, key=lambda i: m.packs[i].mtime)
    return oid if oid in loose_set else None


def _toposort(m, units: list, edges: dict) -> tuple:
    indeg = {u: 0 for u in units}
    for u in units:
        for v in edges[u]:
            indeg[v] += 1

    def age(u):  # newest first among the ready units
        if isinstance(u, int):
            return -m.packs[u].mtime
        return -m._loose_mtime(u)

    ready = [(age(u), n, u) for n, u in enumerate(units) if indeg[u] == 0]
    heapq.heapify(ready)
    order, done = [], set()
    tie = len(units)
    while len(order) < len(units):
        if not ready:  # a cycle: take the newest remaining unit
            rest = sorted((age(u), n, u) for n, u in enumerate(units) if u not in done)
            ready = [rest[0]]
        _, _, u = heapq.heappop(ready)
        if u in done:
            continue
        done.add(u)
        order.append(u)
        for v in edges[u]:
            indeg[v] -= 1
            if indeg[v] == 0 and v not in done:
                tie += 1
                heapq.heappush(ready, (age(v), tie, v))
    cycles = sum(1 for u in units if indeg[u] > 0)
    return order, cycles

