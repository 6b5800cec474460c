"""`--format text|json` for the commands that report a result (fsck, gc, push,
pull, db info).

Each such command builds one result object; a text renderer and a JSON renderer
(beside the command) only format it. The JSON is one object on stdout, its keys
listed in the command's --help; keys are only ever added, never renamed or
removed, so scripts can rely on them.
"""

import json

import click


def format_option(f):
    return click.option(
        "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
        help="Output format; json: one JSON object on stdout (keys: see above).",
    )(f)


def dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def echo_json(data) -> None:
    click.echo(dumps(data))


class JsonListStream:
    """Writes `{"<key>": [item, item, ...], <rest>}` with the items streamed as
    they come (so a long list is never held in memory) and the rest of the
    object added at the end. Nothing is written before the first item, so a
    command that fails early leaves stdout empty."""

    def __init__(self, key: str, write=None):
        self.key = key
        self.write = write or (lambda text: click.echo(text, nl=False))
        self.count = 0

    def item(self, data) -> None:
        head = "{\n  " + json.dumps(self.key) + ": [" if not self.count else ","
        self.write(head + "\n    " + json.dumps(data, ensure_ascii=False))
        self.count += 1

    def close(self, rest: dict) -> None:
        if not self.count:
            echo = {self.key: []}
            echo.update(rest)
            self.write(dumps(echo) + "\n")
            return
        body = dumps(rest)[1:]  # "\n  ...\n}" of the rest, without its "{"
        self.write("\n  ]" + ("," + body if rest else "\n}") + "\n")
