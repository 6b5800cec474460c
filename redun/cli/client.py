"""RedunClient: the redun command line, run in this process (upstream's `redun.cli.RedunClient`).

    client = RedunClient(stdout=io.StringIO())
    result = client.execute(["redun", "run", "workflow.py", "main", "--x", "1"])
    client.execute(["redun", "log", "--job"])

`execute(argv)` takes a whole command line (argv[0] is the program name, as in sys.argv)
and returns what the command returns: `redun run` its task's result, others None.
What the command prints goes to the client's stdout and stderr (the "[redun] " lines of a
run too). A command that fails raises: a RedunError for redun's own errors (with the
message the CLI would print), SystemExit for a usage error (argparse/click exit 2) or a
failing task (exit 1; the task's traceback is printed to stderr first).
"""

import contextlib
import sys
from typing import IO, Any, Optional


class RedunClient:
    """Command-line client for running redun commands in-process (tests, notebooks)."""

    def __init__(self, stdout: Optional[IO] = None, stderr: Optional[IO] = None):
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr

    def execute(self, argv: Optional[list] = None) -> Any:
        """Run one command line; argv defaults to sys.argv."""
        import click

        from .group import cli

        if argv is None:
            argv = sys.argv
        args = list(argv[1:])
        with contextlib.redirect_stdout(self.stdout), contextlib.redirect_stderr(self.stderr):
            try:
                with cli.make_context("redun", args) as ctx:
                    return cli.invoke(ctx)
            except click.exceptions.Exit as e:
                if e.exit_code:
                    raise SystemExit(e.exit_code) from None
                return None
            except click.ClickException as e:
                e.show()
                raise SystemExit(e.exit_code) from None
            finally:
                self.stdout.flush()
                self.stderr.flush()
