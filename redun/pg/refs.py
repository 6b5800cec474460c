"""PgRefs: the RefStore contract (refs/contract.py) over one PostgreSQL table.

Compare-and-swap is one transaction: the ref's row is locked (SELECT ... FOR UPDATE),
compared with `expected`, then written. Creating a name also takes a transaction-scoped
advisory lock, so two writers cannot create "a" and "a/b" at the same time (a name cannot
be both a ref and a prefix of another); updates of existing refs never take it.
Names sort bytewise (COLLATE "C"), so a prefix is a range: "p" <= name < "p" + 1.
"""

from typing import Iterator, Optional

from ..errors import InvalidIdError, RefConflictError
from ..refs.contract import ANY, RefStore, check_ref_name, check_ref_value, conflict_error

_NAMES_LOCK = "SELECT pg_advisory_xact_lock(hashtext('redun_repo ref names'))"


def _upper(prefix: str) -> Optional[str]:
    """The least string greater than every string starting with prefix (None: no bound)."""
    while prefix and ord(prefix[-1]) >= 0x10FFFF:
        prefix = prefix[:-1]
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else None


def _clash(conn, name: str) -> None:
    parts = name.split("/")
    ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
    if ancestors:
        row = conn.execute("SELECT name FROM refs WHERE name = ANY(%s) LIMIT 1", (ancestors,)).fetchone()
        if row:
            raise InvalidIdError(f"ref '{name}' clashes with existing ref '{row[0]}'")
    row = conn.execute("SELECT name FROM refs WHERE name >= %s AND name < %s LIMIT 1",
                       (name + "/", _upper(name + "/"))).fetchone()
    if row:
        raise InvalidIdError(f"ref '{name}' clashes with existing ref '{row[0]}'")


class PgRefs(RefStore):
    def __init__(self, db):
        self.db = db

    def get(self, name: str) -> Optional[bytes]:
        rows = self.db.read("SELECT oid FROM refs WHERE name=%s", (check_ref_name(name),))
        return rows[0][0] if rows else None

    def _set_locked(self, conn, name: str, new: bytes, expected, current_known=False, current=None) -> None:
        if not current_known:
            row = conn.execute("SELECT oid FROM refs WHERE name=%s FOR UPDATE", (name,)).fetchone()
            current = row[0] if row else None
        if current is None:
            conn.execute(_NAMES_LOCK)
            row = conn.execute("SELECT oid FROM refs WHERE name=%s FOR UPDATE", (name,)).fetchone()
            current = row[0] if row else None  # created meanwhile by a writer we waited for
        if expected is not ANY and current != expected:
            raise conflict_error(name, expected, current)
        if current is None:
            _clash(conn, name)
            conn.execute("INSERT INTO refs (name, oid) VALUES (%s, %s)", (name, new))
        elif current != new:
            conn.execute("UPDATE refs SET oid=%s WHERE name=%s", (new, name))

    def set(self, name: str, new: bytes, expected=ANY) -> None:
        check_ref_name(name)
        check_ref_value(name, new)
        if expected is not ANY and expected is not None:
            check_ref_value(name, expected)
        self.db.transaction(lambda conn: self._set_locked(conn, name, new, expected))

    def delete(self, name: str, expected=ANY) -> None:
        check_ref_name(name)

        def tx(conn):
            row = conn.execute("SELECT oid FROM refs WHERE name=%s FOR UPDATE", (name,)).fetchone()
            current = row[0] if row else None
            if expected is not ANY and current != expected:
                raise conflict_error(name, expected, current)
            if current is not None:
                conn.execute("DELETE FROM refs WHERE name=%s", (name,))

        self.db.transaction(tx)

    def set_many(self, updates: dict) -> list:
        """Every CAS in one transaction: existing rows locked in name order, conflicts
        reported and left alone, the rest written."""
        for name, (expected, new) in updates.items():
            check_ref_name(name)
            check_ref_value(name, new)
            if expected is not ANY and expected is not None:
                check_ref_value(name, expected)
        names = sorted(updates)
        if not names:
            return []

        def tx(conn):
            current = dict(conn.execute(
                "SELECT name, oid FROM refs WHERE name = ANY(%s) ORDER BY name FOR UPDATE", (names,)).fetchall())
            if any(n not in current for n in names):
                conn.execute(_NAMES_LOCK)
                current = dict(conn.execute(
                    "SELECT name, oid FROM refs WHERE name = ANY(%s) ORDER BY name FOR UPDATE", (names,)).fetchall())
            conflicts = []
            for name in names:
                expected, new = updates[name]
                cur = current.get(name)
                if expected is not ANY and cur != expected:
                    conflicts.append(name)
                    continue
                self._set_locked(conn, name, new, ANY, current_known=True, current=cur)
            return conflicts

        return self.db.transaction(tx)

    def list(self, prefix: str = "") -> Iterator[tuple]:
        last = None
        while True:
            sql, params = "SELECT name, oid FROM refs WHERE name >= %s", [prefix]
            upper = _upper(prefix)
            if upper is not None:
                sql += " AND name < %s"
                params.append(upper)
            if last is not None:
                sql += " AND name > %s"
                params.append(last)
            rows = self.db.read(sql + " ORDER BY name LIMIT 10000", params)
            yield from rows
            if len(rows) < 10000:
                return
            last = rows[-1][0]

    def count(self, prefix: str = "") -> int:
        upper = _upper(prefix)
        if upper is None:
            return self.db.read("SELECT count(*) FROM refs WHERE name >= %s", (prefix,))[0][0]
        return self.db.read("SELECT count(*) FROM refs WHERE name >= %s AND name < %s", (prefix, upper))[0][0]
