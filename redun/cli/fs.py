"""`redun fs`: list the supported file systems; `redun fs cp SRC DST` copies across them."""

import click

from ..errors import RedunError


@click.group("fs", invoke_without_command=True)
@click.pass_context
def fs_group(ctx):
    """Filesystem commands (local, s3, gs, http, etc).

    Without a subcommand, list the supported file systems (protocols)."""
    if ctx.invoked_subcommand is None:
        from ..fs import list_filesystems

        click.echo("Supported filesystems:")
        for name in sorted(cls.name for cls in list_filesystems()):
            click.echo(f"  {name}")


@fs_group.command("cp")
@click.option("-r", "--recursive", is_flag=True, help="Copy a directory tree (what Dir.shell_copy_to runs).")
@click.argument("src_path")
@click.argument("dest_path")
def fs_copy_command(src_path, dest_path, recursive):
    """Copy files across filesystems.

    SRC_PATH and DEST_PATH are paths or URLs (s3://, http(s)://, gs://, ...);
    '-' is stdin as SRC_PATH and stdout as DEST_PATH. Data streams through in
    chunks; local<->S3 copies use multipart transfers."""
    from ..fs import copy_file

    src = None if src_path == "-" else src_path
    dest = None if dest_path == "-" else dest_path
    if recursive and (src is None or dest is None):
        raise click.UsageError("--recursive needs two paths, not stdin or stdout.")
    try:
        copy_file(src, dest, recursive=recursive)
    except RedunError:
        raise
    except OSError as e:
        raise RedunError(f"Cannot copy {src_path} to {dest_path}: {e}") from None
