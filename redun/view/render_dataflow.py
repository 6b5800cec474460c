"""The "Upstream dataflow" section of `redun log` (job, call node, value, file).

Walks from a value back to where it came from, in upstream's layout:

    result <-- <8b268a02> link(prog_path, o_files)        the call that returned it
      prog_path = <15636c87> 'prog2'                        and that call's arguments
    prog_path <-- argument of <7e0411a1> make_prog(...)     passed down from a caller
              <-- origin                                    (no further source)
    o_files <-- derives from                                built from several results
      compile_result   = <47541e69> File(path=lib.o, ...)

An argument's sources are the upstream call hashes recorded on the CallNode
argument; without any, it is traced up through the calling CallNodes whose
arguments hold the value (directly or as a subvalue). Parameter names come from
the task source (its compiled code); values are shown with Provenance.preview (no unpickling).
"""

from .query import Provenance


def param_names(source: str) -> list:
    """Positional parameter names of the first function `source` defines ([] if it does not
    compile). Read from the function's code object, so that a cold `redun log <job>` need
    not import `ast` and `textwrap` (docs/query-index.md, Cold start)."""
    import warnings  # already loaded by the interpreter

    try:
        with warnings.catch_warnings():  # SyntaxWarnings of the user's code are not ours to print
            warnings.simplefilter("ignore")
            module = compile(_dedent(source), "<task source>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError):
        return []
    # breadth first, as ast.walk would find the first def: a decorator's lambdas come before
    # the function and are skipped, a class body is looked into
    todo = [module]
    for code in todo:
        for const in code.co_consts:
            if isinstance(const, type(module)):
                if const.co_flags & _CO_OPTIMIZED and not const.co_name.startswith("<"):
                    return list(const.co_varnames[:const.co_argcount])
                todo.append(const)
    return []


_CO_OPTIMIZED = 0x1  # inspect.CO_OPTIMIZED: a function's code (not a module's or class body's)


def _dedent(text: str) -> str:
    """Remove the whitespace every non-blank line starts with (a method's source is indented)."""
    lines = text.splitlines(keepends=True)
    margins = [line[: len(line) - len(line.lstrip())] for line in lines if line.strip()]
    if not margins:
        return text
    common = margins[0]
    for margin in margins[1:]:
        while not margin.startswith(common):
            common = common[:-1]
    return "".join(line[len(common):] if line.strip() else line.lstrip(" \t") for line in lines)


class Dataflow:
    def __init__(self, prov: Provenance, out_line):
        self.prov = prov
        self.index = prov.index
        self.line = out_line  # line(text, indent)
        self.names: dict = {}  # display name -> value hash
        self._params: dict = {}
        self.execution_id = None  # callers are looked up in this execution first

    # -- helpers ---------------------------------------------------------------
    def _unique(self, base: str, value_hash: bytes) -> str:
        name, n = base, 1
        while name in self.names and self.names[name] != value_hash:
            n += 1
            name = f"{base}_{n}"
        self.names[name] = value_hash
        return name

    def _arg_names(self, call) -> list:
        task_oid = call.task
        names = self._params.get(task_oid)
        if names is None:
            try:
                names = param_names(self.prov.get(task_oid).source)
            except Exception:  # noqa: BLE001 - display only
                names = []
            self._params[task_oid] = names
        out = []
        for a in call.args:
            if a.key is not None:
                out.append(a.key)
            elif a.position is not None and a.position < len(names):
                out.append(names[a.position])
            else:
                out.append(f"arg{a.position}")
        return out

    def _signature(self, row: dict) -> str:
        call = self.prov.get(row["oid"])
        return f"<{row['hash'].hex()[:8]}> {row['task_name']}({', '.join(self._arg_names(call))})"

    def _holds(self, outer_oid: bytes, inner_oid: bytes) -> bool:
        return self.index.value_contains(outer_oid, inner_oid)

    # -- rendering ---------------------------------------------------------------
    def render(self, value_oid: bytes, name: str, producer: dict = None, indent: int = 0) -> None:
        val = self.index.value(value_oid)
        vhash = val["hash"] if val else self.prov.get(value_oid).hash
        self.line("Upstream dataflow:", indent)
        self.line()
        name = self._unique(name, vhash)
        self.line(f"{name} = {self.prov.preview(value_oid)}", indent + 2)
        self.line()
        if producer is not None:
            todo = [("call", name, producer)]
        else:
            todo = [("arg", name, (value_oid, vhash, (), None))]
        seen = set()
        while todo:  # depth first, children in argument order (upstream's layout)
            kind, name, item = todo.pop(0)
            key = (kind, name)
            if key in seen:
                continue
            seen.add(key)
            if kind == "call" and self.execution_id is None:
                self.execution_id = self._newest_execution(item["oid"])
            todo[:0] = self._node(kind, name, item, indent + 2)

    def _newest_execution(self, call_oid: bytes):
        return self.index.newest_execution_of_call(call_oid)

    def _callers(self, call_oid: bytes) -> list:
        """CallNodes that called this one: within the current execution when it has any."""
        if self.execution_id is not None:
            rows = self.index.call_callers_in_execution(call_oid, self.execution_id)
            if rows:
                return rows
        return self.index.call_parents(call_oid)

    def _node(self, kind: str, name: str, item, indent: int) -> list:
        if kind == "call":
            return self._call_node(name, item, indent)
        return self._arg_node(name, item, indent)

    def _call_node(self, name: str, row: dict, indent: int) -> list:
        call = self.prov.get(row["oid"])
        self.line(f"{name} <-- {self._signature(row)}", indent)
        names = [self._unique(n, a.value_hash) for n, a in zip(self._arg_names(call), call.args)]
        width = max((len(n) for n in names), default=0)
        for n, a in zip(names, call.args):
            self.line(f"{n.ljust(width)} = <{a.value_hash.hex()[:8]}> {self.prov.preview(a.value)}", indent + 2)
        self.line()
        return [("arg", n, (a.value, a.value_hash, a.upstream, row)) for n, a in zip(names, call.args)]

    def _arg_node(self, name: str, item, indent: int) -> list:
        value_oid, value_hash, upstream, call_row = item
        pad = " " * len(name)
        if upstream:
            rows = [r for r in (self.index.call_node_by_hash(h) for h in upstream) if r is not None]
            if len(rows) == 1 and rows[0]["value_hash"] == value_hash:
                return [("call", name, rows[0])]
            self.line(f"{name} <-- derives from", indent)
            rows.sort(key=lambda r: r["value_hash"])
            names = [self._unique(f"{r['task_name'].rsplit('.', 1)[-1]}_result", r["value_hash"]) for r in rows]
            width = max((len(n) for n in names), default=0)
            for n, r in zip(names, rows):
                self.line(f"{n.ljust(width)} = <{r['value_hash'].hex()[:8]}> {self.prov.preview(r['value_oid'])}",
                          indent + 2)
            self.line()
            return [("call", n, r) for n, r in zip(names, rows)]
        if call_row is None:  # a value asked about directly: start from its innermost producer
            producers = self.index.producers(value_oid, direct=True)
            if producers and producers[0]["call_node"] is not None:
                newest = producers[0]
                same = [j for j in producers if j["execution_id"] == newest["execution_id"] and j["call_node"]]
                job = min(same, key=lambda j: j["end_time"] or 0)
                row = self.index.call_node(job["call_node"])
                if row is not None:
                    return [("call", name, row)]
        first = True
        current = call_row
        hops = 0
        while current is not None and hops < 50:
            hops += 1
            holder = None
            for parent in self._callers(current["oid"]):
                pcall = self.prov.get(parent["oid"])
                if any(self._holds(a.value, value_oid) for a in pcall.args):
                    holder = parent
                    break
            if holder is None:
                break
            self.line(f"{name if first else pad} <-- argument of {self._signature(holder)}", indent)
            first = False
            current = holder
        self.line(f"{name if first else pad} <-- origin", indent)
        self.line()
        return []
