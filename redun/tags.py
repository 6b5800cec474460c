"""Tag keys and the text forms of tags (upstream's `redun.tags`).

A tag is a (key, value) pair on an execution, job, call node, task or value;
the value is any JSON value. On the command line a tag is `key=value` and the
value's type is inferred: `n=10` is an int, `x=1.5` a float, `ok=true` a bool,
`v=[1,2]` or `v={"a":1}` or `v="10"` JSON, an empty value None, anything else
a string. The same rules read `[tags]` in redun.ini and `redun run --tag`.
"""

import json
import re
from typing import Any


VERSION_KEY = "redun.version"
PROJECT_KEY = "project"
DOC_KEY = "doc"
USER_KEY = "user"
CONTEXT_KEY = "redun.context"

ANY_VALUE = object()  # `key` without `=value` in a filter: any value matches

_LITERALS = {"true": True, "false": False, "null": None}


def str2literal(value_str: str) -> Any:
    """The JSON literal true, false or null; ValueError otherwise."""
    try:
        return _LITERALS[value_str]
    except KeyError:
        raise ValueError(f"Unknown JSON literal: {value_str}") from None


def parse_tag_value(value_str: str) -> Any:
    """A tag value typed from its command-line text (see the module docstring)."""
    if not value_str:
        return None
    if value_str[0] in "[{\"":
        try:
            return json.loads(value_str)
        except json.JSONDecodeError as error:
            raise ValueError(f"Invalid tag value: {error}") from None
    for parse in (int, float, str2literal):
        try:
            return parse(value_str)
        except ValueError:
            pass
    return value_str


def parse_tag_key_value(key_value: str, value_required: bool = True) -> tuple:
    """(key, value) from `key=value`; `key` alone gives (key, ANY_VALUE) unless a value is required."""
    if not key_value:
        raise ValueError("key must be specified.")
    if "=" not in key_value:
        if value_required:
            raise ValueError(f"key=value pair expected: '{key_value}'")
        return key_value, ANY_VALUE
    key, value = key_value.split("=", 1)
    if not key:
        raise ValueError(f"key must be specified: '{key_value}'")
    return key, parse_tag_value(value)


def format_tag_value(value: Any) -> str:
    """A value as it would be typed: plain strings bare, everything else as JSON."""
    if isinstance(value, str) and not re.match(".*[ ,].*", value) and isinstance(parse_tag_value(value), str):
        return value
    return json.dumps(value, sort_keys=True)


def format_tag_key_value(key: str, value: Any, max_length: int = 50) -> str:
    from .utils import trim_string  # here, not at import: redun.utils costs `redun log` start-up

    return f"{trim_string(key, max_length)}={trim_string(format_tag_value(value), max_length)}"
