"""Console entry point (`redun`, `python -m redun`).

The plain forms of `redun log` are what people run most, often in shell loops:
`redun [-c DIR] log [ID]` (at most one id) and `redun [-c DIR] log --value` (one
listing flag: --exec, --job, --call-node, --task, --value or --file, nothing else).
They are served here without importing click, whose import is about a third of a
cold `redun log` and most of the time to a listing's first line. They run the very
same function as `redun log` through click (cli/log_show.show_log) and end the same
way (cli/guard.guarded). Every other command line goes to redun.cli.group.
"""

import sys

LISTING_FLAGS = {"--exec": "want_exec", "--job": "want_job", "--call-node": "want_call_node",
                 "--task": "want_task", "--value": "want_value", "--file": "want_file"}


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    plain = plain_log(args)
    if plain is not None:
        from .guard import guarded

        guarded(_plain_log, *plain)
        return
    from .group import main as cli_main

    cli_main(args)


def plain_log(args: list):
    """(config dir or None, ids, {listing flag: True}) for `[-c DIR] log [ID]` or
    `[-c DIR] log --FLAG` (one listing flag); None for any other command line."""
    config_dir = None
    if args[:1] in (["-c"], ["--config"]) and len(args) >= 2 and not args[1].startswith("-"):
        config_dir, args = args[1], args[2:]
    elif args[:1] and args[0].startswith("--config=") and len(args[0]) > len("--config="):
        config_dir, args = args[0][len("--config="):], args[1:]
    if not args or args[0] != "log" or len(args) > 2:
        return None
    rest = args[1:]
    if rest and rest[0] in LISTING_FLAGS:
        return config_dir, (), {LISTING_FLAGS[rest[0]]: True}
    if all(a == "-" or not a.startswith("-") for a in rest):  # `-` is an id: the newest execution
        return config_dir, tuple(rest), {}
    return None


def is_plain_log(args: list) -> bool:
    return plain_log(args) is not None


def _plain_log(config_dir, ids: tuple, flags: dict) -> None:
    from .context import CliContext
    from .log_show import show_log

    show_log(CliContext(config_dir=config_dir), ids, **flags)
