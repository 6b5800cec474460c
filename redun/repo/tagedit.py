"""Editing tags after the fact (`redun tag add / update / rm`), upstream's tag model.

Tags are never changed in place. A new tag may name parents: the tags it supersedes.
`update` supersedes the entity's current tags of the same keys; `rm` records a delete
marker (entity type Null, empty key) whose parents are the tags it removes. A tag is
current while no tag names it as a parent. Adding a tag that was current once and has
been superseded since makes a new tag with that one as parent (its hash differs), so it
is current again; this is upstream's rule too, so tag hashes match upstream's.

One command's tags are Tag records gathered in one TagSet, named by the ref
`tags/edit-<uuid>` (what gc keeps and push/pull move); the index sees them at once.
"""

import uuid
from typing import Iterable

from ..hashing import hash_tag, json_dumps
from ..objects.records import Tag, TagSet

DELETE = ("Null", "", "", None)  # entity_type, entity_id, key, value of a delete marker


class TagEditor:
    def __init__(self, repo):
        self.repo = repo
        self.index = repo.index
        self.pending: dict = {}  # tag hash (bytes) -> (oid, Tag)

    # -- what exists --------------------------------------------------------------
    def _exists(self, h: bytes) -> bool:
        return h in self.pending or self.index.tag_exists(h)

    def _superseded(self, h: bytes) -> bool:
        if any(h in t.parents for _, t in self.pending.values()):
            return True
        return self.index.tag_superseded(h)

    def current(self, entity_id: str) -> list:
        """(hash, key, value) of the entity's current tags, including this command's."""
        out = [(h, k, v) for h, k, v, _ in self.index.current_tags(entity_id)]
        superseded = {p for _, t in self.pending.values() for p in t.parents}
        out = [(h, k, v) for h, k, v in out if h not in superseded]
        out += [(h, t.key, t.value) for h, (_, t) in self.pending.items()
                if t.entity_id == entity_id and t.key and h not in superseded]
        return out

    # -- edits ----------------------------------------------------------------------
    def record(self, entity_type: str, entity_id: str, pairs: Iterable, parents: Iterable[bytes] = (),
               update: bool = False, new: bool = False) -> list:
        """Record (key, value) tags on an entity; returns [(hash hex, key, value)] recorded."""
        pairs = list(pairs)
        parents = list(parents)
        if update:
            keys = {k for k, _ in pairs}
            parents += [h for h, k, _ in self.current(entity_id) if k in keys]
            new = True
        parents = sorted(set(parents))
        parent_hex = [p.hex() for p in parents]
        out = []
        for key, value in pairs:
            h = bytes.fromhex(hash_tag(entity_id, key, value, parent_hex))
            if new and self._superseded(h):
                # it was current once and has been superseded: walk down to a new leaf
                out += self.record(entity_type, entity_id, [(key, value)], parents=[h], new=True)
                continue
            if not self._exists(h):  # (an existing tag of the same hash has the same parents)
                rec = Tag(h, entity_type, entity_id, key, json_dumps(value), tuple(parents))
                self.pending[h] = (self.repo.store.put(rec), rec)
            out.append((h.hex(), key, value))
        return out

    def delete(self, entity_id: str, pairs: Iterable, keys: Iterable[str] = ()) -> list:
        """Supersede the entity's current tags matching (key, value) pairs or any value of keys."""
        pairs = [(k, json_dumps(v)) for k, v in pairs]
        keys = set(keys)
        parents = [h for h, k, v in self.current(entity_id) if k in keys or (k, v) in pairs]
        if not parents:
            return []
        entity_type, eid, key, value = DELETE
        return self.record(entity_type, eid, [(key, value)], parents=parents)

    def commit(self) -> None:
        """Write this command's TagSet, name it, and let the index see the tags now."""
        if not self.pending:
            return
        store, index = self.repo.store, self.index
        oids = tuple(oid for oid, _ in self.pending.values())
        tagset = store.put(TagSet(oids, ()))
        self.repo.refs.set(f"tags/edit-{uuid.uuid4()}", tagset, expected=None)
        for oid, rec in self.pending.values():
            index.ingest(oid, rec)
        index.commit()
        self.pending = {}
