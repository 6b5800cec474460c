"""`redun repl`: a Python console for querying history (not a debugger).

In scope: query(text), execs (newest first), last_exec, repo. `query` takes
anything `redun log` takes (prefix, task name, '-', '~N', file path) and returns
a lazy view (redun.view.query), a (File, Job, kind) tuple for a path, or None.
Input piped on stdin runs without prompts and exits 0 at EOF; a lone `c`,
`continue`, `q`, `quit` or `exit` line also ends the session (so scripts
written for upstream's pdb-based repl still end cleanly).
"""

import code
import os
import sys

import click

_END_WORDS = {"c", "cont", "continue", "q", "quit", "exit"}


def make_namespace(repo) -> dict:
    from ..errors import NotFoundError
    from ..view.query import ExecutionView, FileView, JobView, Provenance, query_one

    prov = Provenance(repo)

    def query(text: str):
        """The record TEXT names (id/hash prefix, task name, '-', '~N', file path), or None."""
        if not isinstance(text, str):
            raise TypeError("query() takes a string: an id or hash prefix, a task name, '-', '~N' or a path")
        if (os.path.exists(text) or ":" in text) and text not in ("-",):
            found = prov.find_file(text)
            if found is not None:
                val, job, kind = found
                return (FileView(prov, val), JobView(prov, job) if job else None, kind)
        try:
            return query_one(prov, text)
        except NotFoundError:
            return None

    execs = [ExecutionView(prov, row) for row in prov.index.executions()]
    return {
        "query": query,
        "execs": execs,
        "last_exec": execs[0] if execs else None,
        "repo": repo,
        "index": prov.index,
    }


class _Console(code.InteractiveConsole):
    def __init__(self, namespace: dict, piped: bool):
        super().__init__(namespace, filename="<redun repl>")
        self.piped = piped

    def raw_input(self, prompt=""):
        if self.piped:
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            return line.rstrip("\n")
        return super().raw_input(prompt)


def run_console(namespace: dict, piped: bool, banner: str) -> None:
    console = _Console(namespace, piped)
    if piped:
        sys.ps1, sys.ps2 = "", ""
    else:
        sys.ps1, sys.ps2 = "(redun) ", "....... "
    more = False
    if not piped:
        console.write(banner + "\n")
    while True:
        try:
            line = console.raw_input(sys.ps2 if more else sys.ps1)
        except EOFError:
            if not piped:
                console.write("\n")
            break
        except KeyboardInterrupt:
            console.write("\nKeyboardInterrupt\n")
            console.resetbuffer()
            more = False
            continue
        if not more and line.strip() in _END_WORDS and line.strip() not in namespace:
            break
        more = console.push(line)


@click.command("repl")
@click.argument("record_id", required=False)
@click.pass_obj
def repl_command(obj, record_id):
    """Get a Python console for querying history.

    query('<prefix>') returns executions, jobs, call nodes, tasks and values
    with .value, .arguments, .parents, .children, .task, .task.source, .jobs.
    With RECORD_ID, `obj` is bound to query(RECORD_ID) and printed.
    """
    repo = obj.open_repo()
    namespace = make_namespace(repo)
    if record_id:
        namespace["obj"] = namespace["query"](record_id)
        print(repr(namespace["obj"]))
    piped = not sys.stdin.isatty()
    banner = ("redun repl: query('<id prefix | task name | path>'), execs, last_exec, repo. "
              "Ctrl-D to leave.")
    run_console(namespace, piped, banner)
