"""`[backend] db_uri`: which kind of repository a config dir names.

- unset, or `sqlite:///redun.db` (upstream's default, relative to the config dir, or the same
  file written absolutely): the local repository in the config dir itself.
- `postgresql://[user[:password]@]host[:port]/dbname` (also `postgresql+psycopg2://` and
  `postgres://`, as upstream's configs write them): a PostgreSQL repository. The user name and
  password come from the environment variables named by `db_username_env` / `db_password_env`
  (default REDUN_DB_USERNAME / REDUN_DB_PASSWORD) when set, as upstream.
- anything else: ConfigError naming the supported forms. Never a silent fallback: a team's
  config naming a database must not quietly become local files.

Pure parsing: nothing here connects to anything.
"""

import os
from typing import Optional

from ..errors import ConfigError

UPSTREAM_DEFAULT = "sqlite:///redun.db"
DEFAULT_USERNAME_ENV = "REDUN_DB_USERNAME"
DEFAULT_PASSWORD_ENV = "REDUN_DB_PASSWORD"
_PG_SCHEMES = ("postgresql", "postgresql+psycopg2", "postgresql+psycopg", "postgres")

SUPPORTED = (
    "sqlite:///redun.db (or no db_uri): the local repository in the config dir; "
    "postgresql://[user@]host[:port]/dbname (also postgresql+psycopg2://): a PostgreSQL repository"
)


class DbLocation:
    """Where a config dir's records live. kind: 'local' or 'postgresql'.
    For PostgreSQL, `conninfo` is what psycopg connects with (credentials filled in) and
    `display` the same without the password (for messages and `db info`)."""

    def __init__(self, kind: str, conninfo: Optional[str] = None, display: Optional[str] = None):
        self.kind = kind
        self.conninfo = conninfo
        self.display = display

    @property
    def is_postgresql(self) -> bool:
        return self.kind == "postgresql"

    def __repr__(self) -> str:
        return f"DbLocation({self.kind!r}, {self.display!r})"


def parse_db_uri(uri: Optional[str], config_dir: str, backend: Optional[dict] = None,
                 where: str = "redun.ini") -> DbLocation:
    """The DbLocation for `db_uri` (None: unset) of a config dir. `backend`: the rest of the
    [backend] section (db_username_env, db_password_env). `where` names the file in errors."""
    backend = backend or {}
    if uri is None or not uri.strip():
        return DbLocation("local")
    uri = uri.strip()
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "sqlite":
        return _sqlite(uri, config_dir, where)
    if scheme in _PG_SCHEMES:
        return _postgresql(uri, backend, where)
    raise ConfigError(
        f"{where}: [backend] db_uri = {_mask(uri)}: unsupported database "
        f"({'scheme ' + repr(scheme) if scheme else 'not a URI'}). Supported: {SUPPORTED}."
    )


def _sqlite(uri: str, config_dir: str, where: str) -> DbLocation:
    path = uri[len("sqlite://"):]
    if path.startswith("/"):
        path = path[1:]
    if not path or path == ":memory:":
        raise ConfigError(
            f"{where}: [backend] db_uri = {uri}: an in-memory database keeps nothing; this redun records "
            "into the repository of the config dir. Remove db_uri (or write sqlite:///redun.db), or use "
            "the Python API without a config dir for in-memory runs."
        )
    full = os.path.normpath(os.path.join(os.path.abspath(config_dir), path))
    if full != os.path.join(os.path.normpath(os.path.abspath(config_dir)), "redun.db"):
        raise ConfigError(
            f"{where}: [backend] db_uri = {uri} names {full}; this redun keeps a local repository in its "
            f"config dir ({config_dir}), not in a sqlite file elsewhere. Write db_uri = {UPSTREAM_DEFAULT} "
            "(or remove it), and choose the directory with -c DIR or [repos.NAME] config_dir."
        )
    return DbLocation("local")


def _postgresql(uri: str, backend: dict, where: str) -> DbLocation:
    from urllib.parse import quote, unquote, urlsplit, urlunsplit  # not at import: `redun log` start-up

    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{where}: [backend] db_uri = {_mask(uri)}: the port is not a number.") from None
    if not parts.hostname and not parts.path.strip("/"):
        raise ConfigError(f"{where}: [backend] db_uri = {_mask(uri)}: name a host and a database "
                          "(postgresql://host:port/dbname).")
    user = os.environ.get(backend.get("db_username_env") or DEFAULT_USERNAME_ENV) or (
        unquote(parts.username) if parts.username else None)
    password = os.environ.get(backend.get("db_password_env") or DEFAULT_PASSWORD_ENV) or (
        unquote(parts.password) if parts.password else None)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    hostport = host + (f":{port}" if port is not None else "")

    def build(with_password: bool) -> str:
        cred = ""
        if user:
            cred = quote(user, safe="")
            if password:
                cred += ":" + (quote(password, safe="") if with_password else "***")
            cred += "@"
        return urlunsplit(("postgresql", cred + hostport, parts.path, parts.query, ""))

    return DbLocation("postgresql", build(True), build(False))


def _mask(uri: str) -> str:
    """The URI without any password in it (error messages are logged)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
        if parts.password:
            netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        pass
    return uri


def location_of(config, config_dir: str) -> DbLocation:
    """The DbLocation a loaded Config names."""
    return parse_db_uri(config.get("backend", "db_uri"), config_dir, config.section("backend"),
                        where=config.path or os.path.join(config_dir, "redun.ini"))
