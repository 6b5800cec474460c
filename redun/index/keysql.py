"""SQL for lookups on the index's random ids and hashes (mixed into Queries).

The sqlite index keeps those lookups in indexes of the columns' 8-byte prefixes
(schema.PREFIX: a third of a full entry, so a run's random inserts dirty fewer pages), and
sqlite uses an expression index only for a query that names the indexed expression. So a
lookup is written as a test of the prefix and one of the full column: the prefix finds the
rows, the full column settles a prefix collision. PostgreSQL's index (redun/pg), which
inherits these queries over its own plain indexes, leaves PREFIXED False and gets plain SQL.
"""

from .schema import PREFIX, prefix


def prefix_range(hex_prefix: str) -> tuple:
    """(low, high) blobs such that low <= id < high exactly for ids whose hex starts
    with hex_prefix (lowercase hex). high is None when the prefix is all 'f'."""
    pad = "0" * (len(hex_prefix) % 2)
    low = bytes.fromhex(hex_prefix + pad)
    nxt = int(hex_prefix, 16) + 1
    if nxt >= 16 ** len(hex_prefix):
        return low, None
    return low, bytes.fromhex(format(nxt, f"0{len(hex_prefix)}x") + pad)


def _range_sql(col: str, rng: tuple) -> tuple:
    low, high = rng
    if high is None:
        return f"{col} >= ?", (low,)
    return f"{col} >= ? AND {col} < ?", (low, high)


class KeySql:
    PREFIXED = False  # the sqlite Index sets it (see the module docstring)

    def _eq(self, col: str, value) -> tuple:
        """(SQL, params): col = value."""
        if self.PREFIXED:
            return f"{prefix(col)} = ? AND {col} = ?", [value[:PREFIX], value]
        return f"{col} = ?", [value]

    def _in(self, col: str, values) -> tuple:
        """(SQL, params): col IN values (a non-empty list)."""
        values = list(values)
        marks = ",".join("?" * len(values))
        if self.PREFIXED:
            return (f"{prefix(col)} IN ({marks}) AND {col} IN ({marks})",
                    [v[:PREFIX] for v in values] + values)
        return f"{col} IN ({marks})", values

    def _in_select(self, col: str, sel: str, query: str, params) -> tuple:
        """(SQL, params): col IN (query), where query selects `{sel}` (written so) = sel. Prefixed,
        the query is asked twice: once for the prefixes (the index), once for the full values
        (a row-value IN of both would ask it once, but sqlite 3.40 then scans the table)."""
        full = f"{col} IN ({query.replace('{sel}', sel)})"
        if self.PREFIXED:
            return f"{prefix(col)} IN ({query.replace('{sel}', prefix(sel))}) AND {full}", list(params) * 2
        return full, list(params)

    def _on(self, a: str, b: str) -> str:
        """Join condition a = b."""
        return f"{prefix(a)} = {prefix(b)} AND {a} = {b}" if self.PREFIXED else f"{a} = {b}"

    def _range(self, col: str, rng: tuple) -> tuple:
        """(SQL, params): a hex prefix's exact range on col (prefix_range), plus the range it
        implies on col's indexed prefix (a prefix is monotonic in the full value)."""
        sql, params = _range_sql(col, rng)
        if not self.PREFIXED:
            return sql, params
        low, high = rng
        sql += f" AND {prefix(col)} >= ?"
        params += (low[:PREFIX],)
        if high is not None:
            sql += f" AND {prefix(col)} <= ?"
            params += (high[:PREFIX],)
        return sql, params
