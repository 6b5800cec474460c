"""The WHERE clauses of `redun log` listings that follow records across tables (mixed into
Index and PgIndex): jobs by the values they took or returned, records by their execution's
tags. Every test of an id column goes through keysql (the index's lookup indexes), which is
why they are built here and not by their caller (cli/log_lists.py)."""


class FilterQueries:
    def value_filter_sql(self, field: str, hashes: list) -> tuple:
        """(SQL, params) matching jobs whose result (field "results") or an argument ("args")
        is one of these values, or a value holding one of them (one level of subvalues, as
        upstream)."""
        given, p_given = self._in("c.hash", hashes)
        held = (f"SELECT {{sel}} FROM vals v JOIN subvalues s ON {self._on('s.parent', 'v.oid')} "
                f"JOIN vals c ON {self._on('c.oid', 's.child')} WHERE {given}")
        table, col = ("call_nodes", "oid") if field == "results" else ("arg_uses", "call_oid")
        direct, p_direct = self._in("value_hash", hashes)
        inner, p_inner = self._in_select("value_hash", "v.hash", held, p_given)
        calls = (f"SELECT {{sel}} FROM (SELECT {col} FROM {table} WHERE {direct} "
                 f"UNION SELECT {col} FROM {table} WHERE {inner}) AS u")
        return self._in_select("call_node", col, calls, p_direct + p_inner)

    def exec_tag_filter_sql(self, kind: str, pairs: list) -> tuple:
        """(SQL, params) matching the records of `kind` that belong to executions with these
        tags: the executions, their jobs, call nodes, tasks, and the values their call nodes
        took or returned (and the values inside those)."""
        if kind == "execution":
            return self.tag_filter_sql("execution", pairs)
        cond, params = self.tag_filter_sql("execution", pairs, entity_sql=self.uuid_sql("j.execution_id"))
        if kind == "job":
            return f"id IN (SELECT j.id FROM jobs j WHERE {cond})", params
        if kind == "call_node":
            return self._in_select("oid", "j.call_node", f"SELECT {{sel}} FROM jobs j WHERE {cond}", params)
        if kind == "task":
            return f"hash IN (SELECT j.task_hash FROM jobs j WHERE {cond})", params
        used = (f"SELECT c.value_oid FROM call_nodes c JOIN jobs j ON {self._on('j.call_node', 'c.oid')} "
                f"WHERE {cond} UNION SELECT v.oid FROM arg_uses a JOIN jobs j "
                f"ON {self._on('j.call_node', 'a.call_oid')} JOIN vals v ON {self._on('v.hash', 'a.value_hash')} "
                f"WHERE {cond}")
        return self._in_select("oid", "o", f"WITH RECURSIVE used(o) AS ({used} UNION SELECT s.child "
                               "FROM subvalues s JOIN used ON s.parent = used.o) SELECT {sel} FROM used",
                               params * 2)
