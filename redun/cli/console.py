"""`redun console`: browse history in a terminal UI (Textual, an optional extra).

Textual is imported here only, when the command runs, so no other command pays
for it (nor needs it installed)."""

import sys

import click

from ..errors import AmbiguousPrefixError, MissingExtraError, UsageError

INSTALL_HINT = ("redun console needs Textual, an optional dependency. Install it with "
                "`pip install 'redun[console]'` (from a clone of redun: `pip install -e '.[console]'`).")


def require_textual() -> None:
    try:
        import textual  # noqa: F401
    except ImportError:
        raise MissingExtraError(INSTALL_HINT) from None


@click.command("console")
@click.argument("target", required=False)
@click.pass_obj
def console_command(obj, target):
    """Browse executions, jobs, values, tasks and file lineage in a terminal UI.

    Opens on the executions list (newest first). TARGET opens a record over it:
    an execution, job, call node, task or value id/hash prefix, a task name, '-'
    (newest execution), '~N', or a recorded file path (its lineage). Keys are
    shown at the bottom of each screen: enter opens, esc goes back, / filters,
    g jumps to an id, q quits. Reads only: the repository is never written.
    Needs the optional extra: pip install 'redun[console]'.
    """
    require_textual()
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("redun console is interactive: run it with a terminal on stdin and stdout "
                         "(for scripts, use `redun log` or `redun log --format json`).")
    from ..view.browse import Browser
    from ..view.browse_models import Choices
    from ..view.console.app import ConsoleApp
    from ..view.query import Provenance

    repo = obj.open_repo()
    browser = Browser(Provenance(repo))
    start = browser.jump(target) if target else None
    if isinstance(start, Choices):
        raise AmbiguousPrefixError(target, [d for d, _ in start.options], what="record")
    ConsoleApp(browser, obj.repo_location(), start).run()
