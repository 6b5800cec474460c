"""`redun repo add|list|remove`: name other repositories in the local redun.ini.

Like upstream, `add` appends `[repos.NAME]` / `config_dir = PATH` to the
local redun.ini (comments kept). Unlike upstream, `remove` really removes
that section, leaving every other line, comments included, as it was.
"""

import os
import re

import click

from ..config import CONFIG_FILENAME, Config
from ..errors import ConfigError, NotFoundError, UsageError
from ..objects.ids import tmp_token

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,99}\Z")
_HEADER = re.compile(r"\s*\[([^\]]*)\]\s*(?:[#;].*)?\Z")


def _ini_path(obj) -> str:
    return os.path.join(obj.local_config_dir, CONFIG_FILENAME)


def _repos(obj) -> dict:
    config = obj.local_config()
    out = {"default": obj.local_config_dir}
    for name in config.subsections("repos"):
        loc = config.get(f"repos.{name}", "config_dir")
        if loc and name != "default":
            out[name] = loc
    return out


def remove_section(text: str, section: str):
    """text without the [section] block, or None if it has no such section.

    The block runs from its header to the next header; comment lines right
    above the next header belong to that next section and are kept, and so
    does the blank line that separated the removed block from what follows."""
    lines = text.splitlines(keepends=True)

    def is_header(line):
        return _HEADER.match(line.rstrip("\r\n"))

    def is_comment(line):
        return line.lstrip().startswith(("#", ";"))

    start = next((i for i, ln in enumerate(lines) if is_header(ln) and is_header(ln).group(1).strip() == section), None)
    if start is None:
        return None
    end = next((j for j in range(start + 1, len(lines)) if is_header(lines[j])), len(lines))
    kept = []
    if end < len(lines):
        # comments right above the next header introduce that section: keep them
        k = end
        while k > start + 1 and (is_comment(lines[k - 1]) or not lines[k - 1].strip()):
            k -= 1
        while k < end and not is_comment(lines[k]):
            k += 1
        kept = lines[k:end]
    head = lines[:start]
    if end == len(lines) and head and not head[-1].strip():
        head = head[:-1]  # the blank line `repo add` put before the header
    return "".join(head + kept + lines[end:])


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{tmp_token()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@click.group("repo")
def repo_group():
    """Define additional repositories (push/pull targets, `--repo NAME`)."""


@repo_group.command("add")
@click.argument("name")
@click.argument("config_dir")
@click.pass_obj
def repo_add(obj, name, config_dir):
    """Add repository NAME at CONFIG_DIR (a redun config dir or s3://bucket/prefix)."""
    if name == "default":
        raise ConfigError("Repositories may not be named 'default'")
    if not _NAME.match(name):
        raise UsageError(f"Not a repository name: {name!r} (letters, digits, '_' and '-').")
    repos = _repos(obj)
    if name in repos:
        raise ConfigError(f"Repository '{name}' already configured")
    if "://" in config_dir:
        if not config_dir.startswith("s3://") or len(config_dir) <= len("s3://"):
            raise UsageError(f"Unsupported repository location {config_dir!r}: use a directory or s3://bucket/prefix.")
        location = config_dir
    else:
        location = os.path.abspath(config_dir)
        ini = os.path.join(location, CONFIG_FILENAME)
        if not os.path.exists(ini):
            raise NotFoundError(
                f"Config file {ini} not found. Create the repository first: redun --config {location} init"
            )
        Config.load(location)  # must parse
    for other, loc in sorted(repos.items()):
        if loc == location:
            click.echo(f"Existing repository '{other}' also uses config at {location}")
    local = obj.local_config_dir
    if not os.path.isdir(local):
        raise NotFoundError(f"No redun repository at {local}. Run `redun init` to create one.")
    with open(_ini_path(obj), "a") as f:
        f.write(f"\n[repos.{name}]\nconfig_dir = {location}\n")


@repo_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format; json: one object per line, {\"name\": ..., \"location\": ...}.")
@click.pass_obj
def repo_list(obj, fmt):
    """List the repositories this config knows, default included."""
    repos = sorted(_repos(obj).items())
    if fmt == "json":
        import json

        for name, loc in repos:
            click.echo(json.dumps({"name": name, "location": loc}))
        return
    click.echo("Repositories:")
    for name, loc in repos:
        click.echo(f"  {name}: {loc}")


@repo_group.command("remove")
@click.argument("name")
@click.pass_obj
def repo_remove(obj, name):
    """Remove repository NAME's section from the local redun.ini."""
    if name == "default":
        raise ConfigError("The 'default' repository is this config directory; it cannot be removed.")
    path = _ini_path(obj)
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    new = remove_section(text, f"repos.{name}") if name in _repos(obj) else None
    if new is None:
        raise NotFoundError(f"Repository '{name}' is not in the config")
    _write_atomic(path, new)
    click.echo(f"Removed repository '{name}' (section [repos.{name}] of {path}).")
