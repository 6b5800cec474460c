"""One error tree. The CLI turns any RedunError into a message and its exit code."""


class RedunError(Exception):
    """Base of every error we raise on purpose. Never shown with a traceback."""

    exit_code = 1


class UsageError(RedunError):
    """The user asked for something malformed (bad id, bad option value)."""

    exit_code = 2


class NotFoundError(RedunError):
    """No record, object, ref or repo by that name."""


class AmbiguousPrefixError(RedunError):
    """A prefix matched more than one id; `candidates` lists them."""

    def __init__(self, prefix: str, candidates: list[str], what: str = "object"):
        self.prefix = prefix
        self.candidates = candidates
        shown = "\n".join(f"  {c}" for c in candidates[:20])
        more = f"\n  ... and {len(candidates) - 20} more" if len(candidates) > 20 else ""
        super().__init__(
            f"Prefix '{prefix}' is ambiguous: it matches {len(candidates)} {what}s:\n"
            f"{shown}{more}\nUse a longer prefix."
        )


class InvalidIdError(UsageError):
    """A string that should be a hex id or uuid is not one. Checked before any path is built."""


class CorruptObjectError(RedunError):
    """Stored bytes do not hash to their id, or do not decode. Names the object and where it lives."""


class DecodeError(CorruptObjectError):
    """Bytes are not a valid canonical record encoding."""


class RepoFormatError(RedunError):
    """The repository's FORMAT is missing, unreadable, or of a major version we do not know."""


class RefConflictError(RedunError):
    """A compare-and-swap on a ref lost the race: the ref no longer holds the expected value."""


class ConfigError(RedunError):
    """redun.ini is unreadable or names something that does not exist."""


class RecordImportError(RedunError):
    """An import stream has a bad line; the message names the line number and the problem."""


class SyncError(RedunError):
    """A push/pull failed; the remote was left valid."""


class WorkflowError(RedunError):
    """A workflow script or task cannot be loaded or called as asked."""


class ValueTooLargeError(RedunError):
    """A serialized value exceeds [backend] max_value_size."""


class GcError(RedunError):
    """gc or bundle refused to proceed (another gc running, unreadable object); nothing was deleted."""


class StorageError(RedunError):
    """A store outside the repository (S3, a value-store location) cannot be used:
    it is unreachable, missing or refuses access. The message names it and what to check."""


class MissingExtraError(RedunError):
    """A command needs an optional dependency that is not installed (the message says how)."""


class UntrustedValueError(RedunError):
    """A cached value is a pickle that came from elsewhere (pull, import, bundle) and its
    source is not trusted: it is not unpickled (repo/trust.py); the job reruns instead."""
