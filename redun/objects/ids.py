"""Object ids and the other binary ids records carry, with strict validation.

Every id that arrives as text is validated here before it is used to build a
path or a query: lowercase hex of the right length, nothing else.
"""

import os
import re

import blake3

from ..errors import InvalidIdError

OID_LEN = 32  # blake3-256
HASH_LEN = 20  # upstream redun hashes: 40 hex chars
UUID_LEN = 16

_HEX = re.compile(r"[0-9a-f]+\Z")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def object_id(canonical: bytes) -> bytes:
    """The id of an object: blake3-256 of its canonical (uncompressed) encoding."""
    return blake3.blake3(canonical).digest()


def object_ids(canonicals) -> list:
    """object_id of each, in order: one hasher reset between objects, as building one per
    object costs more than hashing a record (a pull's checks hash every entry)."""
    hasher = blake3.blake3()
    update, digest, reset = hasher.update, hasher.digest, hasher.reset
    out = []
    append = out.append
    for data in canonicals:
        update(data)
        append(digest())
        reset()
    return out


def is_hex(text: str) -> bool:
    return bool(_HEX.match(text))


def value_hash_bytes(text: str) -> bytes:
    """The 20 bytes a record holds for a value hash. Upstream's hashes are 40 lowercase hex
    digits (those bytes); a user's Value may hash to any text, which is then kept in the Value
    record's `hash_text` and stands here as the first 20 bytes of blake3("redun value hash:" +
    text), so every record refers to it the same way."""
    if len(text) == 2 * HASH_LEN:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
        if raw is not None and raw.hex() == text:  # exactly 40 lowercase hex digits (per job: no regex)
            return raw
    return blake3.blake3(b"redun value hash:" + text.encode("utf-8")).digest()[:HASH_LEN]


def is_hash_hex(text: str) -> bool:
    """True if text is an upstream-style hash (40 lowercase hex digits)."""
    return len(text) == 2 * HASH_LEN and bool(_HEX.match(text))


def parse_oid(text: str) -> bytes:
    """Full 64-hex object id -> 32 bytes. Raises InvalidIdError."""
    if not isinstance(text, str) or len(text) != 2 * OID_LEN or not is_hex(text):
        raise InvalidIdError(f"Not an object id (64 lowercase hex characters): {text!r}")
    return bytes.fromhex(text)


def parse_uuid(text: str) -> bytes:
    """Canonical uuid string (8-4-4-4-12, lowercase) -> 16 bytes. Raises InvalidIdError."""
    if isinstance(text, str) and _UUID.match(text):
        return bytes.fromhex(text.replace("-", ""))
    import uuid  # only to say which error: it imports platform, a cold `redun log` need not

    try:
        uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        raise InvalidIdError(f"Not a uuid: {text!r}") from None
    raise InvalidIdError(f"Not a canonical lowercase uuid: {text!r}")


def uuid_str(raw: bytes) -> str:
    """str(uuid.UUID(bytes=raw)), without building the UUID (once per job on the run's hot path)."""
    if len(raw) != 16:
        raise ValueError(f"a uuid is 16 bytes, not {len(raw)}")
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def tmp_token() -> str:
    """32 random hex digits (a uuid4's length), to make a temporary file's name unique."""
    return os.urandom(16).hex()


def new_uuid() -> bytes:
    import uuid

    return uuid.uuid4().bytes


def check_prefix(text: str, min_len: int = 1) -> str:
    """A hex prefix for lookups: lowercase hex, at least min_len, at most 64 characters."""
    if not isinstance(text, str) or not (min_len <= len(text) <= 2 * OID_LEN) or not is_hex(text):
        raise InvalidIdError(
            f"Not a hex id prefix ({min_len}-{2 * OID_LEN} lowercase hex characters): {text!r}"
        )
    return text
