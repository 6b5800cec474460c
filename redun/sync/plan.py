"""Have/want planning for push and pull: pure functions, no I/O.

A sync moves the refs `execs/<uuid>` of a source to a destination, and the tag refs
`tags/<name>` (TagSets: a run's tags are `tags/<its execution uuid>`, `redun tag` and
`redun import` write `tags/edit-<uuid>` / `tags/import-<uuid>`). The plan is
 1. which refs change (`ref_updates`), from the two heads alone;
 2. which objects move (`walk`): everything reachable from the new ref values
    that the destination lacks, stopping at the first object it has (closure
    invariant: a store that has an object has everything below it).
`walk` yields objects children-first, so any prefix of what it yields is
closed under links: a transfer killed half-way leaves nothing dangling.
"""

from typing import Callable, Iterable, Iterator, Optional

from ..errors import AmbiguousPrefixError, NotFoundError

SYNC_PREFIX = "execs/"
TAGS_PREFIX = "tags/"
SYNC_PREFIXES = (SYNC_PREFIX, TAGS_PREFIX)


def exec_refs(refs: dict) -> dict:
    """Only the refs a sync moves: execution heads and tag sets."""
    return {n: o for n, o in refs.items() if n.startswith(SYNC_PREFIXES)}


def tag_refs_for(refs: dict, exec_names: list) -> list:
    """The tag refs that go with these executions: each one's own run tags, and every tag set
    not tied to one execution (`redun tag` edits, imports), which may name their records."""
    uuids = {n[len(SYNC_PREFIX):] for n in exec_names}
    out = []
    for name in sorted(refs):
        if name.startswith(TAGS_PREFIX):
            rest = name[len(TAGS_PREFIX):]
            if rest in uuids or rest.startswith(("edit-", "import-")):
                out.append(name)
    return out


def resolve_roots(refs: dict, prefixes: Iterable[str]) -> list:
    """Ref names of the executions whose uuid starts with each prefix.

    Raises NotFoundError naming the unknown prefixes, or AmbiguousPrefixError
    (listing the candidates)."""
    names = sorted(n for n in refs if n.startswith(SYNC_PREFIX))
    chosen, unknown = [], []
    for p in prefixes:
        p = p.strip().lower()
        hits = [n for n in names if n[len(SYNC_PREFIX):].startswith(p) or n[len(SYNC_PREFIX):].replace("-", "").startswith(p)]
        if not p or not hits:
            unknown.append(p)
        elif len(hits) > 1:
            raise AmbiguousPrefixError(p, [h[len(SYNC_PREFIX):] for h in hits], what="execution")
        elif hits[0] not in chosen:
            chosen.append(hits[0])
    if unknown:
        raise NotFoundError(f"Unknown record ids: {' '.join(unknown)} (push/pull take execution id prefixes)")
    return chosen + tag_refs_for(refs, chosen)


def ref_updates(src: dict, dst: dict, only: Optional[Iterable[str]] = None) -> dict:
    """name -> (old value at dst or None, new value from src) for every execution
    ref that src has and dst lacks or holds at another object."""
    names = exec_refs(src) if only is None else {n: src[n] for n in only}
    out = {}
    for name, oid in sorted(names.items()):
        old = dst.get(name)
        if old != oid:
            out[name] = (old, oid)
    return out


def walk(
    wants: Iterable[bytes],
    have: Callable[[bytes], bool],
    expand: Callable[[bytes], tuple],
) -> Iterator[tuple]:
    """Objects reachable from `wants` that `have` lacks, children first.

    expand(oid) -> (payload, links): reads the object from the source (and
    raises if it is missing or bad). Yields (oid, payload) after every link of
    oid has been yielded or is had. Each object is expanded once; only the
    objects on the current path are held in memory."""
    seen: set = set()
    stack: list = [(oid, None, None) for oid in reversed(list(wants))]
    while stack:
        oid, payload, expanded = stack[-1]
        if not expanded:
            if oid in seen or have(oid):
                stack.pop()
                continue
            seen.add(oid)
            payload, links = expand(oid)
            stack[-1] = (oid, payload, True)
            for link in reversed(links):
                if link not in seen:
                    stack.append((link, None, None))
        else:
            stack.pop()
            yield oid, payload


def describe_ref(name: str) -> str:
    """'execs/<uuid>' -> 'Exec <uuid prefix>' for messages."""
    if name.startswith(SYNC_PREFIX):
        return f"Exec {name[len(SYNC_PREFIX):][:8]}"
    if name.startswith(TAGS_PREFIX):
        return f"Tags {name[len(TAGS_PREFIX):][:15]}"
    return name


__all__ = ["exec_refs", "resolve_roots", "ref_updates", "walk", "describe_ref"]
