"""fsck judges what is reachable: a link problem of an object no ref reaches is garbage.

objects/fsck.py checks every link of every object without holding an id set.
When it finds links that do not resolve, this marks what the refs reach (gc's
mark state: a byte per packed object) and moves the problems of objects that
are not reached into `report.garbage`: left by an interrupted gc or import,
removed by the next `redun gc`, and no damage to any execution. If the marking
itself cannot be done (an unreadable pack or record on the way), nothing is
moved: the problems stay problems.
"""

from ..errors import RedunError
from .mark import Marker
from ..objects.packentries import find_position


class _Counts:
    missing_links = 0


def judge_reachable(store, refs, report) -> None:
    """Move link problems of unreachable objects from report.problems to report.garbage."""
    links = [p for p in report.problems if p.kind == "link"]
    if not links or not hasattr(store, "packs_dir"):
        return
    try:
        m = Marker(store, float("inf"), _Counts())  # no pack is young: only refs are roots
    except RedunError:
        return
    try:
        try:
            for name in refs.names():
                oid = refs.get(name)
                if oid is not None:
                    m.mark_root(oid)
        except RedunError:
            return
        garbage = [p for p in links if not _marked(m, bytes.fromhex(p.name))]
    finally:
        m.close()
    if garbage:
        gone = {id(p) for p in garbage}
        report.problems = [p for p in report.problems if id(p) not in gone]
        report.garbage.extend(garbage)


def _marked(m, oid: bytes) -> bool:
    for p in m.packs:
        pos = find_position(p.index, oid)
        if pos >= 0 and p.bits[pos]:
            return True
    return oid in m.loose_marked
