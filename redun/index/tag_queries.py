"""Tag queries over the index (mixed into Index next to Queries).

A tag is current while no other tag lists it as a parent (an update or a delete
supersedes it). Entity ids are upstream's text ids: an execution's or job's uuid,
a call node's call_hash, a task's hash, a value's hash (lowercase hex). Values are
compared as normalised JSON text (index/rows.normal_json).
"""

from typing import Optional

CURRENT = "NOT EXISTS (SELECT 1 FROM tag_parents p WHERE p.parent = t.hash)"
KIND_COLUMNS = {  # kind -> (entity_type, its table, the id column, whether the id is a uuid)
    "execution": ("Execution", "executions", "id", True),
    "job": ("Job", "jobs", "id", True),
    "call_node": ("CallNode", "call_nodes", "hash", False),
    "task": ("Task", "tasks", "hash", False),
    "value": ("Value", "vals", "hash", False),
}


def _value_clause(pairs) -> tuple:
    """SQL (over tags t) matching any of [(key, json text or None for any value)]."""
    parts, params = [], []
    for key, value in pairs:
        if value is None:
            parts.append("t.key = ?")
            params.append(key)
        else:
            parts.append("(t.key = ? AND t.value = ?)")
            params += [key, value]
    return " OR ".join(parts), params


class TagQueries:
    """SQL in sqlite's dialect with `?` placeholders; PgIndex sets HEX and _sql for PostgreSQL."""

    HEX = "lower(hex({}))"  # a blob column as lowercase hex text

    def _sql(self, sql: str) -> str:
        return sql

    def uuid_sql(self, col: str) -> str:
        """SQL turning a 16-byte uuid column into upstream's text id (8-4-4-4-12 lowercase hex)."""
        h = self.HEX.format(col)
        return (f"substr({h},1,8)||'-'||substr({h},9,4)||'-'||substr({h},13,4)||'-'||substr({h},17,4)||'-'||"
                f"substr({h},21)")

    def entity_sql(self, kind: str) -> str:
        """SQL giving the upstream id text of a row of `kind`'s table (columns qualified: tags
        has a hash column too)."""
        _, table, col, is_uuid = KIND_COLUMNS[kind]
        return self.uuid_sql(f"{table}.{col}") if is_uuid else self.HEX.format(f"{table}.{col}")

    def current_tags(self, entity_id: str) -> list:
        """(hash, key, value json text, oid) of the current tags of an entity, by key then value."""
        return self._read(self._sql(
            f"SELECT t.hash, t.key, t.value, t.oid FROM tags t WHERE t.entity_id = ? AND t.key != '' AND {CURRENT} "
            "ORDER BY t.key, t.value"), (entity_id,))

    def current_tags_of(self, entity_ids) -> dict:
        """entity id -> [(key, value json text)] of current tags, for many entities."""
        ids = list(dict.fromkeys(entity_ids))
        out: dict = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for eid, key, value in self._read(self._sql(
                    f"SELECT t.entity_id, t.key, t.value FROM tags t WHERE t.entity_id IN ({','.join('?' * len(chunk))})"
                    f" AND t.key != '' AND {CURRENT} ORDER BY t.key, t.value"), chunk):
                out.setdefault(eid, []).append((key, value))
        return out

    def tag_exists(self, tag_hash: bytes) -> bool:
        return bool(self._read(self._sql("SELECT 1 FROM tags WHERE hash = ? LIMIT 1"), (tag_hash,)))

    def tag_superseded(self, tag_hash: bytes) -> bool:
        """Whether a tag names this one as a parent (an update or a delete replaced it)."""
        return bool(self._read(self._sql("SELECT 1 FROM tag_parents WHERE parent = ? LIMIT 1"), (tag_hash,)))

    def tag_entity_type(self, entity_id: str) -> Optional[str]:
        rows = self._read(self._sql("SELECT entity_type FROM tags WHERE entity_id = ? LIMIT 1"), (entity_id,))
        return rows[0][0] if rows else None

    def tag_counts(self, pairs=(), by_value: bool = False) -> list:
        """Current tags counted: (key, entity_type, count), or with by_value
        (key, value, entity_type, count); pairs [(key, json or None)] all must match."""
        where, params = [f"t.key != ''", CURRENT], []
        for key, value in pairs:
            clause, p = _value_clause([(key, value)])
            where.append(f"({clause})")
            params += p
        cols = "t.key, t.value, t.entity_type" if by_value else "t.key, t.entity_type"
        return self._read(self._sql(f"SELECT {cols}, COUNT(*) FROM tags t WHERE {' AND '.join(where)} "
                                    f"GROUP BY {cols} ORDER BY {cols}"), params)

    def tag_filter_sql(self, kind: str, pairs, entity_sql: Optional[str] = None) -> tuple:
        """(SQL condition, params) true for rows of `kind` whose entity (or, with entity_sql,
        the entity that SQL names, e.g. the row's execution) has a current tag matching
        every (key, json or None) in pairs."""
        id_sql = entity_sql or self.entity_sql(kind)
        conds, params = [], []
        for key, value in pairs:
            clause, p = _value_clause([(key, value)])
            conds.append(f"EXISTS (SELECT 1 FROM tags t WHERE t.entity_id = {id_sql} AND ({clause}) AND {CURRENT})")
            params += p
        return " AND ".join(conds), params

    def find_call_node_in_context(self, task_hash: bytes, args_hash: bytes, context_hash: str):
        """Oid of the newest CallNode of (task_hash, args_hash) recorded under this context
        (its redun.context tag names the context's hash)."""
        key, p = self._eq("c.args_hash", args_hash)
        rows = self._read(self._sql(
            f"SELECT c.oid FROM call_nodes c JOIN tags t ON t.entity_id = {self.HEX.format('c.hash')} "
            f"WHERE c.task_hash = ? AND {key} AND t.key = 'redun.context' AND t.value = ? "
            "ORDER BY c.timestamp DESC LIMIT 1"),
            [task_hash, *p, f'"{context_hash}"'])
        return rows[0][0] if rows else None
