"""`redun export` and `redun import`: upstream-compatible JSON lines."""

import os
import sys

import click

from ..errors import RedunError


def _counting(write, progress):
    """Wrap write() to tell `progress` how many lines have been written (export)."""
    from ..objects.progress import NO_PROGRESS

    if progress is NO_PROGRESS:
        return write
    count = [0]

    def counted(text: str) -> None:
        write(text)
        count[0] += text.count("\n")
        progress.update(count[0])

    return counted


@click.command("export")
@click.option("-f", "--file", "path", default="-", show_default=True,
              help="Write to this file instead of stdout.")
@click.option("-k", "--keep-going", is_flag=True,
              help="Skip executions that cannot be read (unreadable ref, missing or damaged objects), "
                   "naming each on stderr; export the rest and exit 1.")
@click.argument("ids", nargs=-1)
@click.pass_obj
def export_command(obj, path, keep_going, ids):
    """Export records as JSON lines in upstream redun's format.

    IDS are roots: execution or job ids, call node, task or value hashes, or
    object ids (unique prefixes are fine). Without IDS every execution is
    exported, newest first. Records are written children first (each
    Execution line follows everything it needs), in upstream's line format.
    """
    from ..exchange.exporter import export_lines
    from .progress import is_terminal, progress_on_stderr

    repo = obj.open_repo()
    skipped = []

    def on_error(what, error):
        skipped.append(what)
        click.echo(f"skipped {what}: {error}", err=True)

    on_error = on_error if keep_going else None
    # exported lines going to the terminal are their own progress display
    with progress_on_stderr("export", quiet=path == "-" and is_terminal(sys.stdout)) as progress:
        progress.phase("writing lines", unit="lines")
        if path == "-":
            export_lines(repo, _counting(sys.stdout.write, progress), list(ids), on_error)
            sys.stdout.flush()  # raise BrokenPipeError here, where main() turns it into a quiet exit
            if skipped:
                raise SystemExit(1)
            return
        tmp = f"{path}.tmp-{os.getpid()}"  # a failed export never leaves a truncated FILE
        try:
            out = open(tmp, "w", encoding="ascii")
        except OSError as e:
            raise RedunError(f"Cannot write {path}: {e.strerror}") from None
        try:
            with out:
                export_lines(repo, _counting(out.write, progress), list(ids), on_error)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    if skipped:
        raise SystemExit(1)


@click.command("import")
@click.option("-f", "--file", "path", default="-", show_default=True,
              help="Read from this file instead of stdin.")
@click.option("-k", "--keep-going", is_flag=True,
              help="Skip bad lines (and records that depend on them), import the rest, exit 1.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print the summary line.")
@click.option("--trust", is_flag=True,
              help="Let `redun run` reuse the imported pickled values as cached results (by default "
                   "only plain values from an import are reused: a pickle can run code).")
@click.pass_obj
def import_command(obj, path, keep_going, quiet, trust):
    """Import records from JSON lines (upstream redun's export format).

    All or nothing: a malformed line or a reference to a record that is in
    neither the input nor the repository is reported with its line number
    and nothing is imported (unless --keep-going). Records already present
    are skipped and counted; importing twice is harmless.
    """
    from ..exchange.importer import import_lines
    from ..exchange.lines import LineError
    from .progress import progress_on_stderr

    repo = obj.open_repo()
    if path == "-":
        stream = sys.stdin.buffer
        if sys.stdin.isatty():
            click.echo("Reading JSON lines from stdin (end with Ctrl-D; or use -f FILE)...", err=True)
    else:
        try:
            stream = open(path, "rb")
        except OSError as e:
            raise RedunError(f"Cannot read {path}: {e.strerror}") from None
    typing = path == "-" and sys.stdin.isatty()  # a status line would overwrite what is typed
    try:
        with progress_on_stderr("import", quiet=typing) as progress:
            source = None if trust else ("stdin" if path == "-" else os.path.abspath(path))
            summary = import_lines(repo, stream, keep_going=keep_going, progress=progress, source=source)
    except LineError as e:
        problems = getattr(e, "all", None)
        if not problems:
            raise
        for err in problems[:20]:
            click.echo(f"redun: error: {err}", err=True)
        if len(problems) > 20:
            click.echo(f"redun: ... and {len(problems) - 20} more problems", err=True)
        click.echo("Nothing was imported (--keep-going imports the valid records).", err=True)
        sys.exit(e.exit_code)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    shown = summary.errors[:20]
    for err in shown:
        click.echo(f"redun: error: {err}", err=True)
    if len(summary.errors) > len(shown):
        click.echo(f"redun: ... and {len(summary.errors) - len(shown)} more errors", err=True)
    if not quiet:
        click.echo(summary.line(), err=True)
    if summary.errors:
        sys.exit(1)
