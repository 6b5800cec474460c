"""Console entry point (`redun`, `python -m redun`).

The plain form `redun log [ID]` (no options, at most one id) is what people
run most, often in shell loops; it is served here without importing click,
whose import is about a third of a cold `redun log`. It runs the very same
function as `redun log` through click (cli/log_show.show_log) and ends
the same way (cli/guard.guarded). Every other command line goes to
redun.cli.group.
"""

import sys


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if is_plain_log(args):
        from .guard import guarded

        guarded(_plain_log, args[1:])
        return
    from .group import main as cli_main

    cli_main(args)


def is_plain_log(args: list) -> bool:
    """`log`, or `log ID` where ID is not an option (`-` is an id: the newest execution)."""
    return bool(args) and args[0] == "log" and len(args) <= 2 and all(a == "-" or not a.startswith("-") for a in args[1:])


def _plain_log(ids: list) -> None:
    from .context import CliContext
    from .log_show import show_log

    show_log(CliContext(), tuple(ids))
