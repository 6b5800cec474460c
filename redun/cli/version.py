"""`redun --check-version SPEC`: refuse to run unless this redun's version meets SPEC.

SPEC is one or more comma-separated comparisons, each `==V`, `>=V`, `<=V`, `>V`,
`<V` or a bare `V` (equal), V a dotted version of integers (upstream's syntax).
"""

import re

from ..errors import RedunError, UsageError


def parse_version(version: str) -> tuple:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        raise UsageError(f"Invalid version '{version}'") from None


def check_version(version: str, spec: str) -> bool:
    """True if version satisfies spec."""
    ok = True
    for part in spec.split(","):
        match = re.match(r"^(?P<cmp>==|>=|<=|>|<|)(?P<version>.*)$", part.strip())
        have, want = parse_version(version), parse_version(match["version"])
        cmp = match["cmp"]
        ok &= {"": have == want, "==": have == want, ">": have > want, ">=": have >= want,
               "<=": have <= want, "<": have < want}[cmp]
    return ok


def require_version(version: str, spec: str) -> None:
    if not check_version(version, spec):
        raise RedunError(f"redun version {version} does not meet requirement {spec}")
